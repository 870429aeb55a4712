import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import SeamMetrics
import SeamModel
import SeamOTLP
import SeamRecords
import SeamSpool
import Testing

@testable import SeamIngest

/// The ingestion routes in process (`app.test(.router)`), with a spool in a temporary
/// directory and no database: what HTTP alone decides (tokens and their scopes, CORS,
/// `sendBeacon`, limits, OTLP's error bodies, request metrics) without a socket.
@Suite("Ingestion routes, in process")
struct IngestRoutesTests {
    struct Server {
        let spool: Spool
        let registry: PrometheusCollectorRegistry
        let application: any ApplicationProtocol
    }

    static func withServer(
        _ configuration: IngestConfiguration = .init(), database: String? = nil, _ body: @escaping @Sendable (any TestClientProtocol, Spool, PrometheusCollectorRegistry) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("seam-routes-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let spool = try Spool(configuration: .init(directory: directory, segmentBytes: 1 << 20, maximumBytes: 8 << 20))
        let registry = PrometheusCollectorRegistry()
        let server = IngestServer(
            configuration: configuration, spool: spool, databaseCheck: { database }, events: TagEventDecoder(),
            logger: Logger(label: "test.routes"), metrics: IngestMetrics(handles: MetricHandles(factory: PrometheusMetricsFactory(registry: registry))),
            metricsExposition: { registry.emitToBuffer() })
        let application = Application(router: server.router())
        do {
            try await application.test(.router) { client in try await body(client, spool, registry) }
        } catch {
            await spool.close()
            throw error
        }
        await spool.close()
    }

    static func event(_ id: UUID = UUID()) -> String {
        #"{"events":[{"event_id":"\#(id.uuidString.lowercased())","name":"page_view","session_id":"s1"}]}"#
    }

    /// The records the spool holds, decoded as the loader decodes them.
    static func spooled(_ spool: Spool) throws -> [SpoolRecord] {
        try spool.read(from: spool.start, maximumBytes: 1 << 30).entries.compactMap { entry in
            guard case .frame(let frame) = entry else { return nil }
            return try SpoolRecord.decode(frameKind: frame.kind, payload: frame.payload)
        }
    }

    @Test("a tag event is acknowledged once it is in the spool, as one record with the receive time once")
    func eventsAreSpooled() async throws {
        try await Self.withServer { client, spool, _ in
            let id = UUID()
            try await client.execute(
                uri: "/v1/events", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: Self.event(id))
            ) { response in
                #expect(response.status == .ok)
                let reply = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(reply?["accepted"] as? Int == 1)
                #expect((reply?["rejected"] as? [Any])?.isEmpty == true)
            }
            let records = try Self.spooled(spool)
            #expect(records.count == 1)
            #expect(records.first?.kind == .tagEvents && records.first?.encoding == .tagEventFrames)
            let events = try TagEventFrames.decode(records[0].body, receivedMicros: records[0].receivedMicros)
            #expect(events.map(\.eventID) == [id])
            #expect(abs(events[0].receivedAt.timeIntervalSinceNow) < 60)
        }
    }

