import Foundation
import Hummingbird
import NIOCore
import SeamHTTP
import SeamModel
import SeamRecords

/// The GA4 Measurement Protocol: `POST /mp/collect` and `POST /debug/mp/collect`.
///
/// `api_secret` (in the query, as GA4 wants it) is an ingestion token, browser or service;
/// with no tokens configured any secret is accepted and the stream id (`measurement_id` or
/// `firebase_app_id`) is stored as the source, never the secret.
///
/// `/mp/collect` answers as GA4 does: 204 with an empty body once what it took is durable,
/// whatever it refused (refused events, or the whole request when its own fields are
/// wrong, are kept in `lake.rejected` with the reason). Seam answers otherwise only where it
/// cannot take the request at all: 401 for a secret that is not a token, 413 for a body
/// over the server's limit, 503 with `Retry-After` when the spool is full.
///
/// `/debug/mp/collect` stores nothing and answers `{"validationMessages": [...]}` with the
/// field path, description and GA4's validation code of every problem.
extension IngestServer {
    func addGA4Routes(to router: Router<IngestRequestContext>) {
        router.group()
            .add(middleware: APISecretAuthentication(configuration: configuration))
            .post("/mp/collect") { request, context in try await postGA4(request, source: context.tokenSource, debug: false) }
            .post("/debug/mp/collect") { request, context in try await postGA4(request, source: context.tokenSource, debug: true) }
    }

    func postGA4(_ request: Request, source: String?, debug: Bool) async throws -> Response {
        let query = request.uri.queryParameters
        let stream = GA4Decoder.Stream(
            measurementID: query.get("measurement_id"), firebaseAppID: query.get("firebase_app_id"))
        try Self.checkJSONContentType(request)
        var lease = MemoryBudget.Lease(budget)
        defer { lease.release() }
        let body = try await readBody(request, lease: &lease, expansion: MemoryBudget.jsonExpansion)
        let received = Self.nowMicros()
        let outcome = ga4.decode(body, stream: stream, receivedAt: Date(timeIntervalSince1970: Double(received) / 1_000_000), source: source)
        if debug {
            var w = JSONWriter(capacity: 64)
            w.raw(#"{"validationMessages":["#)
            for (i, message) in outcome.messages.enumerated() {
                if i > 0 { w.byte(UInt8(ascii: ",")) }
                w.raw(#"{"fieldPath":"#)
                w.quoted(message.fieldPath)
                w.raw(#","description":"#)
                w.quoted(message.description)
                w.raw(#","validationCode":"#)
                w.quoted(message.validationCode)
                w.byte(UInt8(ascii: "}"))
            }
            w.raw("]}")
            return Self.json(.ok, w.string)
        }
        try await spool(outcome.accepted, refused: outcome.rejected.map {
            RefusedRecord(source: "ga4", reason: $0.reason, recordIndex: $0.index, payload: $0.payload)
        }, receivedMicros: received)
        metrics.accepted("ga4", outcome.accepted.count)
        metrics.rejected("ga4", reason: "invalid", outcome.rejected.count)
        return Response(status: .noContent)
    }
}

/// GA4's `api_secret` (in the query) as an ingestion token, browser or service: 401 without a
/// known one. With no tokens configured every request passes, and the stream id
/// (`measurement_id`, else `firebase_app_id`) is the source: never the secret.
struct APISecretAuthentication: RouterMiddleware {
    typealias Context = IngestRequestContext

    let configuration: IngestConfiguration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let query = request.uri.queryParameters
        var context = context
        if configuration.tokens.isEmpty {
            context.tokenSource = query.get("measurement_id") ?? query.get("firebase_app_id")
        } else {
            let secret = query.get("api_secret")
            guard let secret, let source = configuration.tokens[secret] else {
                throw HTTPFailure(
                    .unauthorized,
                    secret == nil ? "api_secret is required in the query (an ingestion token of this Seam)" : "api_secret is not an ingestion token of this Seam")
            }
            context.tokenSource = source
        }
        return try await next(request, context)
    }
}
