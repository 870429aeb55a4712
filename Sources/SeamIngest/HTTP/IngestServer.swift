import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import SeamHTTP
import SeamModel
import SeamRecords
import SeamSpool

/// The ingestion HTTP service: `/v1/events`, `/healthz`, `/readyz`.
///
/// A 2xx means the accepted records are fsync'd in the spool; the loader moves them into
/// the lake afterwards. When the spool is full the answer is 503 with `Retry-After`.
public struct IngestServer: Sendable {
    public let configuration: IngestConfiguration
    let spool: Spool
    /// Whether the lake's database answers, for `/readyz`: nil when it does, else why not.
    let databaseCheck: @Sendable () async -> String?
    let events: TagEventDecoder
    let logger: Logger
    /// OTLP records older than this are refused (outside the lake's retention); nil: any age.
    var otlpMaximumAgeMicros: Int64? {
        events.configuration.maximumAge.map { Int64($0 * 1_000_000) }
    }

    let metrics: IngestMetrics
    /// Request bytes held at once (`IngestConfiguration.decodeBudgetBytes`).
    let budget: MemoryBudget
    /// Origins allowed to call the read routes (`readPrefixes`, mounted with
    /// `additionalRoutes`) from a browser (none: no CORS on them).
    let readOrigins: Set<String>
    let readPrefixes: [String]
    /// Renders `/metrics` (Prometheus text format); nil answers 404.
    let metricsExposition: (@Sendable () -> [UInt8])?
    /// More figures for `/readyz`, by section name (e.g. the join lag); they inform and do
    /// not decide readiness.
    let readinessDetail: [String: @Sendable () async -> [String: Double]]

    public init(
        configuration: IngestConfiguration, spool: Spool, databaseCheck: @escaping @Sendable () async -> String?,
        events: TagEventDecoder, logger: Logger,
        metrics: IngestMetrics = .global, metricsExposition: (@Sendable () -> [UInt8])? = nil,
        readinessDetail: [String: @Sendable () async -> [String: Double]] = [:], readPrefixes: [String] = [], readOrigins: Set<String> = []
    ) {
        self.readPrefixes = readPrefixes
        self.budget = MemoryBudget(capacity: configuration.decodeBudgetBytes)
        self.readOrigins = readOrigins
        self.configuration = configuration
        self.spool = spool
        self.databaseCheck = databaseCheck
        self.events = events
        self.logger = logger
        self.metrics = metrics
        self.metricsExposition = metricsExposition
        self.readinessDetail = readinessDetail
    }

