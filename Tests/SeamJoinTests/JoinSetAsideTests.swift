import Foundation
@testable import SeamJoin
import SeamLake
import SeamPostgres
import DatabaseSupport
import Testing

@Suite("Join poison keys", .requiresPostgres)
struct JoinSetAsideTests {
    static func span(_ pool: PostgresPool, trace: String, name: String) async throws {
        try await pool.execute(
            """
            INSERT INTO lake.spans (trace_id, span_id, name, kind, service_name, start_time, end_time, status_code)
            VALUES (decode($1, 'hex'), decode(substr(md5($1), 1, 16), 'hex'), $2, 2, 'web', now() - interval '1 minute',
                    now() - interval '59 seconds', 0)
            """, [.text(trace), .text(name)])
    }

    @Test("a key that fails to compute is set aside with its error; every other key flows; rebuild retries it")
    func setAside() async throws {
        try await TestDatabase.withLake { pool in
            try await pool.execute(
                """
                CREATE FUNCTION public.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.root_name = 'poison' THEN RAISE EXCEPTION 'poisoned trace'; END IF; RETURN NEW; END $$
                """)
            try await pool.execute("CREATE TRIGGER refuse_poison BEFORE INSERT OR UPDATE ON lake.traces FOR EACH ROW EXECUTE FUNCTION public.refuse_poison()")
            let traces = (1...40).map { String(format: "%032x", 0x5EA0_0000 + $0) }
            for (index, trace) in traces.enumerated() {
                try await Self.span(pool, trace: trace, name: index == 17 ? "poison" : "GET /")
            }
            let worker = JoinWorker(pool: pool, configuration: .init(batchItems: 16))
            let report = try await worker.drain()
            #expect(report.setAside[.trace] == 1)
            #expect(try await pool.query("SELECT count(*) FROM lake.traces").scalar(Int.self) == 39)
            let aside = try await pool.query("SELECT encode(trace_id, 'hex') AS t, error FROM seam_meta.join_set_aside")
            #expect(aside.rowCount == 1)
            #expect(try aside.first?.decode(String.self, "t") == traces[17])
            #expect(try aside.first?.decode(String.self, "error").contains("poisoned trace") == true)
            #expect(try await JoinStatus.read(from: pool).setAsideItems == 1)
            #expect(try await JoinStatus.read(from: pool).pendingItems == 0)

            // Keys that arrive later keep flowing at full claims.
            try await Self.span(pool, trace: String(format: "%032x", 0x5EA1_0000), name: "GET /later")
            _ = try await worker.drain()
            #expect(try await pool.query("SELECT count(*) FROM lake.traces").scalar(Int.self) == 40)

            try await pool.execute("DROP TRIGGER refuse_poison ON lake.traces")
            _ = try await pool.withConnection { c in
                try JoinRebuild.enqueue(from: Date().addingTimeInterval(-3600), to: Date().addingTimeInterval(3600), on: c)
            }
            #expect(try await JoinStatus.read(from: pool).setAsideItems == 0)
            _ = try await worker.drain()
            #expect(try await pool.query("SELECT count(*) FROM lake.traces WHERE root_name = 'poison'").scalar(Int.self) == 1)
        }
    }
}
