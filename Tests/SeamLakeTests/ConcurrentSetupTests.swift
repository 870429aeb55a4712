import Foundation
import SeamLake
import SeamPostgres
import DatabaseSupport
import Testing

@Suite("Many nodes, one database", .requiresPostgres)
struct ConcurrentSetupTests {
    @Test("four set-ups started at once on a fresh database all succeed, five times over")
    func fourAtOnce() async throws {
        for _ in 0..<5 {
            try await TestDatabase.with { db in
                let pools = (0..<4).map { _ in PostgresPool(configuration: .init(connectionString: db.url, maximumConnections: 1)) }
                let setup = LakeSetup(configuration: .init(migrationsDirectory: TestServer.migrationsDirectory))
                let outcomes = await withTaskGroup(of: String?.self) { group in
                    for pool in pools {
                        group.addTask {
                            do {
                                _ = try await setup.run(on: pool)
                                return nil
                            } catch {
                                return "\(error)"
                            }
                        }
                    }
                    var failures: [String] = []
                    for await outcome in group { if let outcome { failures.append(outcome) } }
                    return failures
                }
                for pool in pools { await pool.close() }
                #expect(outcomes.isEmpty, "\(outcomes)")
            }
        }
    }

    @Test("lake_reader may not take the advisory locks the loader, join and ETL wait on")
    func readerCannotLock() async throws {
        try await TestDatabase.withLake { pool in
            try await pool.withConnection { c in
                try c.executeScript("SET ROLE lake_reader")
                defer { _ = try? c.executeScript("RESET ROLE") }
                for statement in ["SELECT pg_try_advisory_lock(1)", "SELECT pg_advisory_lock(1, 2)", "SELECT pg_try_advisory_xact_lock(5)"] {
                    do {
                        _ = try c.query(SQLQuery(statement))
                        Issue.record("lake_reader ran \(statement)")
                    } catch let error as PostgresError {
                        #expect(error.sqlState == "42501", "\(statement): \(error)")
                    }
                }
                try c.executeScript("RESET ROLE; SET ROLE lake_writer")
                #expect(try c.query("SELECT pg_try_advisory_lock(1)").scalar(Bool.self))
            }
        }
    }
}

@Suite("Partitions for far-apart days", .requiresPostgres)
struct FarApartPartitionTests {
    @Test("rows on two days five years apart create those two days' partitions, not the 1,826 between")
    func onlyTheDays() async throws {
        try await TestDatabase.withLake { pool in
            try await pool.withConnection { c in
                let before = try LakePartitions.list(on: c, table: "tag_events").count
                let today = LakePartitions.day(micros: Int64(Date().timeIntervalSince1970 * 1_000_000))
                try LakePartitions.ensure(on: c, days: [today - 1826, today + 400])
                #expect(try LakePartitions.list(on: c, table: "tag_events").count == before + 2)
            }
        }
    }
}
