import Foundation
import Hummingbird
import SeamHTTP
import SeamMetrics
import SeamModel
import Logging
import SeamPostgres

/// The read API for the A/B framework and dashboards: experiments, their results, segments
/// and segment metrics, bandits with their off-policy estimates and their decisions as
/// DSJSON, straight from the lake tables the ETL jobs write.
///
/// Every answer carries an `ETag` (a digest of the body) and honours `If-None-Match`;
/// results and metrics come as JSON, or CSV with `Accept: text/csv`. With read tokens
/// configured every request needs `Authorization: Bearer <token>`.
public struct ReadAPI: Sendable {
    public struct Configuration: Sendable {
        /// Read tokens; empty means the API is open.
        public var tokens: Set<String>
        /// Rule segments from configuration, listed by `/v1/segments` even before they have members.
        public var segments: [(name: String, description: String, predicate: String)]

        public init(tokens: Set<String> = [], segments: [(name: String, description: String, predicate: String)] = []) {
            self.tokens = tokens
            self.segments = segments
        }
    }

    let configuration: Configuration
    let pool: PostgresPool
    /// Where the standalone server counts its requests (`seam_http_requests_total`).
    let metrics: MetricHandles
    /// This process's metrics in Prometheus text, for the console's pipeline page (nil: not
    /// shown there).
    let metricsExposition: (@Sendable () -> [UInt8])?

    public init(
        configuration: Configuration = .init(), pool: PostgresPool, metrics: MetricHandles = MetricHandles(),
        metricsExposition: (@Sendable () -> [UInt8])? = nil
    ) {
        self.configuration = configuration
        self.pool = pool
        self.metrics = metrics
        self.metricsExposition = metricsExposition
    }

    /// Where the read API's routes live (for CORS; the console at `/console` is same-origin only).
    public static let pathPrefixes = ["/v1/experiments", "/v1/segments", "/v1/bandits"]

    /// Adds the API's routes and the console's (`Console`) to a router (the ingestion
    /// server's, when both roles run).

    public func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.group()
            .add(middleware: BearerTokenCheck(tokens: configuration.tokens, message: "a read token is required: Authorization: Bearer <token>"))
            .get("/v1/experiments") { request, _ in try await respond(request) { try await experiments() } }
            .get("/v1/experiments/:key/results") { request, context in
                let key = context.parameters.get("key") ?? ""
                return try await respond(request) { try await results(key: key, query: Self.query(request)) }
            }
            .get("/v1/segments") { request, _ in try await respond(request) { try await segments() } }
            .get("/v1/segments/:name/metrics") { request, context in
                let name = context.parameters.get("name") ?? ""
                return try await respond(request) { try await segmentMetrics(name: name, query: Self.query(request)) }
            }
            .get("/v1/bandits") { request, _ in try await respond(request) { try await bandits() } }
            .get("/v1/bandits/:key/estimates") { request, context in
                let key = context.parameters.get("key") ?? ""
                return try await respond(request) { try await banditEstimates(key: key, query: Self.query(request)) }
            }
            .get("/v1/bandits/:key/dsjson") { request, context in
                try await dsjson(key: context.parameters.get("key") ?? "", request: request)
            }
        Console(api: self, metricsExposition: metricsExposition).addRoutes(to: router)
    }

    /// The console page at `path`, rendered without HTTP, and its size in bytes (nil: no such
    /// page): for `seam bench etl`'s timing of the console on its lake.
    public func renderConsolePage(_ path: String) async throws -> Int? {
        try await Console(api: self, metricsExposition: metricsExposition).page(path)?.utf8.count
    }

    /// A request's query parameters (the last of a repeated one).
    static func query(_ request: Request) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { result[String(name)] = String(value) }
        return result
    }

    /// An HTTP server with only the read API and `/healthz` (`seam serve --roles api`
    /// without ingest).
    /// `readOrigins`: origins whose pages may call it (CORS); none by default.
    public func makeApplication(
        host: String, port: Int, logger: Logger, readOrigins: Set<String> = [],
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: CORSPolicy(browserPaths: [], readPrefixes: Self.pathPrefixes, readOrigins: readOrigins))
        router.add(middleware: RequestMetrics(handles: metrics))
        HealthRoute.add(to: router)
        addRoutes(to: router)
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "seam"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) }, logger: logger)
    }

    // MARK: Responses

    /// A failure: its status and a message naming the parameter and the reason.
    typealias Failure = HTTPFailure

    /// A successful answer: a JSON object, and the table behind it for CSV.
    struct Answer {
        var json: [String: Any]
        var table: Table?
    }

    private func respond(_ request: Request, _ body: () async throws -> Answer) async throws(HTTPFailure) -> Response {
        let answer: Answer
        do {
            answer = try await body()
        } catch let failure as HTTPFailure {
            throw failure
        } catch {
            throw HTTPFailure(.serviceUnavailable, "the lake could not be read: \(error)")
        }
        let wantsCSV = (request.headers[.accept] ?? "").contains("text/csv")
        let bytes: [UInt8]
        let contentType: String
        if wantsCSV, let table = answer.table {
            bytes = Array(table.csv.utf8)
            contentType = "text/csv; charset=utf-8"
        } else if wantsCSV {
            throw HTTPFailure(.notAcceptable, "this resource is JSON only; CSV is offered by results and segment metrics")
        } else {
            bytes = [UInt8]((try? JSONSerialization.data(withJSONObject: answer.json, options: [.sortedKeys])) ?? Data("{}".utf8))
            contentType = "application/json"
        }
        let etag = "\"\(Self.digest(bytes, contentType))\""
        let matches = (request.headers[.ifNoneMatch] ?? "").split(separator: ",").contains {
            let tag = $0.trimmingCharacters(in: .whitespaces)
            return tag == etag || tag == "W/\(etag)" || tag == "*"
        }
        if matches {
            return Response(status: .notModified, headers: [.eTag: etag])
        }
        return Response(
            status: .ok, headers: [.contentType: contentType, .eTag: etag, .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// FNV-1a over the body and its type: equal bodies, equal tags.
    static func digest(_ bytes: [UInt8], _ contentType: String) -> String { FNV1a.hex(bytes + Array(contentType.utf8)) }
}
