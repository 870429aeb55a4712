import ArgumentParser
import Logging
import Metrics
import Prometheus
import SeamAPI
import SeamETL
import SeamIngest
import SeamGRPC
import SeamJoin
import SeamLake
import SeamLoader
import SeamModel
import SeamPostgres
import SeamSettings
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
        let logger = runtime.logger
        let database = try await runtime.openDatabase()
        let resources = Resources(url: database.url, joinWorkers: runtime.settings.joinWorkers)
        var failure: (any Error)?
        do {
            let services = try await Wiring(runtime: runtime, resources: resources, registry: registry).services()
            let group = ServiceGroup(
                configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            logger.info(
                "seam serving; stop with SIGTERM or SIGINT",
                metadata: ["roles": "\(runtime.settings.roles.map(\.rawValue).sorted().joined(separator: ","))"])
            try await group.run()
        } catch {
            failure = error
        }
        // One clean-up, whichever way the services ended.
        await resources.close()
        do {
            try await database.startedCluster?.stopAsync()
        } catch {
            failure = failure ?? error
        }
        if let failure {
            logger.error("seam serve failed", metadata: ["error": "\(failure)"])
            throw ExitCode.failure
        }
        logger.info("seam stopped")
    }
}

/// The connections and the spool `seam serve` opens, closed once at the end.
final class Resources: @unchecked Sendable {
    /// The API, readiness and maintenance pool.
    let pool: PostgresPool
    /// The loader's connection: loading is sequential by design.
    let loaderPool: PostgresPool
    /// One connection per join worker: the workers split the queue's buckets between them.
    let joinPools: [PostgresPool]
    /// The ETL runs one job at a time on a connection of its own (jobs hold their lock on it).
    let etlPool: PostgresPool
    /// Opened by the ingest role only; set once, before the services run.
    var spool: Spool?

    init(url: String, joinWorkers: Int) {
        pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 4))
        loaderPool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1, name: "seam-loader"))
        joinPools = (0..<joinWorkers).map {
            PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1, name: "seam-join\($0)"))
        }
        etlPool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1, name: "seam-etl"))
    }

    func close() async {
        await spool?.close()
        await loaderPool.close()
        for joinPool in joinPools { await joinPool.close() }
        await etlPool.close()
        await pool.close()
    }
}

/// Which services `seam serve` runs for its roles, built in one place. Services start in
/// the order returned and shut down in reverse: the server stops accepting and finishes its
/// requests, then the loader drains the spool, then the join, the ETL and maintenance stop.
struct Wiring {
    let runtime: Runtime
    let resources: Resources
    let registry: PrometheusCollectorRegistry
    var settings: Settings { runtime.settings }
    var logger: Logger { runtime.logger }

    func services() async throws -> [ServiceGroupConfiguration.ServiceConfiguration] {
        let report = try await runtime.setUpLake(on: resources.pool)
        if report.readOnlyReplica {
            // A replica serves reads: the read API and the console. Everything else writes.
            let writers = settings.roles.subtracting([.api])
            guard writers.isEmpty else {
                throw ValidationError(
                    "the database is a read-only replica: only the api role can run against it (roles \(writers.map(\.rawValue).sorted().joined(separator: ",")) write; point them at the primary)")
            }
            logger.info("the database is a read-only replica: serving the read API and the console from it")
        }
        logger.info(
            "lake ready",
            metadata: [
                "migrations_applied": "\(report.migrations.applied.count)",
                "partitions_created": "\(report.partitionsCreated)",
                "database": "\(settings.databaseURL == nil ? "embedded" : "external")",
            ])
        let etlConfiguration = try settings.etlConfiguration()
        OperationalMetrics.registerBaselines(roles: settings.roles, spoolCapacity: settings.spool.maximumBytes)
        var services: [any Service] = [DatabaseProbe(pool: resources.pool)]
        if settings.roles.contains(.maintenance) { services.append(maintenance()) }
        if settings.roles.contains(.join) {
            services += resources.joinPools.map { JoinWorker(pool: $0, configuration: settings.join) }
        }
        if settings.roles.contains(.etl) { services.append(try await etl(etlConfiguration)) }
        let readAPI = settings.roles.contains(.api) ? self.readAPI(etlConfiguration) : nil
        if settings.roles.contains(.ingest) {
            services += try await ingest(readAPI: readAPI)
        } else if let readAPI {
            let (host, port) = (settings.ingest.host, settings.ingest.port)
            services.append(
                readAPI.makeApplication(
                    host: host, port: port, logger: Logger(label: "seam.api"), readOrigins: settings.apiAllowedOrigins
                ) { [logger] port in logger.info("read API listening", metadata: ["address": "\(host):\(port)"]) })
        }
        return services.map { .init(service: $0) }
    }

