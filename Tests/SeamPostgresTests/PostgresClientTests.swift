import Foundation
import DatabaseSupport
import Testing

@testable import SeamPostgres

@Suite("PostgreSQL client", .requiresPostgres)
struct PostgresClientTests {
    @Test("every supported parameter type round-trips, NULL included")
    func parameterRoundTrip() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            let row = try #require(
                try c.query(
                    "SELECT $1::bool, $2::int2, $3::int4, $4::int8, $5::int8, $6::float8, $7::text, $8::bytea, $9::timestamptz, $10::uuid, $11::jsonb",
                    [
                        .bool(true), .int16(-32768), .int32(2_147_483_647), .int64(Int64.min), .int64(Int64.max),
                        .float64(-1.2345678901234567e-300), .text("grüße, 世界 👋🏽 e\u{301}"), .bytea(Array(0...255)),
                        .timestamptz(Date(timeIntervalSince1970: 1_763_700_000.123456)), .uuid(UUID(uuidString: "6F9619FF-8B86-D011-B42D-00CF4FC964FF")!),
                        .jsonb(#"{"a": [1, 2.5, null, "ü"], "b": {"c": true}}"#),
                    ]
                ).first)
            #expect(try row[0].decode(Bool.self) == true)
            #expect(try row[1].decode(Int16.self) == -32768)
            #expect(try row[2].decode(Int32.self) == 2_147_483_647)
            #expect(try row[3].decode(Int64.self) == Int64.min)
            #expect(try row[4].decode(Int64.self) == Int64.max)
            #expect(try row[5].decode(Double.self) == -1.2345678901234567e-300)
            #expect(try row[6].decode(String.self) == "grüße, 世界 👋🏽 e\u{301}")
            #expect(try row[7].decode([UInt8].self) == Array(0...255))
            let date = try row[8].decode(Date.self)
            #expect(abs(date.timeIntervalSince1970 - 1_763_700_000.123456) < 0.000_001)
            #expect(try row[9].decode(UUID.self) == UUID(uuidString: "6F9619FF-8B86-D011-B42D-00CF4FC964FF"))
            let json = try row[10].decode(String.self)
            let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            #expect((parsed?["b"] as? [String: Bool])?["c"] == true)
            #expect(((parsed?["a"] as? [Any])?[3] as? String) == "ü")

