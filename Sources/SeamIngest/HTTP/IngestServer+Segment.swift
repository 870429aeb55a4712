import Foundation
import Hummingbird
import NIOCore
import SeamHTTP
import SeamModel
import SeamRecords

/// The Segment-compatible tracking API: `/v1/batch` and the single calls, with the short
/// paths analytics.js uses. Answers follow Segment's: 200 for a request taken (messages
/// refused one by one are kept in `lake.rejected`; the body lists them for a person
/// debugging with curl), 400 for a body that is not JSON or too large, 401 for a write
/// key that is not an ingestion token, 503 with `Retry-After` when the spool is full.
extension IngestServer {
    /// Path → call (nil: a batch).
    static let segmentRoutes: [(path: String, call: SegmentDecoder.Call?)] = [
        ("/v1/batch", nil), ("/v1/b", nil), ("/v1/import", nil),
        ("/v1/track", .track), ("/v1/t", .track), ("/v1/page", .page), ("/v1/p", .page), ("/v1/screen", .screen),
        ("/v1/s", .screen), ("/v1/identify", .identify), ("/v1/i", .identify), ("/v1/alias", .alias), ("/v1/a", .alias),
        ("/v1/group", .group), ("/v1/g", .group),
    ]

    func addSegmentRoutes(to router: Router<IngestRequestContext>) {
        let group = router.group().add(middleware: WriteKeyAuthentication(configuration: configuration))
        for route in Self.segmentRoutes {
            group.post(RouterPath(route.path)) { request, context in try await postSegment(request, context: context, call: route.call) }
        }
    }

    func postSegment(_ request: Request, context: IngestRequestContext, call: SegmentDecoder.Call?) async throws -> Response {
        try Self.checkJSONContentType(request)
        var lease = MemoryBudget.Lease(budget)
        defer { lease.release() }
        let limit = call == nil ? segment.configuration.maximumBatchBytes : segment.configuration.maximumMessageBytes
        let body = try await readBody(request, lease: &lease, expansion: MemoryBudget.jsonExpansion, limit: limit, tooLarge: .badRequest)
        let received = Self.nowMicros()
        let outcome: SegmentDecoder.Outcome
        do {
            let read = try segment.read(body, call: call)
            // A key in the headers was checked by `WriteKeyAuthentication`; analytics.js
            // sends it in the body instead, which only the handler reads.
            let source = context.keyChecked ? context.tokenSource : try WriteKeyAuthentication.source(for: read.writeKey, configuration)
            outcome = try segment.decode(read, call: call, receivedAt: Date(timeIntervalSince1970: Double(received) / 1_000_000), source: source)
        } catch let error as SegmentDecoder.BodyError {
            throw HTTPFailure(.badRequest, error.reason)
        }
        try await spool(outcome.accepted, refused: outcome.rejected.map {
            RefusedRecord(source: "segment", reason: $0.reason, recordIndex: $0.index, payload: $0.payload)
        }, receivedMicros: received)
        metrics.accepted("segment", outcome.accepted.count)
        metrics.rejected("segment", reason: "invalid", outcome.rejected.count)
        var answer = JSONWriter(capacity: 64)
        answer.raw(#"{"success":"#)
        answer.bool(outcome.rejected.isEmpty)
        answer.raw(#","accepted":"#)
        answer.number(Int64(truncatingIfNeeded: outcome.accepted.count))
        answer.raw(#","rejected":"#)
        Self.writeRejections(outcome.rejected.map { ($0.index, $0.messageID, $0.reason) }, idKey: "messageId", to: &answer)
        answer.byte(UInt8(ascii: "}"))
        return Self.json(.ok, answer.string)
    }

    /// Stores what a browser protocol's request gave: the refused records first, then the
    /// accepted ones, so that a failure of the second (503, retried by the client) can
    /// repeat only diagnostics in `lake.rejected`, never a stored event.
    func spool(_ accepted: [TagEventRecord], refused: [RefusedRecord], receivedMicros: Int64) async throws(HTTPFailure) {
        if !refused.isEmpty {
            try await appendToSpool(
                SpoolRecord(kind: .refused, encoding: .rejectionFrames, receivedMicros: receivedMicros, body: RejectionFrames.encode(refused)))
        }
        if !accepted.isEmpty {
            try await appendToSpool(
                SpoolRecord(kind: .tagEvents, encoding: .tagEventFrames, receivedMicros: receivedMicros, body: TagEventFrames.encode(accepted)))
        }
    }

    /// JSON bodies: `application/json`, or `text/plain` (what browsers send without a CORS
    /// preflight: navigator.sendBeacon, analytics.js); no Content-Type is taken as JSON.
    static func checkJSONContentType(_ request: Request) throws(HTTPFailure) {
        guard let header = request.headers[.contentType] else { return }
        // The media type before any parameter, compared without case: on the bytes, since
        // this runs for every browser request (Foundation's trimming cost more than a GA4 event).
        let type = header.utf8.prefix { $0 != UInt8(ascii: ";") }.drop { $0 == 0x20 || $0 == 0x09 }
        let trimmed = type.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed().map { $0 | ($0 >= 0x41 && $0 <= 0x5A ? 0x20 : 0) }
        guard trimmed.elementsEqual("application/json".utf8) || trimmed.elementsEqual("text/plain".utf8) else {
            throw HTTPFailure(
                .unsupportedMediaType,
                "Content-Type must be application/json (or text/plain from a browser), got \(String(decoding: trimmed, as: UTF8.self))")
        }
    }
}

/// Write keys on the Segment routes: HTTP Basic auth with the key as user name (how Segment's
/// SDKs send it), or `Authorization: Bearer`, or `?token=`. A key found there is checked
/// here; a request without one passes on to its handler, which looks for `writeKey` in the
/// body (analytics.js puts it there) and checks it with `source(for:)`.
///
/// Write keys are ingestion tokens, browser or service. With no tokens configured any key
/// is accepted, and the key itself is stored as the source.
struct WriteKeyAuthentication: RouterMiddleware {
    typealias Context = IngestRequestContext

    let configuration: IngestConfiguration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let key = Self.key(in: request) else { return try await next(request, context) }
        var context = context
        context.tokenSource = try Self.source(for: key, configuration)
        context.keyChecked = true
        return try await next(request, context)
    }

    /// The write key from the headers or the query.
    static func key(in request: Request) -> String? {
        if let authorization = request.headers[.authorization], authorization.count > 6,
            authorization.prefix(6).lowercased() == "basic "
        {
            let encoded = authorization.dropFirst(6).trimmingCharacters(in: .whitespaces)
            guard let decoded = Data(base64Encoded: encoded).map({ String(decoding: $0, as: UTF8.self) }) else { return nil }
            // "writeKey:" (empty password); a key cannot contain ':'.
            let user = decoded.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            return user.isEmpty ? nil : user
        }
        return BearerToken.from(request) ?? request.uri.queryParameters.get("token")
    }

    /// The source name for write key `key` (nil: none sent), or 401.
    static func source(for key: String?, _ configuration: IngestConfiguration) throws(HTTPFailure) -> String? {
        guard !configuration.tokens.isEmpty else { return key }
        guard let key, let source = configuration.tokens[key] else {
            throw HTTPFailure(
                .unauthorized,
                key == nil
                    ? "a write key is required: HTTP Basic auth with the write key as user name, or writeKey in the body"
                    : "the write key is not an ingestion token of this Seam",
                headers: [.wwwAuthenticate: "Basic realm=\"seam\""])
        }
        return source
    }
}
