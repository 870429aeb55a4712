import SeamSettings
import ArgumentParser
import Logging
import Metrics
import Prometheus
import SeamAPI
import SeamETL
import SeamIngest
import SeamJoin
import SeamLake
import SeamModel
import SeamPostgres
import SeamSpool
import ServiceLifecycle

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run Seam: migrate the lake, then run its services until SIGTERM or SIGINT.")

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let runtime = try Runtime(options: options)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let settings = runtime.settings
        let logger = runtime.logger
        let etlConfiguration = try settings.etlConfiguration()
        let database = try await runtime.openDatabase()
        let pool = PostgresPool(configuration: .init(connectionString: database.url, maximumConnections: 4))
        let loaderPool = PostgresPool(configuration: .init(connectionString: database.url, maximumConnections: 1, name: "seam-loader"))
        // One connection per join worker: the workers split the queue's buckets between them.
        let joinPools = (0..<settings.joinWorkers).map {
            PostgresPool(configuration: .init(connectionString: database.url, maximumConnections: 1, name: "seam-join\($0)"))
        }
        // The ETL runs one job at a time on a connection of its own (jobs hold their lock on it).
        let etlPool = PostgresPool(configuration: .init(connectionString: database.url, maximumConnections: 1, name: "seam-etl"))
        let readAPI = ReadAPI(
            configuration: .init(
                tokens: settings.apiTokens, segments: etlConfiguration.segments.map { ($0.name, $0.description, $0.predicate) }),
            pool: pool)
        var spool: Spool?
        do {
            let report = try await runtime.setUpLake(on: pool)
            logger.info(
                "lake ready",
                metadata: [
                    "migrations_applied": "\(report.migrations.applied.count)",
                    "partitions_created": "\(report.partitionsCreated)",
                    "database": "\(settings.databaseURL == nil ? "embedded" : "external")",
                ])
            // Services start in this order and shut down in reverse: the server stops
            // accepting and finishes its requests, then the loader drains the spool, then
            // maintenance stops.
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            if settings.roles.contains(.maintenance) {
                let maintenance = PartitionMaintenance(
                    pool: pool,
                    configuration: .init(
                        daysAhead: settings.partitionDaysAhead, retentionDays: settings.retentionDays,
                        interval: .seconds(settings.maintenanceIntervalSeconds)))
                services.append(.init(service: maintenance))
            }
            if settings.roles.contains(.join) {
                for joinPool in joinPools {
                    services.append(.init(service: JoinWorker(pool: joinPool, configuration: settings.joinConfiguration)))
                }
            }
            if settings.roles.contains(.etl) {
                try await ETLCommand.checkSegments(etlConfiguration, pool: pool)
                services.append(
                    .init(
                        service: ETLScheduler(
                            jobs: makeJobs(etlConfiguration), configuration: etlConfiguration,
                            runner: JobRunner(pool: etlPool, lookbackHours: etlConfiguration.lookbackHours))))
            }
            if settings.roles.contains(.api), !settings.roles.contains(.ingest) {
                guard let address = IngestConfiguration.parseAddress(settings.httpAddress) else {
                    throw SettingsError("http.addr must be host:port, got \(settings.httpAddress)")
                }
                services.append(
                    .init(
                        service: readAPI.makeApplication(
                            host: address.host, port: address.port, logger: Logger(label: "seam.api"), readOrigins: settings.apiAllowedOrigins
                        ) { port in
                            logger.info("read API listening", metadata: ["address": "\(address.host):\(port)"])
                        }))
            }
            if settings.roles.contains(.ingest) {
                guard let address = IngestConfiguration.parseAddress(settings.httpAddress) else {
                    throw SettingsError("http.addr must be host:port, got \(settings.httpAddress)")
                }
                let spoolConfiguration = Spool.Configuration(
                    directory: settings.spoolURL, segmentBytes: settings.spoolSegmentBytes, maximumBytes: settings.spoolMaximumBytes)
                let openedSpool = try await runBlocking("seam-spool-open") { try Spool(configuration: spoolConfiguration) }
                spool = openedSpool
                IngestMetrics.global.tornTail(bytes: openedSpool.recovery.tornTailBytes)
                if settings.loaderEnabled {
                    services.append(.init(service: SpoolLoader(spool: openedSpool, pool: loaderPool)))
                }
                var ingestConfiguration = settings.http
                ingestConfiguration.host = address.host
                ingestConfiguration.port = address.port
                ingestConfiguration.maximumBodyBytes = settings.maximumBodyBytes
                ingestConfiguration.tokens = settings.ingestTokens
                let ingest = IngestServer(
                    configuration: ingestConfiguration,
                    spool: openedSpool, pool: pool,
                    events: TagEventDecoder(
                        configuration: .init(maximumAge: Double(settings.acceptedAgeDays) * 86_400)),
                    logger: Logger(label: "seam.ingest"),
                    metricsExposition: { registry.emitToBuffer() },
                    readinessDetail: [
                        // Read from the queue in PostgreSQL: right whichever process runs the join.
                        "join": {
                            guard let status = try? await JoinStatus.read(from: pool) else { return [:] }
                            return ["lag_seconds": status.lagSeconds, "pending_items": Double(status.pendingItems)]
                        }
                    ], readOrigins: settings.apiAllowedOrigins)
                let apiRoutes = settings.roles.contains(.api) ? readAPI : nil
                services.append(
                    .init(
                        service: ingest.makeApplication(
                            onListening: { port in logger.info("listening", metadata: ["address": "\(address.host):\(port)"]) },
                            additionalRoutes: { router in apiRoutes?.addRoutes(to: router) })))
            }
            let group = ServiceGroup(
                configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            logger.info(
                "seam serving; stop with SIGTERM or SIGINT",
                metadata: ["roles": "\(settings.roles.map(\.rawValue).sorted().joined(separator: ","))"])
            try await group.run()
        } catch {
            logger.error("seam serve failed", metadata: ["error": "\(error)"])
            await spool?.close()
            await loaderPool.close()
            for joinPool in joinPools { await joinPool.close() }
            await etlPool.close()
            await pool.close()
            try? await database.startedCluster?.stopAsync()
            throw ExitCode.failure
        }
        await spool?.close()
        await loaderPool.close()
        for joinPool in joinPools { await joinPool.close() }
        await etlPool.close()
        await pool.close()
        try await database.startedCluster?.stopAsync()
        logger.info("seam stopped")
    }
}