    func maintenance() -> PartitionMaintenance {
        PartitionMaintenance(pool: resources.pool, configuration: settings.maintenance)
    }

    func etl(_ configuration: ETLConfiguration) async throws -> ETLScheduler {
        try await ETLCommand.checkSegments(configuration, pool: resources.pool)
        return ETLScheduler(
            jobs: makeJobs(configuration), configuration: configuration,
            runner: JobRunner(pool: resources.etlPool, lookbackHours: configuration.lookbackHours))
    }

    func readAPI(_ etlConfiguration: ETLConfiguration) -> ReadAPI {
        let registry = registry
        // The console's live ingestion figures, when ingestion runs in this process.
        var exposition: (@Sendable () -> [UInt8])?
        if settings.roles.contains(.ingest) { exposition = { @Sendable in registry.emitToBuffer() } }
        return ReadAPI(
            configuration: .init(
                tokens: settings.apiTokens, segments: etlConfiguration.segments.map { ($0.name, $0.description, $0.predicate) }),
            pool: resources.pool, metricsExposition: exposition)
    }

    /// The spool, its loader and the HTTP server (with the read API's routes when that role runs too).
    func ingest(readAPI: ReadAPI?) async throws -> [any Service] {
        let configuration = settings.ingest
        let spoolConfiguration = settings.spoolConfiguration
        let spool = try await runBlocking("seam-spool-open") { try Spool(configuration: spoolConfiguration) }
        resources.spool = spool
        IngestMetrics.global.tornTail(bytes: spool.recovery.tornTailBytes)
        var services: [any Service] = []
        if settings.loaderEnabled { services.append(SpoolLoader(spool: spool, pool: resources.loaderPool)) }
        let pool = resources.pool
        let registry = registry
        let server = IngestServer(
            configuration: configuration, spool: spool,
            databaseCheck: { await pool.unreachable() },
            events: TagEventDecoder(configuration: .init(maximumAge: Double(settings.acceptedAgeDays) * 86_400)),
            logger: Logger(label: "seam.ingest"),
            metricsExposition: { registry.emitToBuffer() },
            readinessDetail: [
                // Read from the queue in PostgreSQL: right whichever process runs the join.
                "join": {
                    guard let status = try? await JoinStatus.read(from: pool) else { return [:] }
                    return ["lag_seconds": status.lagSeconds, "pending_items": Double(status.pendingItems)]
                }
            ], readPrefixes: readAPI == nil ? [] : ReadAPI.pathPrefixes, readOrigins: settings.apiAllowedOrigins)
        services.append(
            server.makeApplication(
                onListening: { [logger] port in logger.info("listening", metadata: ["address": "\(configuration.host):\(port)"]) },
                additionalRoutes: { router in readAPI?.addRoutes(to: router) }))
        if var grpc = settings.grpc {
            grpc.maximumMessageBytes = configuration.maximumBodyBytes
            services.append(OTLPGRPCServer(ingest: server, configuration: grpc, logger: Logger(label: "seam.grpc")))
        }
        return services
    }
}
