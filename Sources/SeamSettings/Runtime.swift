import Foundation
import Logging
import SeamLake
import SeamPostgres

/// What a command needs at run time: settings, a logger and the database it talks to.
public struct Runtime {
    public let settings: Settings
    public let logger: Logger

    public init(options: GlobalOptions) throws {
        settings = try Settings.resolve(options: options)
        let level = settings.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        logger = Logger(label: "seam")
    }

    /// The embedded cluster under the home directory.
    public var embeddedCluster: EmbeddedCluster {
        EmbeddedCluster(
            configuration: .init(home: settings.homeURL, binDirectory: settings.pgBinDirectory),
            logger: Logger(label: "seam.db"))
    }

    /// The database to use, starting the embedded cluster when no URL is configured.
    /// `startedCluster` is set when this call started it (the caller stops it at the end).
    public func openDatabase() async throws -> (url: String, startedCluster: EmbeddedCluster?) {
        if let url = settings.databaseURL { return (url, nil) }
        let cluster = embeddedCluster
        let started = try await runBlocking("seam-embedded") { try cluster.start() }
        return (cluster.url, started ? cluster : nil)
    }

    /// Runs `body` with the database's URL (starting the embedded cluster when no URL is
    /// configured) and stops the cluster afterwards if this call started it, on failure too.
    public func withDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        let database = try await openDatabase()
        let value: T
        do {
            value = try await body(database.url)
        } catch {
            try? await database.startedCluster?.stopAsync()
            throw error
        }
        try await database.startedCluster?.stopAsync()
        return value
    }

    /// Runs `body` with a pool on the database after setting the lake up (migrations,
    /// roles, partitions); closes the pool and stops a cluster it started afterwards.
    public func withLake<T>(
        maximumConnections: Int = 1, _ body: (PostgresPool, LakeSetup.Report) async throws -> T
    ) async throws -> T {
        try await withDatabase { url in
            let pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: maximumConnections))
            do {
                let value = try await body(pool, try await setUpLake(on: pool))
                await pool.close()
                return value
            } catch {
                await pool.close()
                throw error
            }
        }
    }

    /// Migrations, roles and partitions, as `seam migrate` and `seam serve` do on start.
    public func setUpLake(on pool: PostgresPool) async throws -> LakeSetup.Report {
        let directory = try LakeMigrations.locate(explicit: settings.migrationsDirectory)
        let setup = LakeSetup(
            configuration: .init(migrationsDirectory: directory, partitionDaysAhead: settings.maintenance.daysAhead),
            logger: Logger(label: "seam.lake"))
        return try await setup.run(on: pool)
    }

    /// A fresh database with the lake for a benchmark phase, dropped afterwards.
    public func withBenchDatabase<T>(adminURL: String, _ body: (String) async throws -> T) async throws -> T {
        let name = "seam_bench_\(UUID().uuidString.prefix(8).lowercased())"
        let admin = PostgresPool(configuration: .init(connectionString: adminURL, maximumConnections: 1))
        try await admin.withConnection { c in _ = try c.executeScript("CREATE DATABASE \(identifier: name)") }
        let url = try ConnectionString.replacing(["dbname": name], in: adminURL)
        do {
            let pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1))
            _ = try await setUpLake(on: pool)
            await pool.close()
            let value = try await body(url)
            try await admin.withConnection { c in _ = try c.executeScript("DROP DATABASE \(identifier: name) WITH (FORCE)") }
            await admin.close()
            return value
        } catch {
            _ = try? await admin.withConnection { try $0.executeScript("DROP DATABASE \(identifier: name) WITH (FORCE)") }
            await admin.close()
            throw error
        }
    }
}

extension EmbeddedCluster {
    /// Stops the cluster from an async context.
    public func stopAsync() async throws {
        let cluster = self
        try await runBlocking("seam-embedded") { try cluster.stop() }
    }
}
