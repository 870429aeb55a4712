import ArgumentParser
import Logging
import SeamLake
import SeamPostgres
import ServiceLifecycle

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run Seam: migrate the lake, then run its services until SIGTERM or SIGINT.")

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let runtime = try Runtime(options: options)
        let settings = runtime.settings
        let logger = runtime.logger
        let database = try await runtime.openDatabase()
        let pool = PostgresPool(configuration: .init(connectionString: database.url, maximumConnections: 4))
        do {
            let report = try await runtime.setUpLake(on: pool)
            logger.info(
                "lake ready",
                metadata: [
                    "migrations_applied": "\(report.migrations.applied.count)",
                    "partitions_created": "\(report.partitionsCreated)",
                    "database": "\(settings.databaseURL == nil ? "embedded" : "external")",
                ])
            let maintenance = PartitionMaintenance(
                pool: pool,
                configuration: .init(
                    daysAhead: settings.partitionDaysAhead, retentionDays: settings.retentionDays,
                    interval: .seconds(settings.maintenanceIntervalSeconds)))
            let group = ServiceGroup(
                configuration: .init(
                    services: [.init(service: maintenance)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger))
            logger.info("seam serving; stop with SIGTERM or SIGINT")
            try await group.run()
        } catch {
            logger.error("seam serve failed", metadata: ["error": "\(error)"])
            await pool.close()
            try? await database.startedCluster?.stopAsync()
            throw ExitCode.failure
        }
        await pool.close()
        try await database.startedCluster?.stopAsync()
        logger.info("seam stopped")
    }
}
