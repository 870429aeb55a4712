import Foundation
import Logging
import SeamLake
import SeamPostgres
import DatabaseSupport
import Testing

@Suite("Lake schema", .requiresPostgres)
struct LakeSchemaTests {
    static let day: TimeInterval = 86_400

    /// A fresh database with the lake set up and `daysAhead` days of partitions.
    func withLake(daysAhead: Int = 7, _ body: (PostgresConnection, TestDatabase) async throws -> Void) async throws {
        try await TestDatabase.with { db in
            let pool = PostgresPool(configuration: .init(connectionString: db.url, maximumConnections: 1))
            _ = try await LakeSetup(
                configuration: .init(migrationsDirectory: TestServer.migrationsDirectory, partitionDaysAhead: daysAhead)
            ).run(on: pool)
            await pool.close()
            try await body(try db.connect(), db)
        }
    }

    static func dayStamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd"
        return formatter.string(from: date)
    }

    @Test("partitions exist for today and the configured days ahead, for every raw table")
    func partitionsAhead() async throws {
        try await withLake(daysAhead: 3) { c, _ in
            let now: Date = try c.query("SELECT now()").scalar()
            for table in ["spans", "logs", "tag_events", "rejected"] {
                let partitions = Set(try LakePartitions.list(on: c, table: table))
                for offset in 0...3 {
                    let name = "\(table)_p\(Self.dayStamp(now.addingTimeInterval(Double(offset) * Self.day)))"
                    #expect(partitions.contains(name), "missing \(name)")
                }
                #expect(!partitions.contains("\(table)_p\(Self.dayStamp(now.addingTimeInterval(5 * Self.day)))"))
            }
            // Rows for today land; rows for a day without a partition are refused, not lost silently.
            try c.execute(
                "INSERT INTO lake.spans (trace_id, span_id, name, start_time, end_time) VALUES ($1, $2, 'GET /', now(), now())",
                [.bytea(Array(repeating: 1, count: 16)), .bytea(Array(repeating: 2, count: 8))])
            let far = try #require(throws: PostgresError.self) {
                try c.execute(
                    "INSERT INTO lake.spans (trace_id, span_id, name, start_time, end_time) VALUES ($1, $2, 'x', $3, $3)",
                    [.bytea(Array(repeating: 1, count: 16)), .bytea(Array(repeating: 3, count: 8)),
                     .timestamptz(now.addingTimeInterval(60 * Self.day))])
            }
            #expect(far.sqlState == "23514")
        }
    }

    @Test("a span or tag event stored twice is one row")
    func naturalKeys() async throws {
        try await withLake { c, _ in
            let insert: StaticString = """
                INSERT INTO lake.spans (trace_id, span_id, name, start_time, end_time) VALUES ($1, $2, 'GET /', $3, $3)
                ON CONFLICT DO NOTHING
                """
            let start = Date()
            let parameters: [PostgresValue] = [.bytea(Array(repeating: 9, count: 16)), .bytea(Array(repeating: 8, count: 8)), .timestamptz(start)]
            #expect(try c.execute(insert, parameters) == 1)
            #expect(try c.execute(insert, parameters) == 0)
            let wrongLength = try #require(throws: PostgresError.self) {
                try c.execute(insert, [.bytea([1, 2, 3]), .bytea(Array(repeating: 8, count: 8)), .timestamptz(start)])
            }
            #expect(wrongLength.sqlState == "23514")
            let event = UUID()
            let register: StaticString = "INSERT INTO lake.tag_event_ids (event_id, occurred_at) VALUES ($1, now()) ON CONFLICT DO NOTHING"
            #expect(try c.execute(register, [.uuid(event)]) == 1)
            #expect(try c.execute(register, [.uuid(event)]) == 0)
        }
    }

    @Test("retention drops only partitions older than the setting")
    func retention() async throws {
        try await withLake(daysAhead: 2) { c, _ in
            let today = Date(timeIntervalSince1970: 1_763_726_400)  // 2025-11-21 12:00 UTC
            try LakePartitions.ensure(on: c, covering: today.addingTimeInterval(-10 * Self.day), today.addingTimeInterval(2 * Self.day))
            let dropped = try LakePartitions.dropExpired(on: c, retentionDays: 5, today: today)
            let expectedDropped = (6...10).flatMap { back in
                ["logs", "rejected", "spans", "tag_events"].map { "\($0)_p\(Self.dayStamp(today.addingTimeInterval(-Double(back) * Self.day)))" }
            }
            #expect(Set(dropped) == Set(expectedDropped))
            let remaining = try LakePartitions.list(on: c, table: "spans")
            #expect(remaining.contains("spans_p20251116"))  // exactly 5 days back: kept
            #expect(!remaining.contains("spans_p20251115"))
            #expect(remaining.contains("spans_p20251121"))
            #expect(try LakePartitions.dropExpired(on: c, retentionDays: 5, today: today).isEmpty)
            #expect(try LakePartitions.dropExpired(on: c, retentionDays: 0, today: today.addingTimeInterval(400 * Self.day)).isEmpty)
        }
    }

    @Test("lake_reader can SELECT and cannot INSERT")
    func readerRole() async throws {
        try await withLake { c, _ in
            try c.executeScript("SET ROLE lake_reader")
            #expect(try c.query("SELECT count(*) FROM lake.spans").scalar(Int.self) == 0)
            #expect(try c.query("SELECT count(*) FROM lake.tag_events").scalar(Int.self) == 0)
            let denied = try #require(throws: PostgresError.self) {
                try c.execute(
                    "INSERT INTO lake.tag_event_ids (event_id, occurred_at) VALUES ($1, now())", [.uuid(UUID())])
            }
            #expect(denied.sqlState == "42501")
            try c.executeScript("RESET ROLE; SET ROLE lake_writer")
            #expect(try c.execute("INSERT INTO lake.tag_event_ids (event_id, occurred_at) VALUES ($1, now())", [.uuid(UUID())]) == 1)
        }
    }

    @Test("without CREATEROLE, role setup reports the SQL to run instead of failing")
    func rolesWithoutPrivilege() async throws {
        try await withLake { c, db in
            let login = "seam_limited_\(UUID().uuidString.prefix(6).lowercased())"
            try c.executeScript("CREATE ROLE \(identifier: login) LOGIN NOCREATEROLE")
            defer { try? c.executeScript("DROP OWNED BY \(identifier: login); DROP ROLE \(identifier: login)") }
            let limited = try PostgresConnection(try ConnectionString.replacing(["user": login], in: db.url))
            let names = LakeRoles.Names(reader: "\(login)_reader", writer: "\(login)_writer")
            let report = try LakeRoles.ensure(on: limited, names: names, logger: Logger(label: "test"))
            #expect(!report.isComplete)
            #expect(report.pendingSQL.contains("CREATE ROLE \"\(names.reader)\" NOLOGIN;"))
            #expect(report.pendingSQL.contains { $0.hasPrefix("GRANT SELECT ON ALL TABLES IN SCHEMA lake TO \"\(names.reader)\"") })
        }
    }

    @Test("every lake table and column has a comment")
    func everythingCommented() async throws {
        try await withLake { c, _ in
            let uncommented = try c.query(
                """
                SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'lake' AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
                  AND obj_description(c.oid, 'pg_class') IS NULL
                UNION ALL
                SELECT c.relname || '.' || a.attname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                WHERE n.nspname = 'lake' AND c.relkind IN ('r', 'p', 'v') AND NOT c.relispartition
                  AND col_description(c.oid, a.attnum) IS NULL
                """
            ).rows.map { try $0[0].decode(String.self) }
            #expect(uncommented.isEmpty, "uncommented: \(uncommented)")
        }
    }
}