    /// The Hummingbird application; it is a `Service` for the service group.
    /// `onListening` receives the bound port (useful with port 0).
    /// The HTTP application; `additionalRoutes` adds other roles' routes (the read API) to
    /// the same server.
    public func makeApplication(
        onListening: @escaping @Sendable (Int) async -> Void = { _ in },
        additionalRoutes: (Router<BasicRequestContext>) -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: BasicRequestContext.self)
        router.add(
            middleware: CORSPolicy(
                browserPaths: Self.browserPaths, readPrefixes: readPrefixes, readOrigins: readOrigins))
        HealthRoute.add(to: router)
        router.get("/readyz") { _, _ in await readiness() }
        router.get("/metrics") { request, _ in
            guard let metricsExposition else { return HTTPFailure(.notFound, "metrics are not enabled").response }
            if let token = configuration.metricsToken, BearerToken.from(request) != token {
                return HTTPFailure(
                    .unauthorized, "/metrics needs its token (Authorization: Bearer <metrics token>)", headers: [.wwwAuthenticate: "Bearer"]
                ).response
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metricsExposition())))
        }
        router.post("/v1/events") { request, _ in counted("/v1/events", await postEvents(request)) }
        router.post("/v1/traces") { request, _ in counted("/v1/traces", await postOTLP(request, signal: .traces)) }
        router.post("/v1/logs") { request, _ in counted("/v1/logs", await postOTLP(request, signal: .logs)) }
        for path in ["/v1/traces", "/v1/logs"] {
            for method in [HTTPRequest.Method.get, .put, .delete, .patch] {
                router.on(RouterPath(path), method: method) { _, _ in HTTPFailure(.methodNotAllowed, "use POST").response }
            }
        }
        router.on("/v1/events", method: .get) { _, _ in HTTPFailure(.methodNotAllowed, "use POST").response }
        additionalRoutes(router)
        let headerBytes = configuration.maximumHeaderBytes
        return Application(
            router: router,
            server: .http1(
                configuration: .init(
                    idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds)),
                    httpDecoderConfiguration: .init(maxHeaderFieldSize: headerBytes, maxHeaderListSize: headerBytes, maxHeaderFieldCount: 100))),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "seam",
                availableConnectionsDelegate: MaximumAvailableConnections(configuration.maximumConnections)),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    private func counted(_ path: String, _ response: Response) -> Response {
        metrics.request(path: path, status: response.status.code)
        return response
    }

    // MARK: /v1/events

    /// Routes browsers post to: CORS from any origin, and browser tokens accepted.
    static let browserPaths: Set<String> = ["/v1/events"]

    func postEvents(_ request: Request) async -> Response {
        let source: String?
        switch authenticate(request, browser: true) {
        case .success(let name): source = name
        case .failure(let failure): return failure.response
        }
        let contentType = request.headers[.contentType]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        if let contentType, contentType != "application/json", contentType != "text/plain" {
            return HTTPFailure(.unsupportedMediaType, "Content-Type must be application/json (or text/plain from navigator.sendBeacon), got \(contentType)").response
        }
        var lease = MemoryBudget.Lease(budget)
        defer { lease.release() }
        let body: [UInt8]
        do {
            body = try await RequestBodies.read(
                request, limit: configuration.maximumBodyBytes, lease: &lease, timeout: .seconds(configuration.bodyTimeoutSeconds))
            try lease.take(body.count * MemoryBudget.jsonExpansion)
        } catch let error as RequestBodies.Failure {
            let response = HTTPFailure(error.status, error.reason).response
            return error.retry ? retryLater(response) : response
        } catch {
            return HTTPFailure(.badRequest, "cannot read the request body: \(error)").response
        }
        let received = Self.nowMicros()
        let batch: TagEventDecoder.Batch
        do {
            batch = try events.decode(body, receivedAt: Date(timeIntervalSince1970: Double(received) / 1_000_000), source: source)
        } catch {
            return HTTPFailure(.badRequest, error.reason).response
        }
        if !batch.accepted.isEmpty {
            let record = SpoolRecord(
                kind: .tagEvents, encoding: .tagEventFrames, receivedMicros: received, body: TagEventFrames.encode(batch.accepted))
            if let problem = await appendToSpool(record) {
                return retryLater(HTTPFailure(.serviceUnavailable, problem).response)
            }
        }
        metrics.accepted("events", batch.accepted.count)
        metrics.rejected("events", reason: "invalid", batch.rejected.count)
        let result = EventsResponse(accepted: batch.accepted.count, rejected: batch.rejected)
        let encoded = (try? JSONEncoder().encode(result)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        let status: HTTPResponse.Status = batch.accepted.isEmpty && !batch.rejected.isEmpty ? .badRequest : .ok
        return Self.json(status, encoded)
    }

    struct EventsResponse: Encodable {
        var accepted: Int
        var rejected: [TagEventRejection]
    }

    /// The source name of a valid token, or the 401 (no or unknown token) or 403 (a
    /// browser token on a service route) to send. `browser`: the route is browser-facing.
    func authenticate(_ request: Request, browser: Bool) -> Result<String?, AuthenticationFailure> {
        guard !configuration.tokens.isEmpty else { return .success(nil) }
        let token = BearerToken.from(request) ?? request.uri.queryParameters.get("token")
        guard let token, let source = configuration.tokens[token] else {
            let message = "a valid ingestion token is required (Authorization: Bearer <token>, or ?token=<token>)"
            let response = HTTPFailure(.unauthorized, message, headers: [.wwwAuthenticate: "Bearer"]).response
            return .failure(AuthenticationFailure(response: response, message: message, status: .unauthorized))
        }
        if !browser, configuration.browserTokens.contains(token) {
            let message = "a browser token may post tag events only; OTLP needs a service token"
            return .failure(AuthenticationFailure(response: HTTPFailure(.forbidden, message).response, message: message, status: .forbidden))
        }
        return .success(source)
    }

    struct AuthenticationFailure: Error {
        var response: Response
        var message: String
        var status: HTTPResponse.Status
    }

    // MARK: /readyz

    func readiness() async -> Response {
        let database = await databaseCheck().map { "unreachable: \($0)" } ?? "ok"
        let capacity = Double(spool.configuration.maximumBytes)
        let fill = Double(spool.unreleasedBytes) / capacity
        let spoolOK = fill < configuration.spoolHighWaterMark
        let ready = database == "ok" && spoolOK
        var detail: [String: Any] = [
            "ready": ready,
            "database": database,
            "spool": ["unloaded_bytes": spool.unreleasedBytes, "capacity_bytes": Int(capacity), "fill": fill, "ok": spoolOK],
        ]
        for (section, figures) in readinessDetail { detail[section] = await figures() }
        let text = (try? JSONSerialization.data(withJSONObject: detail, options: [.sortedKeys]))
            .map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return Self.json(ready ? .ok : .serviceUnavailable, text)
    }

    // MARK: Spool

    /// Appends `payload` durably; on failure returns why, for a 503 the client retries.
    func appendToSpool(_ record: SpoolRecord) async -> String? {
        let frame = record.frame
        do {
            try await spool.append(kind: frame.kind, frame.payload)
            return nil
        } catch let error as SpoolError where error.code == .full {
            return "Seam is catching up (\(error.message)); retry later"
        } catch {
            logger.error("spool append failed", metadata: ["error": "\(error)"])
            return "Seam cannot store records right now; retry later"
        }
    }

    /// `response` with `Retry-After`.
    func retryLater(_ response: Response) -> Response {
        var response = response
        response.headers[.retryAfter] = String(configuration.retryAfterSeconds)
        return response
    }

    // MARK: Responses

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
