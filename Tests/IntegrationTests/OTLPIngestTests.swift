import CompressNIO
import Foundation
import NIOCore
import SeamIngest
import SeamLoader
import SeamModel
import SeamOTLP
import SeamPostgres
import SwiftProtobuf
import DatabaseSupport
import Testing

@Suite("OTLP/HTTP ingestion", .requiresPostgres)
struct OTLPIngestTests {
    static func nowNanos(_ offsetSeconds: Double = 0) -> UInt64 {
        UInt64((Date().timeIntervalSince1970 + offsetSeconds) * 1e9)
    }

    static func traces(count: Int, traceByte: UInt8 = 0x4b, bad: Int? = nil) -> TraceExportRequest {
        var request = TraceExportRequest()
        var resourceSpans = Opentelemetry_Proto_Trace_V1_ResourceSpans()
        var service = Opentelemetry_Proto_Common_V1_KeyValue()
        service.key = "service.name"
        service.value.stringValue = "catalog"
        resourceSpans.resource.attributes = [service]
        var scope = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        for i in 0..<count {
            var span = Opentelemetry_Proto_Trace_V1_Span()
            span.traceID = Data([traceByte] + Array(repeating: UInt8(i % 250 + 1), count: 15))
            span.spanID = Data(Array(repeating: UInt8(i % 250 + 1), count: 7) + [0x01])
            span.name = "span-\(i)"
            span.kind = .server
            span.startTimeUnixNano = nowNanos(-1)
            span.endTimeUnixNano = i == bad ? nowNanos(-2) : nowNanos()
            var route = Opentelemetry_Proto_Common_V1_KeyValue()
            route.key = "http.route"
            route.value.stringValue = "/items/{id}"
            span.attributes = [route]
            scope.spans.append(span)
        }
        resourceSpans.scopeSpans = [scope]
        request.resourceSpans = [resourceSpans]
        return request
    }

    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        var buffer = ByteBuffer(bytes: bytes)
        var compressed = try buffer.compress(with: .gzip())
        return compressed.readBytes(length: compressed.readableBytes)!
    }

    @Test("protobuf + gzip: stored, answered in protobuf; a resent request adds nothing")
    func protobufGzip() async throws {
        try await IngestHarness.with { h in
            let body = try Self.gzip(try Self.traces(count: 50).serializedBytes())
            let headers = ["Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"]
            let (reply, raw) = try await h.request("POST", "/v1/traces", bytes: body, headers: headers)
            #expect(reply.status == 200)
            #expect(reply.headers["content-type"] == "application/x-protobuf")
            let response = try TraceExportResponse(serializedBytes: raw)
            #expect(!response.hasPartialSuccess)
            _ = try await h.loader.drain()
            #expect(try await h.request("POST", "/v1/traces", bytes: body, headers: headers).reply.status == 200)
            _ = try await h.loader.drain()
            let c = try h.connect()
            #expect(try c.query("SELECT count(*) FROM lake.spans").scalar(Int.self) == 50)
            #expect(try c.query("SELECT count(DISTINCT service_name) FROM lake.spans WHERE service_name = 'catalog' AND http_route = '/items/{id}' AND kind = 2").scalar(Int.self) == 1)
            #expect(h.loader.totals.spansStored == 50)
            #expect(h.loader.totals.spanDuplicates == 50)
        }
    }

    @Test("invalid spans come back as partial success; the valid ones are stored")
    func partialSuccess() async throws {
        try await IngestHarness.with { h in
            let body: [UInt8] = try Self.traces(count: 4, bad: 2).serializedBytes()
            let (reply, raw) = try await h.request("POST", "/v1/traces", bytes: body, headers: ["Content-Type": "application/x-protobuf"])
            #expect(reply.status == 200)
            let response = try TraceExportResponse(serializedBytes: raw)
            #expect(response.partialSuccess.rejectedSpans == 1)
            #expect(response.partialSuccess.errorMessage.contains("span 2"))
            #expect(response.partialSuccess.errorMessage.contains("end_time_unix_nano is before start_time_unix_nano"))
            _ = try await h.loader.drain()
            #expect(try h.connect().query("SELECT count(*) FROM lake.spans").scalar(Int.self) == 3)
        }
    }

    @Test("JSON requests get JSON answers; partial success is camelCase JSON")
    func json() async throws {
        try await IngestHarness.with { h in
            let json = try Self.traces(count: 2, traceByte: 0x5c, bad: 1).jsonString()
            // swift-protobuf writes ids as base64; OTLP JSON wants hex, so rewrite them as a client would.
            var object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
            var rs = (object["resourceSpans"] as! [[String: Any]])[0]
            var ss = (rs["scopeSpans"] as! [[String: Any]])[0]
            ss["spans"] = (ss["spans"] as! [[String: Any]]).map { span in
                var span = span
                for key in ["traceId", "spanId"] {
                    span[key] = TraceIDs.hex([UInt8](Data(base64Encoded: span[key] as! String)!))
                }
                return span
            }
            rs["scopeSpans"] = [ss]
            object["resourceSpans"] = [rs]
            let body = try JSONSerialization.data(withJSONObject: object)
            let (reply, raw) = try await h.request("POST", "/v1/traces", bytes: [UInt8](body), headers: ["Content-Type": "application/json"])
            #expect(reply.status == 200)
            #expect(reply.headers["content-type"] == "application/json")
            let parsed = try JSONSerialization.jsonObject(with: Data(raw)) as? [String: Any]
            let partial = parsed?["partialSuccess"] as? [String: Any]
            #expect(partial?["rejectedSpans"] as? String == "1")
            _ = try await h.loader.drain()
            #expect(
                try h.connect().query("SELECT encode(trace_id, 'hex') FROM lake.spans").scalar(String.self)
                    == "5c" + String(repeating: "01", count: 15))
        }
    }

    @Test("undecodable bodies get 400 with a google.rpc.Status in the request's encoding")
    func badRequests() async throws {
        try await IngestHarness.with { h in
            let (protobuf, raw) = try await h.request(
                "POST", "/v1/traces", bytes: [0xFF, 0xFF, 0xFF], headers: ["Content-Type": "application/x-protobuf"])
            #expect(protobuf.status == 400)
            let status = try RPCStatus(serializedBytes: raw)
            #expect(status.code == 3)
            #expect(status.message.contains("cannot decode"))
            let json = try await h.request("POST", "/v1/logs", body: "{\"resourceLogs\": 5}")
            #expect(json.status == 400)
            #expect((json.json["message"] as? String)?.contains("resourceLogs: must be an array") == true)
            let gzipped = try await h.request(
                "POST", "/v1/traces", bytes: [1, 2, 3], headers: ["Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"])
            #expect(gzipped.reply.status == 400)
            #expect(try await h.request("POST", "/v1/traces", body: "x", headers: ["Content-Type": "text/plain"]).status == 415)
            #expect(try await h.request("GET", "/v1/traces").status == 405)
            let brotli = try await h.request(
                "POST", "/v1/traces", bytes: [1], headers: ["Content-Type": "application/x-protobuf", "Content-Encoding": "br"])
            #expect(brotli.reply.status == 415)
        }
    }

    @Test("a full spool answers OTLP clients 503 with Retry-After and a google.rpc.Status")
    func spoolFull() async throws {
        try await IngestHarness.with(spoolBytes: 1 << 20) { h in
            var last: (reply: IngestHarness.Reply, body: [UInt8])?
            for round in 0..<60 {
                var request = Self.traces(count: 50, traceByte: UInt8(round + 1))
                for i in request.resourceSpans[0].scopeSpans[0].spans.indices {
                    var noise = Opentelemetry_Proto_Common_V1_KeyValue()
                    noise.key = "noise"
                    noise.value.bytesValue = Data((0..<1000).map { _ in UInt8.random(in: 0...255) })  // defeats LZ4
                    request.resourceSpans[0].scopeSpans[0].spans[i].attributes.append(noise)
                }
                last = try await h.request(
                    "POST", "/v1/traces", bytes: try request.serializedBytes(), headers: ["Content-Type": "application/x-protobuf"])
                if last?.reply.status != 200 { break }
            }
            let reply = try #require(last)
            #expect(reply.reply.status == 503)
            #expect(reply.reply.headers["retry-after"] == "5")
            let status = try RPCStatus(serializedBytes: reply.body)
            #expect(status.code == 14)
            #expect(status.message.contains("spool is full"))
        }
    }

    @Test("a gzip bomb is cut off at the body limit with 413, without inflating it all")
    func gzipBomb() async throws {
        try await IngestHarness.with(configuration: .init(host: "127.0.0.1", port: 0, maximumBodyBytes: 1 << 20)) { h in
            let bomb = try Self.gzip([UInt8](repeating: 0, count: 64 << 20))  // 64 MiB of zeros, ~64 KiB compressed
            #expect(bomb.count < 1 << 20)
            let reply = try await h.request(
                "POST", "/v1/traces", bytes: bomb, headers: ["Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"])
            #expect(reply.reply.status == 413)
        }
    }

    @Test("a span PostgreSQL refuses goes to lake.rejected as the bytes the client sent; the rest of its request is stored")
    func refusedSpan() async throws {
        try await IngestHarness.with { h in
            var request = Self.traces(count: 3, traceByte: 0x6d)
            var nul = Opentelemetry_Proto_Common_V1_KeyValue()
            nul.key = "note"
            nul.value.stringValue = "a\u{0}b"  // valid OTLP, but jsonb refuses NUL characters
            request.resourceSpans[0].scopeSpans[0].spans[1].attributes.append(nul)
            let body: [UInt8] = try request.serializedBytes()
            #expect(try await h.request("POST", "/v1/traces", bytes: body, headers: ["Content-Type": "application/x-protobuf"]).reply.status == 200)
            _ = try await h.loader.drain()
            let c = try h.connect()
            #expect(try c.query("SELECT count(*) FROM lake.spans").scalar(Int.self) == 2)
            let rejected = try #require(try c.query("SELECT source, reason, payload, content_type FROM lake.rejected").first)
            #expect(try rejected[0].decode(String.self) == "traces")
            #expect(try rejected[1].decode(String.self).contains("22P05") || rejected[1].decode(String.self).contains("unsupported Unicode"))
            #expect(try rejected[3].decode(String.self) == "application/x-protobuf")
            // The span's own message, byte for byte as it was in the request.
            let payload = try rejected[2].decode([UInt8].self)
            let sent: [UInt8] = try request.resourceSpans[0].scopeSpans[0].spans[1].serializedBytes()
            #expect(payload == sent)
            #expect(body.firstRange(of: payload) != nil)
            let span = try Opentelemetry_Proto_Trace_V1_Span(serializedBytes: payload)
            #expect(span.name == "span-1")
        }
    }

    @Test("a log record PostgreSQL refuses goes to lake.rejected as the bytes the client sent; the others are stored")
    func refusedLogRecord() async throws {
        try await IngestHarness.with { h in
            var request = LogsExportRequest()
            var scope = Opentelemetry_Proto_Logs_V1_ScopeLogs()
            for i in 0..<3 {
                var record = Opentelemetry_Proto_Logs_V1_LogRecord()
                record.timeUnixNano = UInt64(Self.nowNanos())
                record.body.stringValue = "record \(i)"
                var note = Opentelemetry_Proto_Common_V1_KeyValue()
                note.key = "note"
                note.value.stringValue = i == 1 ? "a\u{0}b" : "fine"  // jsonb refuses NUL characters
                record.attributes.append(note)
                scope.logRecords.append(record)
            }
            var resource = Opentelemetry_Proto_Logs_V1_ResourceLogs()
            resource.scopeLogs = [scope]
            request.resourceLogs = [resource]
            let body: [UInt8] = try request.serializedBytes()
            #expect(try await h.request("POST", "/v1/logs", bytes: body, headers: ["Content-Type": "application/x-protobuf"]).reply.status == 200)
            _ = try await h.loader.drain()
            let c = try h.connect()
            #expect(try c.query("SELECT count(*) FROM lake.logs").scalar(Int.self) == 2)
            let rejected = try #require(try c.query("SELECT source, payload, content_type FROM lake.rejected").first)
            #expect(try rejected[0].decode(String.self) == "logs")
            #expect(try rejected[2].decode(String.self) == "application/x-protobuf")
            let payload = try rejected[1].decode([UInt8].self)
            #expect(payload == (try scope.logRecords[1].serializedBytes() as [UInt8]))
            #expect(body.firstRange(of: payload) != nil)
        }
    }

    @Test("feature-flag evaluations land in typed columns; an identical record resent is stored once")
    func logs() async throws {
        try await IngestHarness.with { h in
            let now = Self.nowNanos()
            let body = #"""
                {"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},
                  "scopeLogs":[{"logRecords":[{"timeUnixNano":"\#(now)","eventName":"feature_flag.evaluation","severityNumber":9,
                    "attributes":[{"key":"feature_flag.key","value":{"stringValue":"reco"}},
                                  {"key":"feature_flag.result.variant","value":{"stringValue":"B"}},
                                  {"key":"feature_flag.context.id","value":{"stringValue":"u1"}}]}]}]}]}
                """#
            #expect(try await h.request("POST", "/v1/logs", body: body).status == 200)
            #expect(try await h.request("POST", "/v1/logs", body: body).status == 200)
            _ = try await h.loader.drain()
            let c = try h.connect()
            let row = try #require(try c.query("SELECT flag_key, flag_variant, flag_context_id, event_name, service_name, count(*) OVER () FROM lake.logs").first)
            #expect(try row[0].decode(String.self) == "reco")
            #expect(try row[1].decode(String.self) == "B")
            #expect(try row[2].decode(String.self) == "u1")
            #expect(try row[3].decode(String.self) == "feature_flag.evaluation")
            #expect(try row[4].decode(String.self) == "web")
            #expect(try row[5].decode(Int.self) == 1)
        }
    }
}
