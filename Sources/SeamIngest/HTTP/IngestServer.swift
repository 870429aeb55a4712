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
    /// The Segment tracking API's reader (its limits).
    let segment: SegmentDecoder
    /// The GA4 Measurement Protocol's reader (its limits).
    let ga4: GA4Decoder
    let logger: Logger
    /// OTLP records older than this are refused (outside the lake's retention); nil: any age.
    var otlpMaximumAgeMicros: Int64? {
        events.configuration.maximumAge.map { Int64($0 * 1_000_000) }
    }

    let metrics: IngestMetrics
    /// Request bytes held at once (`IngestConfiguration.decodeBudgetBytes`).
    package let budget: MemoryBudget
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
        events: TagEventDecoder, segment: SegmentDecoder? = nil, logger: Logger,
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
        self.segment = segment ?? SegmentDecoder(configuration: .init(events: events.configuration))
        self.ga4 = GA4Decoder(configuration: .init(events: events.configuration))
        self.logger = logger
        self.metrics = metrics
        self.metricsExposition = metricsExposition
        self.readinessDetail = readinessDetail
    }

    /// The HTTP application; it is a `Service` for the service group. `onListening`
    /// receives the bound port (useful with port 0); `additionalRoutes` adds other roles'
    /// routes (the read API) to the same server.
    public func makeApplication(
        onListening: @escaping @Sendable (Int) async -> Void = { _ in },
        additionalRoutes: (Router<IngestRequestContext>) -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let headerBytes = configuration.maximumHeaderBytes
        return Application(
            router: router(additionalRoutes: additionalRoutes),
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

    /// The routes, behind CORS and request metrics; each group behind its token check.
    func router(additionalRoutes: (Router<IngestRequestContext>) -> Void = { _ in }) -> Router<IngestRequestContext> {
        let router = Router(context: IngestRequestContext.self)
        router.add(middleware: CORSPolicy(browserPaths: Self.browserPaths, readPrefixes: readPrefixes, readOrigins: readOrigins))
        router.add(middleware: RequestMetrics(handles: metrics.handles))
        HealthRoute.add(to: router)
        router.get("/readyz") { _, _ in await readiness() }
        router.group()
            .add(middleware: BearerTokenCheck(
                tokens: configuration.metricsToken.map { [$0] } ?? [],
                message: "/metrics needs its token (Authorization: Bearer <metrics token>)"))
            .get("/metrics") { _, _ in
                guard let metricsExposition else { throw HTTPFailure(.notFound, "metrics are not enabled") }
                return Response(
                    status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                    body: .init(byteBuffer: ByteBuffer(bytes: metricsExposition())))
            }
        router.group()
            .add(middleware: IngestAuthentication(configuration: configuration, browser: true) { _, status, message in
                HTTPFailure(status, message, headers: status == .unauthorized ? [.wwwAuthenticate: "Bearer"] : [:])
            })
            .post("/v1/events") { request, context in try await postEvents(request, source: context.tokenSource) }
        router.group()
            .add(middleware: IngestAuthentication(configuration: configuration, browser: false) { request, status, message in
                OTLPFailure(status, message, encoding: OTLPEncoding(request) ?? .json)
            })
            .post("/v1/traces") { request, _ in try await postOTLP(request, signal: .traces) }
            .post("/v1/logs") { request, _ in try await postOTLP(request, signal: .logs) }
        addSegmentRoutes(to: router)
        addGA4Routes(to: router)
        for path in ["/v1/traces", "/v1/logs", "/v1/events", "/mp/collect", "/debug/mp/collect"] + Self.segmentRoutes.map(\.path) {
            for method in [HTTPRequest.Method.get, .put, .delete, .patch] {
                router.on(RouterPath(path), method: method) { _, _ -> Response in throw HTTPFailure(.methodNotAllowed, "use POST") }
            }
        }
        additionalRoutes(router)
        return router
    }

    // MARK: /v1/events

    /// Routes browsers post to: CORS from any origin, and browser tokens accepted.
    static let browserPaths: Set<String> = Set(["/v1/events", "/mp/collect", "/debug/mp/collect"] + segmentRoutes.map(\.path))

    func postEvents(_ request: Request, source: String?) async throws -> Response {
        try Self.checkJSONContentType(request)
        var lease = MemoryBudget.Lease(budget)
        defer { lease.release() }
        let body = try await readBody(request, lease: &lease, expansion: MemoryBudget.jsonExpansion)
        let received = Self.nowMicros()
        let batch: TagEventDecoder.Batch
        do {
            batch = try events.decode(body, receivedAt: Date(timeIntervalSince1970: Double(received) / 1_000_000), source: source)
        } catch {
            throw HTTPFailure(.badRequest, error.reason)
        }
        if !batch.accepted.isEmpty {
            try await appendToSpool(
                SpoolRecord(kind: .tagEvents, encoding: .tagEventFrames, receivedMicros: received, body: TagEventFrames.encode(batch.accepted)))
        }
        metrics.accepted("events", batch.accepted.count)
        metrics.rejected("events", reason: "invalid", batch.rejected.count)
        let status: HTTPResponse.Status = batch.accepted.isEmpty && !batch.rejected.isEmpty ? .badRequest : .ok
        return Self.json(status, Self.eventsAnswer(accepted: batch.accepted.count, rejected: batch.rejected))
    }

    /// `{"accepted": n, "rejected": [{"index", "event_id", "reason"}]}`, written directly
    /// (Foundation's encoder cost more than the rest of a small batch's acknowledgement).
    static func eventsAnswer(accepted: Int, rejected: [TagEventRejection]) -> String {
        var w = JSONWriter(capacity: 64)
        w.raw(#"{"accepted":"#)
        w.number(Int64(truncatingIfNeeded: accepted))
        w.raw(#","rejected":"#)
        writeRejections(rejected.map { ($0.index, $0.eventID, $0.reason) }, idKey: "event_id", to: &w)
        w.byte(UInt8(ascii: "}"))
        return w.string
    }

    /// `[{"index": i, "<idKey>": id, "reason": r}, …]` (the id left out when unknown): the
    /// refusals of a batch as the browser formats' answers list them.
    static func writeRejections(_ rejections: [(index: Int, id: String?, reason: String)], idKey: String, to w: inout JSONWriter) {
        w.byte(UInt8(ascii: "["))
        for (i, rejection) in rejections.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            w.raw(#"{"index":"#)
            w.number(Int64(truncatingIfNeeded: rejection.index))
            if let id = rejection.id {
                w.byte(UInt8(ascii: ","))
                w.quoted(idKey)
                w.byte(UInt8(ascii: ":"))
                w.quoted(id)
            }
            w.raw(#","reason":"#)
            w.quoted(rejection.reason)
            w.byte(UInt8(ascii: "}"))
        }
        w.byte(UInt8(ascii: "]"))
    }

    /// `limit` (default `maximumBodyBytes`) and the status for a body over it (default 413)
    /// are for protocols with their own (Segment's 500 KB, answered with 400).
    func readBody(
        _ request: Request, lease: inout MemoryBudget.Lease, expansion: Int, limit: Int? = nil,
        tooLarge: HTTPResponse.Status = .contentTooLarge
    ) async throws(HTTPFailure) -> [UInt8] {
        do {
            let body = try await RequestBodies.read(
                request, limit: min(limit ?? configuration.maximumBodyBytes, configuration.maximumBodyBytes), lease: &lease,
                timeout: .seconds(configuration.bodyTimeoutSeconds))
            try lease.take(body.count * expansion)
            return body
        } catch let error as RequestBodies.Failure {
            let status = error.status == .contentTooLarge ? tooLarge : error.status
            throw HTTPFailure(status, error.reason, headers: error.retry ? retryAfter : [:])
        } catch {
            throw HTTPFailure(.badRequest, "cannot read the request body: \(error)")
        }
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

    /// Appends `record` durably; when it cannot, 503 with `Retry-After` for the client to retry.
    func appendToSpool(_ record: SpoolRecord) async throws(HTTPFailure) {
        let frame = record.frame
        do {
            try await spool.append(kind: frame.kind, frame.payload)
        } catch let error as SpoolError where error.code == .full {
            throw HTTPFailure(.serviceUnavailable, "Seam is catching up (\(error.message)); retry later", headers: retryAfter)
        } catch {
            logger.error("spool append failed", metadata: ["error": "\(error)"])
            throw HTTPFailure(.serviceUnavailable, "Seam cannot store records right now; retry later", headers: retryAfter)
        }
    }

    /// `Retry-After` for answers the client should retry.
    var retryAfter: HTTPFields { [.retryAfter: String(configuration.retryAfterSeconds)] }

    // MARK: Responses

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