    @Test("tokens: none is 401, a browser token posts tag events (also as ?token= from sendBeacon) but gets 403 on OTLP, in OTLP's own error body")
    func tokenScopes() async throws {
        let configuration = IngestConfiguration(tokens: ["svc": "checkout", "pub": "web"], browserTokens: ["pub"])
        try await Self.withServer(configuration) { client, spool, _ in
            try await client.execute(
                uri: "/v1/events", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: Self.event())
            ) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
                #expect(String(buffer: response.body).contains("a valid ingestion token is required"))
            }
            // navigator.sendBeacon: text/plain, the token in the query.
            try await client.execute(
                uri: "/v1/events?token=pub", method: .post, headers: [.contentType: "text/plain;charset=UTF-8"],
                body: ByteBuffer(string: Self.event())
            ) { response in #expect(response.status == .ok) }
            let records = try Self.spooled(spool)
            let events = try TagEventFrames.decode(records[0].body, receivedMicros: records[0].receivedMicros)
            #expect(events.first?.source == "web")

            let traces: [UInt8] = try TraceExportRequest().serializedBytes()
            try await client.execute(
                uri: "/v1/traces", method: .post, headers: [.contentType: "application/x-protobuf", .authorization: "Bearer pub"],
                body: ByteBuffer(bytes: traces)
            ) { response in
                #expect(response.status == .forbidden)
                #expect(response.headers[.contentType] == "application/x-protobuf")
                let status = try RPCStatus(serializedBytes: Array(buffer: response.body))
                #expect(status.code == 7 && status.message.contains("browser token"))
            }
            try await client.execute(
                uri: "/v1/logs", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}")
            ) { response in
                #expect(response.status == .unauthorized)
                let status = try RPCStatus(jsonUTF8Data: Data(buffer: response.body))
                #expect(status.code == 16)
            }
            try await client.execute(
                uri: "/v1/traces", method: .post, headers: [.contentType: "application/x-protobuf", .authorization: "bearer svc"],
                body: ByteBuffer(bytes: traces)
            ) { response in #expect(response.status == .ok) }
        }
    }

    @Test("CORS: a preflight for tag events from any page is allowed; one for OTLP is refused")
    func cors() async throws {
        try await Self.withServer { client, _, _ in
            let preflight: HTTPFields = [.origin: "https://shop.example", .accessControlRequestMethod: "POST"]
            try await client.execute(uri: "/v1/events", method: .options, headers: preflight) { response in
                #expect(response.status == .noContent)
                #expect(response.headers[.accessControlAllowOrigin] != nil)
            }
            try await client.execute(uri: "/v1/traces", method: .options, headers: preflight) { response in
                #expect(response.status == .forbidden)
                #expect(response.headers[.accessControlAllowOrigin] == nil)
            }
        }
    }

    @Test("limits: a body over the limit is 413 in the route's error form; a wrong media type is 415; GET is 405")
    func limits() async throws {
        try await Self.withServer(IngestConfiguration(maximumBodyBytes: 1024)) { client, spool, _ in
            let big = ByteBuffer(bytes: [UInt8](repeating: 0x20, count: 4096))
            try await client.execute(uri: "/v1/events", method: .post, headers: [.contentType: "application/json"], body: big) { response in
                #expect(response.status == .contentTooLarge)
                #expect(String(buffer: response.body).hasPrefix(#"{"error":"#))
            }
            try await client.execute(uri: "/v1/traces", method: .post, headers: [.contentType: "application/x-protobuf"], body: big) { response in
                #expect(response.status == .contentTooLarge)
                let status = try RPCStatus(serializedBytes: Array(buffer: response.body))
                #expect(status.code == 8)
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: [.contentType: "application/xml"], body: ByteBuffer(string: "<a/>")) {
                #expect($0.status == .unsupportedMediaType)
            }
            try await client.execute(uri: "/v1/traces", method: .get) { #expect($0.status == .methodNotAllowed) }
            #expect(try Self.spooled(spool).isEmpty)
        }
    }

    @Test("readiness comes from the injected database check and the spool; requests are counted by matched route")
    func readinessAndMetrics() async throws {
        try await Self.withServer(database: "connection refused") { client, _, registry in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(body?["database"] as? String == "unreachable: connection refused")
                #expect(body?["ready"] as? Bool == false)
            }
            for _ in 0..<3 {
                try await client.execute(uri: "/v1/events", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: "[")) {
                    #expect($0.status == .badRequest)
                }
            }
            try await client.execute(uri: "/no/such/route", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains(#"seam_http_requests_total{path="/v1/events",status="400"} 3"#))
                #expect(text.contains(#"seam_http_requests_total{path="/readyz",status="503"} 1"#))
                #expect(!text.contains("/no/such/route"))
            }
        }
    }

    // MARK: Segment

    static func basic(_ key: String) -> String { "Basic " + Data("\(key):".utf8).base64EncodedString() }

    @Test("Segment: the write key by Basic auth or in a text/plain body (analytics.js); any key is the source without tokens; a wrong or missing key is 401")
    func segmentWriteKeys() async throws {
        let track = #"{"event":"e","anonymousId":"a","messageId":"ajs-next-1"}"#
        try await Self.withServer { client, spool, _ in
            try await client.execute(uri: "/v1/t", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: #"{"writeKey":"wk_any","event":"e","anonymousId":"a"}"#)) { response in
                #expect(response.status == .ok)
            }
            let records = try Self.spooled(spool)
            let events = try TagEventFrames.decode(records[0].body, receivedMicros: records[0].receivedMicros)
            #expect(events.first?.source == "wk_any" && events.first?.callType == "track")
        }
        try await Self.withServer(IngestConfiguration(tokens: ["wk_web": "web", "svc": "backend"], browserTokens: ["wk_web"])) { client, spool, _ in
            try await client.execute(uri: "/v1/track", method: .post, headers: [.contentType: "application/json", .authorization: Self.basic("wk_web")], body: ByteBuffer(string: track)) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/v1/t", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: #"{"writeKey":"svc","event":"e","anonymousId":"a"}"#)) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/v1/track", method: .post, headers: [.authorization: Self.basic("nope")], body: ByteBuffer(string: track)) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("not an ingestion token"))
            }
            try await client.execute(uri: "/v1/track", method: .post, body: ByteBuffer(string: track)) { response in
                #expect(response.status == .unauthorized)
                #expect(String(buffer: response.body).contains("writeKey in the body"))
            }
            let sources = try Self.spooled(spool).flatMap { try TagEventFrames.decode($0.body, receivedMicros: $0.receivedMicros) }.map(\.source)
            #expect(sources == ["web", "backend"])
        }
    }

    @Test("Segment: a batch answers 200 listing what it refused; refused messages are spooled for lake.rejected before the accepted ones")
    func segmentBatch() async throws {
        try await Self.withServer { client, spool, _ in
            let body = #"{"batch":[{"type":"track","event":"e","userId":"u"},{"type":"track","userId":"u","messageId":"m-2"},{"type":"identify","userId":"u","anonymousId":"a","traits":{"plan":"pro"}}],"sentAt":"2026-11-25T10:00:00Z"}"#
            try await client.execute(uri: "/v1/batch", method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(string: body)) { response in
                #expect(response.status == .ok)
                let reply = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                #expect(reply?["success"] as? Bool == false && reply?["accepted"] as? Int == 2)
                let rejected = reply?["rejected"] as? [[String: Any]]
                #expect(rejected?.first?["index"] as? Int == 1 && rejected?.first?["messageId"] as? String == "m-2")
                #expect((rejected?.first?["reason"] as? String)?.hasPrefix("event: required") == true)
            }
            let records = try Self.spooled(spool)
            #expect(records.map(\.kind) == [.refused, .tagEvents])
            let refused = try RejectionFrames.decode(records[0].body)
            #expect(refused.map(\.source) == ["segment"] && refused.first?.recordIndex == 1)
            #expect(refused.first?.payload == Array(#"{"type":"track","userId":"u","messageId":"m-2"}"#.utf8))
            let events = try TagEventFrames.decode(records[1].body, receivedMicros: records[1].receivedMicros)
            #expect(events.map(\.name) == ["e", "identify"] && events[1].traits == #"{"plan":"pro"}"#)
        }
    }

    @Test("Segment: a body that is not JSON or over Segment's limits is 400 with a reason; the short paths and CORS preflights answer")
    func segmentLimits() async throws {
        try await Self.withServer { client, spool, _ in
            try await client.execute(uri: "/v1/batch", method: .post, body: ByteBuffer(string: #"{"batch": ["#)) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("not valid JSON"))
            }
            let big = #"{"event":"e","anonymousId":"a","properties":{"x":"\#(String(repeating: "y", count: 40_000))"}}"#
            try await client.execute(uri: "/v1/track", method: .post, body: ByteBuffer(string: big)) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("exceeds the limit of 32768 bytes"))
            }
            // The media type is compared without case and spaces; anything but JSON is 415.
            try await client.execute(
                uri: "/v1/track", method: .post, headers: [.contentType: " Application/JSON ; charset=utf-8"],
                body: ByteBuffer(string: #"{"event":"e","anonymousId":"a"}"#)
            ) { response in #expect(response.status == .ok) }
            try await client.execute(uri: "/v1/track", method: .post, headers: [.contentType: "application/jsonx"], body: ByteBuffer(string: "{}")) { response in
                #expect(response.status == .unsupportedMediaType)
                #expect(String(buffer: response.body).contains(#"got application\/jsonx"#))
            }
            for path in ["/v1/p", "/v1/i", "/v1/a", "/v1/g", "/v1/s", "/v1/b"] {
                try await client.execute(uri: path, method: .post, body: ByteBuffer(string: "{}")) { response in
                    #expect(response.status == (path == "/v1/b" ? .badRequest : .ok), "\(path)")
                }
                try await client.execute(
                    uri: path, method: .options, headers: [.origin: "https://shop.test", .accessControlRequestMethod: "POST"]
                ) { response in
                    #expect(response.status == .noContent, "\(path)")
                }
            }
            // The empty single calls above were refused one by one, each kept for lake.rejected.
            #expect(try Self.spooled(spool).filter { $0.kind == .refused }.count == 5)
            #expect(try Self.spooled(spool).filter { $0.kind == .tagEvents }.count == 1)
        }
    }

    // MARK: GA4

    @Test("GA4: collect answers 204 with no body and spools what it took and refused; debug answers validationMessages and stores nothing; api_secret is a token")
    func ga4() async throws {
        try await Self.withServer(IngestConfiguration(tokens: ["sec_1": "app"])) { client, spool, _ in
            let body = #"{"client_id":"c.1","events":[{"name":"purchase","params":{"value":3,"currency":"EUR"}},{"name":"first_visit"}]}"#
            try await client.execute(uri: "/mp/collect?measurement_id=G-1&api_secret=sec_1", method: .post, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .noContent && response.body.readableBytes == 0)
            }
            let records = try Self.spooled(spool)
            #expect(records.map(\.kind) == [.refused, .tagEvents])
            #expect(try RejectionFrames.decode(records[0].body).map(\.reason) == ["events[1].name: first_visit is a reserved event name"])
            #expect(try TagEventFrames.decode(records[1].body, receivedMicros: 0).map(\.source) == ["app"])
            try await client.execute(uri: "/debug/mp/collect?measurement_id=G-1&api_secret=sec_1", method: .post, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .ok)
                let reply = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                let messages = reply?["validationMessages"] as? [[String: String]]
                #expect(messages == [["fieldPath": "events[1].name", "description": "first_visit is a reserved event name", "validationCode": "NAME_RESERVED"]])
            }
            #expect(try Self.spooled(spool).count == 2, "debug stores nothing")
            try await client.execute(uri: "/mp/collect?measurement_id=G-1&api_secret=nope", method: .post, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/mp/collect?measurement_id=G-1", method: .post, body: ByteBuffer(string: body)) { response in
                #expect(response.status == .unauthorized)
            }
        }
    }
}
