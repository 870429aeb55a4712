import Foundation
import Logging
import Prometheus
import SeamAPI
import SeamIngest
import SeamLake
import SeamLoader
import SeamMetrics
import SeamModel
import SeamPostgres
import SeamSpool
import ServiceLifecycle
import DatabaseSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A running ingestion server on a free port, with its spool, a lake database and a loader.
struct IngestHarness {
    let db: TestDatabase
    let spool: Spool
    let pool: PostgresPool
    let loader: SpoolLoader
    let port: Int

    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    }

    static func with(
        configuration: IngestConfiguration = .init(host: "127.0.0.1", port: 0),
        spoolBytes: Int = 64 << 20,
        loaderConfiguration: SpoolLoader.Configuration = .init(),
        readOrigins: Set<String> = [],
        _ body: (IngestHarness) async throws -> Void
    ) async throws {
        try await TestDatabase.with { db in
            let pool = PostgresPool(configuration: .init(connectionString: db.url, maximumConnections: 2))
            _ = try await LakeSetup(configuration: .init(migrationsDirectory: TestServer.migrationsDirectory)).run(on: pool)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("seam-ingest-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: directory) }
            let spool = try Spool(configuration: .init(directory: directory, segmentBytes: 1 << 20, maximumBytes: spoolBytes))
            let loaderPool = PostgresPool(configuration: .init(connectionString: db.url, maximumConnections: 1))
            let registry = PrometheusCollectorRegistry()
            let handles = MetricHandles(factory: PrometheusMetricsFactory(registry: registry))
            let loader = SpoolLoader(
                spool: spool, pool: loaderPool, configuration: loaderConfiguration, metrics: LoaderMetrics(handles: handles))
            let (ports, continuation) = AsyncStream<Int>.makeStream()
            let app = IngestServer(
                configuration: configuration, spool: spool,
                databaseCheck: { await pool.unreachable() }, events: TagEventDecoder(),
                logger: Logger(label: "test.ingest"), metrics: IngestMetrics(handles: handles), metricsExposition: { registry.emitToBuffer() },
                readPrefixes: ReadAPI.pathPrefixes, readOrigins: readOrigins
            ).makeApplication { port in continuation.yield(port) }
            let group = ServiceGroup(services: [app], logger: Logger(label: "test"))
            let running = Task { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            do {
                try await body(IngestHarness(db: db, spool: spool, pool: pool, loader: loader, port: port))
            } catch {
                await group.triggerGracefulShutdown()
                _ = await running.result
                await spool.close()
                await loaderPool.close()
                await pool.close()
                throw error
            }
            await group.triggerGracefulShutdown()
            _ = await running.result
            await spool.close()
            await loaderPool.close()
            await pool.close()
        }
    }

    func request(
        _ method: String, _ path: String, body: String? = nil, headers: [String: String] = ["Content-Type": "application/json"]
    ) async throws -> Reply {
        try await request(method, path, bytes: body.map { Array($0.utf8) }, headers: headers).reply
    }

    /// Sends raw bytes; returns the reply and the raw response body.
    func request(
        _ method: String, _ path: String, bytes: [UInt8]?, headers: [String: String]
    ) async throws -> (reply: Reply, body: [UInt8]) {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        if let bytes { request.httpBody = Data(bytes) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { fields[name.lowercased()] = value }
        }
        return (Reply(status: http.statusCode, headers: fields, body: String(decoding: data, as: UTF8.self)), [UInt8](data))
    }

    func post(_ body: String, headers: [String: String] = ["Content-Type": "application/json"]) async throws -> Reply {
        try await request("POST", "/v1/events", body: body, headers: headers)
    }

    func connect() throws -> PostgresConnection { try db.connect() }
}
