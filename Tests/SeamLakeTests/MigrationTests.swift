import Foundation
import SeamLake
import SeamPostgres
import DatabaseSupport
import Testing

@Suite("Migrations", .requiresPostgres)
struct MigrationTests {
    /// A migrations directory of the test's own.
    final class Scratch {
        let url: URL
        init(_ files: [String: String]) throws {
            url = FileManager.default.temporaryDirectory.appendingPathComponent("seam-migrations-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            for (name, sql) in files { try write(name, sql) }
        }
        func write(_ name: String, _ sql: String) throws {
            try sql.write(to: url.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        func migrator() throws -> Migrator { Migrator(migrations: try Migration.load(from: url)) }
        deinit { try? FileManager.default.removeItem(at: url) }
    }

    @Test("the lake migrations apply once; a second run applies nothing")
    func idempotent() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            let migrator = Migrator(migrations: try Migration.load(from: TestServer.migrationsDirectory))
            let first = try migrator.run(on: c)
            #expect(first.applied == migrator.migrations.map(\.version))
            #expect(first.alreadyApplied.isEmpty)
            let second = try migrator.run(on: c)
            #expect(second.applied.isEmpty)
            #expect(second.alreadyApplied == first.applied)
            let tables = try c.query(
                "SELECT relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE nspname = 'lake' AND relkind = 'p' ORDER BY 1"
            ).rows.map { try $0[0].decode(String.self) }
            #expect(tables == ["logs", "rejected", "spans", "tag_events"])
        }
    }

    @Test("a migration changed after it was applied stops the run")
    func checksumChangeRefused() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            let scratch = try Scratch(["0001_first.sql": "CREATE TABLE one (id int);"])
            _ = try scratch.migrator().run(on: c)
            try scratch.write("0001_first.sql", "CREATE TABLE one (id bigint);")
            try scratch.write("0002_second.sql", "CREATE TABLE two (id int);")
            let error = try #require(throws: PostgresError.self, performing: { try scratch.migrator().run(on: c) })
            #expect(error.code == .migration)
            #expect(error.message.contains("0001_first.sql changed after it was applied"))
            // Nothing after the refusal ran.
            #expect(try c.query("SELECT to_regclass('two') IS NULL").scalar(Bool.self))
        }
    }

    @Test("an applied migration whose file is missing stops the run")
    func missingFileRefused() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            let scratch = try Scratch(["0001_first.sql": "CREATE TABLE one (id int);", "0002_second.sql": "CREATE TABLE two (id int);"])
            _ = try scratch.migrator().run(on: c)
            try FileManager.default.removeItem(at: scratch.url.appendingPathComponent("0002_second.sql"))
            let error = try #require(throws: PostgresError.self, performing: { try scratch.migrator().run(on: c) })
            #expect(error.message.contains("0002_second.sql is applied to this database but its file is missing"))
        }
    }

    @Test("a failing migration leaves no trace and is not recorded")
    func failureRollsBack() async throws {
        try await TestDatabase.with { db in
            let c = try db.connect()
            let scratch = try Scratch([
                "0001_first.sql": "CREATE TABLE one (id int);",
                "0002_broken.sql": "CREATE TABLE two (id int); INSERT INTO two VALUES ('not a number');",
            ])
            let error = try #require(throws: PostgresError.self, performing: { try scratch.migrator().run(on: c) })
            #expect(error.message.contains("0002_broken.sql failed"))
            #expect(error.sqlState == "22P02")
            #expect(try c.query("SELECT to_regclass('two') IS NULL").scalar(Bool.self))
            #expect(try c.query("SELECT array_agg(version ORDER BY version)::text FROM seam_meta.schema_migrations").scalar(String.self) == "{1}")
        }
    }

    @Test("badly named migration files are refused, not skipped")
    func badNames() throws {
        let scratch = try Scratch(["0001_ok.sql": "SELECT 1;", "2_oops.sql": "SELECT 1;"])
        let error = try #require(throws: PostgresError.self, performing: { try Migration.load(from: scratch.url) })
        #expect(error.message.contains("2_oops.sql"))
        let clash = try Scratch(["0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 1;"])
        #expect(throws: PostgresError.self) { try Migration.load(from: clash.url) }
    }

    @Test("concurrent migrate runs end with one applied set")
    func concurrentRuns() async throws {
        try await TestDatabase.with { db in
            let migrations = try Migration.load(from: TestServer.migrationsDirectory)
            let reports = try await withThrowingTaskGroup(of: Migrator.Report.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        let pool = PostgresPool(configuration: .init(connectionString: db.url, maximumConnections: 1))
                        defer { Task { await pool.close() } }
                        return try await Migrator(migrations: migrations).run(on: pool)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let appliedEverywhere = reports.flatMap(\.applied).sorted()
            #expect(appliedEverywhere == migrations.map(\.version))
            let c = try db.connect()
            let history = try c.query("SELECT version FROM seam_meta.schema_migrations ORDER BY version").rows.map { try $0[0].decode(Int.self) }
            #expect(history == migrations.map(\.version))
        }
    }
}
