import Foundation
import SeamModel
import SwiftProtobuf
import Testing

@testable import SeamOTLP

@Suite("OTLP decoding and mapping")
struct OTLPMappingTests {
    static let now: Int64 = 1_795_262_400_000_000  // 2026-11-21T12:00:00Z in microseconds
    let limits = RecordLimits(receivedMicros: now)
    static let nanos = "1795262399000000000"  // one second earlier

    static let traceJSON = #"""
        {"resourceSpans":[{
          "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"checkout"}},
                                    {"key":"session.id","value":{"stringValue":"sess-from-resource"}}]},
          "scopeSpans":[{"scope":{"name":"io.opentelemetry.http","version":"2.1"},"spans":[
            {"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","parentSpanId":"1111111111111111",
             "traceState":"vendor=x","name":"GET /product/{id}","kind":2,
             "startTimeUnixNano":"1795262399000000000","endTimeUnixNano":1795262399250000000,
             "attributes":[{"key":"http.route","value":{"stringValue":"/product/{id}"}},
                           {"key":"http.request.method","value":{"stringValue":"GET"}},
                           {"key":"http.response.status_code","value":{"intValue":"503"}},
                           {"key":"enduser.id","value":{"stringValue":"u42"}},
                           {"key":"retry","value":{"boolValue":true}},
                           {"key":"ratio","value":{"doubleValue":0.25}},
                           {"key":"tags","value":{"arrayValue":{"values":[{"stringValue":"a"},{"intValue":2}]}}},
                           {"key":"blob","value":{"bytesValue":"AAEC"}},
                           {"key":"map","value":{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}}]}}}],
             "events":[{"timeUnixNano":"1795262399100000000","name":"cache.miss","attributes":[{"key":"key","value":{"stringValue":"p42"}}]}],
             "links":[{"traceId":"5bf92f3577b34da6a3ce929d0e0e4736","spanId":"22f067aa0ba902b7","attributes":[]}],
             "status":{"code":2,"message":"upstream down"},
             "someFutureField":{"x":1}},
            {"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"33f067aa0ba902b7","name":"snake_case",
             "start_time_unix_nano":"1795262399000000000","end_time_unix_nano":"1795262399000000001"}
          ]}]}]}
        """#

    @Test("OTLP JSON maps every span field: hex ids, string and numeric int64, snake_case, unknown fields ignored")
    func traceJSONMapping() throws {
        let request = try OTLPJSON.traces(Array(Self.traceJSON.utf8))
        let batch = TraceMapper.map(request, limits: limits)
        #expect(batch.rejected == 0)
        #expect(batch.records.count == 2)
        let span = try #require(batch.records.first)
        #expect(TraceIDs.hex(span.traceID) == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(TraceIDs.hex(span.spanID) == "00f067aa0ba902b7")
        #expect(TraceIDs.hex(span.parentSpanID ?? []) == "1111111111111111")
        #expect(span.traceState == "vendor=x")
        #expect(span.name == "GET /product/{id}")
        #expect(span.kind == 2)
        #expect(span.serviceName == "checkout")
        #expect(span.startMicros == Self.now - 1_000_000)
        #expect(span.endMicros == Self.now - 750_000)
        #expect(span.statusCode == 2 && span.statusMessage == "upstream down")
        #expect(span.sessionID == "sess-from-resource")
        #expect(span.userID == "u42")
        #expect(span.httpRoute == "/product/{id}" && span.httpMethod == "GET" && span.httpStatusCode == 503)
        #expect(span.scopeName == "io.opentelemetry.http" && span.scopeVersion == "2.1")
        let attributes = try JSONSerialization.jsonObject(with: Data(span.attributes.utf8)) as? [String: Any]
        #expect(attributes?["retry"] as? Bool == true)
        #expect(attributes?["ratio"] as? Double == 0.25)
        #expect((attributes?["tags"] as? [Any])?.count == 2)
        #expect(attributes?["blob"] as? String == "AAEC")
        #expect((attributes?["map"] as? [String: String])?["k"] == "v")
        #expect(span.resource.contains("\"service.name\":\"checkout\""))
        #expect(span.events.contains("\"name\":\"cache.miss\"") && span.events.contains("2026-11-21T11:59:59.100000Z"))
        #expect(span.links.contains("5bf92f3577b34da6a3ce929d0e0e4736"))
        #expect(batch.records[1].name == "snake_case")
        #expect(batch.records[1].endMicros == batch.records[1].startMicros)  // sub-microsecond span
    }

    @Test("protobuf and JSON of the same request map to the same records")
    func protobufMatchesJSON() throws {
        let fromJSON = try OTLPJSON.traces(Array(Self.traceJSON.utf8))
        let bytes: [UInt8] = try fromJSON.serializedBytes()
        let fromProtobuf = try TraceExportRequest(serializedBytes: bytes)
        #expect(TraceMapper.map(fromProtobuf, limits: limits).records == TraceMapper.map(fromJSON, limits: limits).records)
    }

    @Test("invalid spans are refused one by one with reasons; valid ones pass")
    func spanValidation() throws {
        func span(_ fields: String) -> String {
            #"{"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","name":"s","startTimeUnixNano":"\#(Self.nanos)","endTimeUnixNano":"\#(Self.nanos)"\#(fields)}"#
        }
        let spans = [
            span(""),
            span(#","traceId":"00000000000000000000000000000000""#),
            span(#","traceId":"4bf92f35""#),
            span(#","spanId":"zz""#),
            span(#","endTimeUnixNano":"1795262398000000000""#),
            span(#","startTimeUnixNano":"1895262399000000000","endTimeUnixNano":"1895262399000000000""#),
            span(#","startTimeUnixNano":"1595262399000000000","endTimeUnixNano":"1595262399000000000""#),
            span(#","parentSpanId":"0011""#),
        ]
        let json = #"{"resourceSpans":[{"scopeSpans":[{"spans":[\#(spans.joined(separator: ","))]}]}]}"#
        let batch = TraceMapper.map(try OTLPJSON.traces(Array(json.utf8)), limits: limits)
        #expect(batch.records.count == 1)
        #expect(batch.rejected == 7)
        #expect(batch.problems.count == 5)
        #expect(batch.problems[0].contains("span 1") && batch.problems[0].contains("trace_id must be 16 bytes"))
        #expect(batch.problems[1].contains("got 4 bytes"))
        #expect(batch.problems[2].contains("span_id"))
        #expect(batch.problems[3].contains("end_time_unix_nano is before start_time_unix_nano"))
        #expect(batch.problems[4].contains("future"))
        #expect(batch.message.hasPrefix("7 rejected: "))
    }

    @Test("log records map times, ids, body, severity and feature-flag attributes")
    func logMapping() throws {
        let json = #"""
            {"resource_logs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"web"}}]},
              "scope_logs":[{"scope":{"name":"flags"},"log_records":[
                {"time_unix_nano":"1795262399000000000","observed_time_unix_nano":"1795262399500000000",
                 "severity_number":9,"severity_text":"INFO","event_name":"feature_flag.evaluation",
                 "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","flags":1,
                 "body":{"string_value":"evaluated"},
                 "attributes":[{"key":"feature_flag.key","value":{"stringValue":"reco-v2"}},
                               {"key":"feature_flag.variant","value":{"stringValue":"treatment"}},
                               {"key":"feature_flag.context.id","value":{"stringValue":"user-7"}},
                               {"key":"session.id","value":{"stringValue":"s7"}}]},
                {"observedTimeUnixNano":"1795262399000000000","body":{"kvlistValue":{"values":[{"key":"a","value":{"intValue":1}}]}}},
                {"traceId":"abcd","body":{"stringValue":"bad id"}}
              ]}]}]}
            """#
        let batch = LogMapper.map(try OTLPJSON.logs(Array(json.utf8)), limits: limits)
        #expect(batch.records.count == 2)
        #expect(batch.rejected == 1)
        #expect(batch.problems.first?.contains("log record 2: trace_id") == true)
        let flag = batch.records[0]
        #expect(flag.timeMicros == Self.now - 1_000_000)
        #expect(flag.observedMicros == Self.now - 500_000)
        #expect(flag.severityNumber == 9 && flag.severityText == "INFO")
        #expect(flag.eventName == "feature_flag.evaluation")
        #expect(flag.flagKey == "reco-v2" && flag.flagVariant == "treatment" && flag.flagContextID == "user-7")
        #expect(flag.sessionID == "s7" && flag.serviceName == "web" && flag.scopeName == "flags")
        #expect(flag.traceFlags == 1 && TraceIDs.hex(flag.spanID ?? []) == "00f067aa0ba902b7")
        #expect(flag.body == "evaluated")
        let structured = batch.records[1]
        #expect(structured.timeMicros == Self.now - 1_000_000)  // observed time stands in for a missing time
        #expect(structured.body == #"{"a":1}"#)
        #expect(structured.traceID == nil)
    }

    @Test("malformed JSON requests are refused with the path of the problem")
    func malformedJSON() {
        let cases: [(String, String)] = [
            ("[]", "body must be a JSON object"),
            ("{", "not valid JSON"),
            (#"{"resourceSpans":{}}"#, "resourceSpans: must be an array"),
            (#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":"soon"}]}]}]}"#, "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano"),
            (#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":7}]}]}]}"#, "traceId: must be a hex string"),
        ]
        for (json, expected) in cases {
            do {
                _ = try OTLPJSON.traces(Array(json.utf8))
                Issue.record("accepted \(json)")
            } catch {
                #expect(error.message.contains(expected), "\(error.message) should mention \(expected)")
            }
        }
    }

    @Test("attribute JSON escapes control characters and keeps non-finite doubles as strings")
    func attributeJSON() throws {
        var kv = KeyValue()
        kv.key = "q\"uote"
        kv.value.stringValue = "line\nbreak\u{1}"
        var nan = KeyValue()
        nan.key = "nan"
        nan.value.doubleValue = .nan
        let text = Attributes.json([kv, nan])
        let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        #expect(parsed?["q\"uote"] as? String == "line\nbreak\u{1}")
        #expect(parsed?["nan"] as? String == "NaN")
    }
}

@Suite("OTLP wire validation")
struct OTLPWireTests {
    let limits = RecordLimits(receivedMicros: OTLPMappingTests.now)

    @Test("the wire validator agrees with decoding + TraceMapper on valid and invalid spans")
    func agreesWithMapper() throws {
        var requests: [TraceExportRequest] = [try OTLPJSON.traces(Array(OTLPMappingTests.traceJSON.utf8))]
        var mixed = TraceExportRequest()
        var rs = Opentelemetry_Proto_Trace_V1_ResourceSpans()
        var ss = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        let start = UInt64(OTLPMappingTests.now - 1_000_000) * 1000
        for variant in 0..<9 {
            var span = Opentelemetry_Proto_Trace_V1_Span()
            span.traceID = Data(repeating: 7, count: variant == 1 ? 15 : 16)
            span.spanID = Data(repeating: variant == 2 ? 0 : 9, count: 8)
            if variant == 3 { span.parentSpanID = Data([1, 2]) }
            span.startTimeUnixNano = variant == 4 ? 0 : start
            span.endTimeUnixNano = variant == 5 ? start - 1 : start + 5
            if variant == 6 { span.startTimeUnixNano = start + 3 * 86_400_000_000_000; span.endTimeUnixNano = span.startTimeUnixNano }
            var kv = Opentelemetry_Proto_Common_V1_KeyValue()
            kv.key = "nested"
            kv.value.kvlistValue.values = [kv]
            span.attributes = [kv]
            ss.spans.append(span)
        }
        rs.scopeSpans = [ss]
        mixed.resourceSpans = [rs]
        requests.append(mixed)
        for request in requests {
            let bytes: [UInt8] = try request.serializedBytes()
            let wire = try OTLPWire.validateTraces(bytes, limits: limits)
            let decoded = TraceMapper.validate(try TraceExportRequest(serializedBytes: bytes), limits: limits)
            #expect(wire.accepted == decoded.accepted)
            #expect(wire.rejected == decoded.rejected)
            #expect(wire.problems == decoded.problems)
        }
    }

    @Test("malformed protobuf is refused by the wire validator as by swift-protobuf")
    func malformed() throws {
        let valid: [UInt8] = try OTLPJSON.traces(Array(OTLPMappingTests.traceJSON.utf8)).serializedBytes()
        let cases: [[UInt8]] = [
            Array(valid.prefix(valid.count - 3)),  // truncated
            [0x0A, 0x7F],  // length past the end
            [0x0B],  // group wire type
            [0x0A, 0x02, 0x12, 0x05],  // nested length past its message
            [0x08],  // field 1 as an unfinished varint
        ]
        for bytes in cases {
            #expect(throws: OTLPDecodeError.self) { try OTLPWire.validateTraces(bytes, limits: limits) }
            #expect(throws: (any Error).self) { try TraceExportRequest(serializedBytes: bytes) }
        }
    }
}

@Suite("OTLP wire mapping")
struct WireTraceMapperTests {
    let limits = RecordLimits(receivedMicros: OTLPMappingTests.now)

    @Test("records read from the wire equal decoded-and-mapped records")
    func equalToDecodedMapping() throws {
        var requests: [TraceExportRequest] = [try OTLPJSON.traces(Array(OTLPMappingTests.traceJSON.utf8))]
        // Duplicate keys, empty values, nested maps, unicode and escapes, every value type.
        var request = TraceExportRequest()
        var rs = Opentelemetry_Proto_Trace_V1_ResourceSpans()
        func kv(_ key: String, _ set: (inout Opentelemetry_Proto_Common_V1_AnyValue) -> Void) -> Opentelemetry_Proto_Common_V1_KeyValue {
            var kv = Opentelemetry_Proto_Common_V1_KeyValue()
            kv.key = key
            set(&kv.value)
            return kv
        }
        rs.resource.attributes = [kv("service.name") { $0.stringValue = "svc ü" }, kv("user.id") { $0.intValue = 42 }]
        var ss = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        ss.scope.name = "scope"
        var span = Opentelemetry_Proto_Trace_V1_Span()
        span.traceID = Data(repeating: 3, count: 16)
        span.spanID = Data(repeating: 4, count: 8)
        span.parentSpanID = Data(repeating: 0, count: 8)
        span.name = "naïve \"quoted\"\n"
        span.kind = .client
        span.startTimeUnixNano = UInt64(OTLPMappingTests.now - 5_000_000) * 1000 + 999
        span.endTimeUnixNano = span.startTimeUnixNano + 1_234_567
        span.status.code = .ok
        var nested = Opentelemetry_Proto_Common_V1_KeyValueList()
        nested.values = [kv("inner") { $0.doubleValue = -0.5 }, kv("nan") { $0.doubleValue = .nan }]
        var array = Opentelemetry_Proto_Common_V1_ArrayValue()
        array.values = [Opentelemetry_Proto_Common_V1_AnyValue(), { var v = Opentelemetry_Proto_Common_V1_AnyValue(); v.boolValue = false; return v }()]
        span.attributes = [
            kv("session.id") { $0.stringValue = "first" }, kv("session.id") { $0.stringValue = "second" },
            kv("http.status_code") { $0.stringValue = "404" }, kv("http.method") { $0.stringValue = "PUT" },
            kv("map") { $0.kvlistValue = nested }, kv("list") { $0.arrayValue = array }, kv("raw") { $0.bytesValue = Data([0, 255]) },
            kv("empty") { _ in }, kv("tab\tkey") { $0.stringValue = "ctrl\u{1}" },
        ]
        var event = Opentelemetry_Proto_Trace_V1_Span.Event()
        event.timeUnixNano = span.startTimeUnixNano + 10
        event.name = "evt"
        event.attributes = [kv("k") { $0.intValue = -7 }]
        span.events = [event]
        var link = Opentelemetry_Proto_Trace_V1_Span.Link()
        link.traceID = Data(repeating: 9, count: 16)
        link.spanID = Data(repeating: 8, count: 8)
        link.traceState = "a=b"
        span.links = [link]
        var invalid = span
        invalid.traceID = Data()
        ss.spans = [span, invalid]
        rs.scopeSpans = [ss]
        request.resourceSpans = [rs]
        requests.append(request)

        for request in requests {
            let bytes: [UInt8] = try request.serializedBytes()
            let wire = try WireTraceMapper.map(bytes, limits: limits)
            let decoded = TraceMapper.map(try TraceExportRequest(serializedBytes: bytes), limits: limits)
            #expect(wire.records == decoded.records)
            #expect(wire.problems == decoded.problems)
            #expect(wire.accepted == decoded.accepted)
        }
    }
}