            // NULL of every type decodes as nil, and as an error when a value is required.
            let nulls = try #require(
                try c.query(
                    "SELECT $1::bool, $2::int8, $3::float8, $4::text, $5::bytea, $6::timestamptz, $7::uuid, $8::jsonb",
                    Array(repeating: .null, count: 8)
                ).first)
            #expect(try nulls[0].decode(Bool?.self) == nil)
            #expect(try nulls[1].decode(Int?.self) == nil)
            #expect(try nulls[2].decode(Double?.self) == nil)
            #expect(try nulls[3].decode(String?.self) == nil)
            #expect(try nulls[4].decode([UInt8]?.self) == nil)
            #expect(try nulls[5].decode(Date?.self) == nil)
            #expect(try nulls[6].decode(UUID?.self) == nil)
            #expect(try nulls[7].decode(String?.self) == nil)
            #expect(throws: PostgresError.self) { try nulls[1].decode(Int.self) }
        }
    }

    @Test("special floats, dates before 2000 and timestamps with offsets decode exactly")
    func edgeValues() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            let floats = try #require(
                try c.query("SELECT $1::float8, $2::float8, $3::float8", [.float64(.infinity), .float64(-.infinity), .float64(.nan)]).first)
            #expect(try floats[0].decode(Double.self) == .infinity)
            #expect(try floats[1].decode(Double.self) == -.infinity)
            #expect(try floats[2].decode(Double.self).isNaN)
            let old = Date(timeIntervalSince1970: -86_400 * 365 * 40 + 0.5)  // 1930
            let back: Date = try c.query("SELECT $1::timestamptz", [.timestamptz(old)]).scalar()
            #expect(abs(back.timeIntervalSince1970 - old.timeIntervalSince1970) < 0.000_001)
            // Decoding must honour whatever offset the server prints.
            try c.executeScript("SET TimeZone TO 'Asia/Kolkata'")
            let shifted: Date = try c.query("SELECT '2025-11-21 12:00:00+00'::timestamptz").scalar()
            #expect(shifted == Date(timeIntervalSince1970: 1_763_726_400))
            let plain: Date = try c.query("SELECT '2025-11-21'::date").scalar()
            #expect(plain == Date(timeIntervalSince1970: 1_763_683_200))
        }
    }

    @Test("large values travel intact both ways")
    func largeValues() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            let text = String(repeating: "Seam ✓ ", count: 1_000_000)  // ~9 MB of UTF-8
            let bytes = (0..<5_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try c.executeScript("CREATE TABLE big (t text, b bytea)")
            try c.execute("INSERT INTO big VALUES ($1, $2)", [.text(text), .bytea(bytes)])
            let row = try #require(try c.query("SELECT t, b, length(t), length(b) FROM big").first)
            #expect(try row[2].decode(Int.self) == text.count)
            #expect(try row[3].decode(Int.self) == bytes.count)
            #expect(try row[0].decode(String.self) == text)
            #expect(try row[1].decode([UInt8].self) == bytes)
        }
    }

    @Test("COPY of 200,000 rows stores every row exactly")
    func copyTwoHundredThousandRows() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            try c.executeScript(
                """
                CREATE TABLE copied (id int8 PRIMARY KEY, name text, score float8, at timestamptz, raw bytea,
                                     tag uuid, doc jsonb, flag bool, small int4, note text)
                """)
            let n = 200_000
            let base = Date(timeIntervalSince1970: 1_763_700_000)
            func tag(_ i: Int) -> UUID {
                UUID(uuidString: String(format: "00000000-0000-4000-8000-%012x", i))!
            }
            let copied = try c.copyIn("COPY copied FROM STDIN (FORMAT binary)") { w in
                for i in 0..<n {
                    try w.beginRow(fieldCount: 10)
                    w.append(Int64(i))
                    w.append("name-\(i)-ü")
                    w.append(Double(i) * 0.5)
                    w.append(base.addingTimeInterval(Double(i) / 1000))
                    w.append(bytes: [UInt8(i & 0xff), UInt8((i >> 8) & 0xff)])
                    w.append(tag(i))
                    w.append(jsonb: #"{"i": \#(i)}"#)
                    w.append(i % 2 == 0)
                    w.append(Int32(i % 1000))
                    w.append(i % 10 == 0 ? nil : "note")
                }
            }
            #expect(copied == n)
            let totals = try #require(
                try c.query(
                    """
                    SELECT count(*), sum(id), sum(score), count(*) FILTER (WHERE flag), count(*) FILTER (WHERE note IS NULL),
                           sum((doc->>'i')::int8), sum(small), count(DISTINCT tag), max(at) - min(at) = interval '199.999 seconds'
                    FROM copied
                    """
                ).first)
            #expect(try totals[0].decode(Int.self) == n)
            #expect(try totals[1].decode(Int.self) == n * (n - 1) / 2)
            #expect(try totals[2].decode(Double.self) == Double(n * (n - 1) / 2) * 0.5)
            #expect(try totals[3].decode(Int.self) == n / 2)
            #expect(try totals[4].decode(Int.self) == n / 10)
            #expect(try totals[5].decode(Int.self) == n * (n - 1) / 2)
            #expect(try totals[6].decode(Int.self) == (0..<n).reduce(0) { $0 + $1 % 1000 })
            #expect(try totals[7].decode(Int.self) == n)
            #expect(try totals[8].decode(Bool.self))
            for i in [0, 1, 65_537, 123_456, n - 1] {
                let row = try #require(try c.query("SELECT name, at, raw, tag, note FROM copied WHERE id = $1", [.int64(Int64(i))]).first)
                #expect(try row[0].decode(String.self) == "name-\(i)-ü")
                #expect(abs(try row[1].decode(Date.self).timeIntervalSince(base.addingTimeInterval(Double(i) / 1000))) < 0.000_001)
                #expect(try row[2].decode([UInt8].self) == [UInt8(i & 0xff), UInt8((i >> 8) & 0xff)])
                #expect(try row[3].decode(UUID.self) == tag(i))
                #expect(try row[4].decode(String?.self) == (i % 10 == 0 ? nil : "note"))
            }
        }
    }

    @Test("a failing COPY stores nothing and leaves the connection usable")
    func copyFailureIsAtomic() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            try c.executeScript("CREATE TABLE k (id int8 PRIMARY KEY)")
            #expect {
                try c.copyIn("COPY k FROM STDIN (FORMAT binary)") { w in
                    for i in [1, 2, 2] as [Int64] {
                        try w.beginRow(fieldCount: 1)
                        w.append(i)
                    }
                }
            } throws: { ($0 as? PostgresError)?.sqlState == "23505" }
            struct Stop: Error {}
            #expect(throws: Stop.self) {
                try c.copyIn("COPY k FROM STDIN (FORMAT binary)") { w in
                    try w.beginRow(fieldCount: 1)
                    w.append(Int64(7))
                    throw Stop()
                }
            }
            #expect(try c.query("SELECT count(*) FROM k").scalar(Int.self) == 0)
        }
    }

    @Test("server errors carry SQLSTATE, message, detail and constraint")
    func sqlStates() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            try c.executeScript("CREATE TABLE u (id int PRIMARY KEY)")
            try c.execute("INSERT INTO u VALUES ($1)", [.int32(1)])
            let unique = try #require(
                throws: PostgresError.self, performing: { try c.execute("INSERT INTO u VALUES ($1)", [.int32(1)]) })
            #expect(unique.sqlState == "23505")
            #expect(unique.isUniqueViolation)
            #expect(unique.code == .server)
            #expect(unique.constraint == "u_pkey")
            #expect(unique.detail?.contains("(id)=(1)") == true)
            let syntax = try #require(throws: PostgresError.self, performing: { try c.query("SELEC 1") })
            #expect(syntax.sqlState == "42601")
            #expect(syntax.message.contains("syntax error"))
            // The connection stays usable after errors.
            #expect(try c.query("SELECT 41 + 1").scalar(Int.self) == 42)
        }
    }

    @Test("transactions commit, and roll back when the body throws")
    func transactions() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            try c.executeScript("CREATE TABLE t (v int)")
            _ = try c.transaction { try $0.execute("INSERT INTO t VALUES (1)") }
            struct Abort: Error {}
            #expect(throws: Abort.self) {
                _ = try c.transaction { c in
                    try c.execute("INSERT INTO t VALUES (2)")
                    throw Abort()
                }
            }
            #expect(try c.query("SELECT array_agg(v)::text FROM t").scalar(String.self) == "{1}")
        }
    }

    @Test("a lost connection is reported, and the next use reconnects")
    func reconnectAfterTermination() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            let pid = c.backendPID
            let admin = try db.connect()
            try admin.query("SELECT pg_terminate_backend($1)", [.int32(pid)])
            let lost = try #require(throws: PostgresError.self, performing: { try c.query("SELECT 1") })
            #expect(lost.code == .connectionLost)
            #expect(try c.query("SELECT 2").scalar(Int.self) == 2)
            #expect(c.backendPID != pid)
            // Session settings are restored on the new connection.
            #expect(try c.query("SHOW TimeZone").scalar(String.self) == "UTC")
        }
    }

    @Test("the pool bounds connections, serves concurrent callers and survives a lost connection")
    func pool() async throws {
        try await TestDatabase.with { db in
            let pool = PostgresPool(configuration: .init(connectionString: db.url, maximumConnections: 3))
            let pids = try await withThrowingTaskGroup(of: Int32.self) { group in
                for _ in 0..<24 {
                    group.addTask {
                        try await pool.withConnection { c in
                            try c.query("SELECT pg_sleep(0.02)")
                            return c.backendPID
                        }
                    }
                }
                return try await group.reduce(into: Set<Int32>()) { $0.insert($1) }
            }
            #expect(pids.count <= 3 && pids.count >= 1)
            let admin = try db.connect()
            for pid in pids { try admin.query("SELECT pg_terminate_backend($1)", [.int32(pid)]) }
            // Each broken connection fails once and then reconnects.
            var answers = 0
            for _ in 0..<(pids.count * 2 + 1) {
                if let value = try? await pool.query("SELECT 7").scalar(Int.self), value == 7 { answers += 1 }
            }
            #expect(answers >= pids.count + 1)
            #expect(try await pool.query("SELECT 8").scalar(Int.self) == 8)
            await pool.close()
            await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        }
    }

    @Test("connection strings are parsed and rewritten by libpq's rules")
    func connectionStrings() throws {
        let values = try ConnectionString.parse("postgresql://alice:secret@db.example:6432/lake?sslmode=require")
        #expect(values["host"] == "db.example")
        #expect(values["port"] == "6432")
        #expect(values["dbname"] == "lake")
        #expect(values["sslmode"] == "require")
        let rewritten = try ConnectionString.replacing(["dbname": "other db"], in: "host=/tmp user=x dbname=y")
        #expect(try ConnectionString.parse(rewritten)["dbname"] == "other db")
        #expect(!ConnectionString.redacted("postgresql://alice:secret@db/x").contains("secret"))
        #expect(throws: PostgresError.self) { try ConnectionString.parse("host=x nonsense") }
    }

    @Test("connection failures name the problem")
    func connectionFailure() throws {
        let error = try #require(
            throws: PostgresError.self,
            performing: { try PostgresConnection("host=/nonexistent-seam-dir port=5999 dbname=x connect_timeout=2") })
        #expect(error.code == .connectionFailed)
        #expect(error.message.contains("/nonexistent-seam-dir"))
    }
}

