import Foundation
import SeamLake
import SeamPostgres
import Testing

/// The PostgreSQL server the integration tests run against: `SEAM_TEST_DATABASE_URL`,
/// which `ops/test` sets to a throwaway cluster. Without it these tests are skipped.
public enum TestServer {
    public static let url = ProcessInfo.processInfo.environment["SEAM_TEST_DATABASE_URL"]
    public static var isAvailable: Bool { url != nil }

    /// The repository root (for `migrations/`).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static var migrationsDirectory: URL { repositoryRoot.appendingPathComponent("migrations") }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only when a test server is configured.
    public static var requiresPostgres: Self {
        .enabled(if: TestServer.isAvailable, "set SEAM_TEST_DATABASE_URL (ops/test does) to run against PostgreSQL")
    }
}

/// A database of its own for one test, dropped afterwards.
public struct TestDatabase: Sendable {
    public let name: String
    public let url: String

    /// Creates an empty database and runs `body` with it; drops it afterwards.
    public static func with<T>(_ body: (TestDatabase) async throws -> T) async throws -> T {
        let admin = try #require(TestServer.url)
        let name = "seam_test_\(UUID().uuidString.prefix(8).lowercased())"
        let connection = try PostgresConnection(admin)
        try connection.executeScript("CREATE DATABASE \(identifier: name)")
        let database = TestDatabase(name: name, url: try ConnectionString.replacing(["dbname": name], in: admin))
        do {
            let value = try await body(database)
            try? connection.executeScript("DROP DATABASE \(identifier: name) WITH (FORCE)")
            return value
        } catch {
            try? connection.executeScript("DROP DATABASE \(identifier: name) WITH (FORCE)")
            throw error
        }
    }

    public func connect() throws -> PostgresConnection { try PostgresConnection(url) }
}

extension TestDatabase {
    /// A fresh database with the lake set up (migrations, roles, partitions up to
    /// `partitionDaysAhead` days ahead) and a pool on it; the pool is closed afterwards,
    /// on failure too, and the database dropped.
    public static func withLake(
        maximumConnections: Int = 3, partitionDaysAhead: Int = 2, _ body: (PostgresPool) async throws -> Void
    ) async throws {
        try await with { db in
            let pool = PostgresPool(configuration: .init(connectionString: db.url, maximumConnections: maximumConnections))
            do {
                _ = try await LakeSetup(
                    configuration: .init(migrationsDirectory: TestServer.migrationsDirectory, partitionDaysAhead: partitionDaysAhead)
                ).run(on: pool)
                try await body(pool)
            } catch {
                await pool.close()
                throw error
            }
            await pool.close()
        }
    }
}