@Suite("PostgreSQL pool", .requiresPostgres)
struct PostgresPoolTests {
    @Test("a caller waiting for a connection can be cancelled; the pool carries on")
    func cancelWaiting() async throws {
        try await TestDatabase.with { db in
            let pool = PostgresPool(configuration: .init(connectionString: db.url, maximumConnections: 1))
            let holder = Task { try await pool.withConnection { try $0.query("SELECT pg_sleep(0.5)") } }
            try await Task.sleep(for: .milliseconds(100))
            let waiter = Task { try await pool.query("SELECT 1").scalar(Int.self) }
            try await Task.sleep(for: .milliseconds(50))
            waiter.cancel()
            await #expect(throws: CancellationError.self) { try await waiter.value }
            _ = try await holder.value
            #expect(try await pool.query("SELECT 2").scalar(Int.self) == 2)
            await pool.close()
        }
    }

    @Test("pools bound connection attempts and name their connections unless the connection string says otherwise")
    func connectTimeout() throws {
        let pool = PostgresPool.Configuration(connectionString: "postgresql://db.example/lake", name: "seam-join0")
        #expect(try ConnectionString.parse(pool.effectiveConnectionString)["connect_timeout"] == "10")
        #expect(try ConnectionString.parse(pool.effectiveConnectionString)["application_name"] == "seam-join0")
        let own = PostgresPool.Configuration(connectionString: "host=x connect_timeout=3 application_name=mine")
        #expect(try ConnectionString.parse(own.effectiveConnectionString)["connect_timeout"] == "3")
        #expect(try ConnectionString.parse(own.effectiveConnectionString)["application_name"] == "mine")
    }
}
