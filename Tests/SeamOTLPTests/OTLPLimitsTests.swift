import Foundation
import SeamModel
import SwiftProtobuf
import Testing
import TestSupport

@testable import SeamOTLP

@Suite("OTLP limits")
struct OTLPLimitsTests {
    let limits = RecordLimits(receivedMicros: OTLPMappingTests.now)
    typealias Span = Opentelemetry_Proto_Trace_V1_Span

    static func span(_ byte: UInt8, attributes: [KeyValue] = []) -> Span {
        var span = Span()
        span.traceID = Data(repeating: 7, count: 16)
        span.spanID = Data(repeating: byte, count: 8)
        span.startTimeUnixNano = UInt64(OTLPMappingTests.now - 1_000_000) * 1000
        span.endTimeUnixNano = span.startTimeUnixNano + 5
        span.attributes = attributes
        return span
    }

    static func request(_ spans: [Span], resource: [KeyValue] = []) -> TraceExportRequest {
        var scope = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        scope.spans = spans
        var resourceSpans = Opentelemetry_Proto_Trace_V1_ResourceSpans()
        resourceSpans.resource.attributes = resource
        resourceSpans.scopeSpans = [scope]
        var request = TraceExportRequest()
        request.resourceSpans = [resourceSpans]
        return request
    }

    static func attribute(_ key: String, _ value: AnyValue) -> KeyValue {
        var kv = KeyValue()
        kv.key = key
        kv.value = value
        return kv
    }

    static func string(_ text: String) -> AnyValue {
        var value = AnyValue()
        value.stringValue = text
        return value
    }

    /// An array value nested `depth` levels (depth 1: a plain string).
    static func nested(_ depth: Int) -> AnyValue {
        var value = string("leaf")
        for _ in 1..<max(1, depth) {
            var outer = AnyValue()
            outer.arrayValue.values = [value]
            value = outer
        }
        return value
    }

    /// Protobuf bytes of an attribute value nested `depth` levels, built directly (swift-protobuf
    /// itself refuses to encode or decode beyond its own depth limit).
    static func deepRequestBytes(depth: Int, logs: Bool = false) -> [UInt8] {
        func field(_ number: UInt64, _ payload: [UInt8]) -> [UInt8] { varint(number << 3 | 2) + varint(UInt64(payload.count)) + payload }
        func varint(_ value: UInt64) -> [UInt8] {
            var value = value, out: [UInt8] = []
            repeat {
                out.append(UInt8(value & 0x7F) | (value >= 0x80 ? 0x80 : 0))
                value >>= 7
            } while value > 0
            return out
        }
        var any = field(1, Array("x".utf8))  // AnyValue.string_value
        for _ in 1..<depth { any = field(5, field(1, any)) }  // AnyValue.array_value → ArrayValue.values
        if logs {
            // request.resource_logs.scope_logs.log_records.attributes
            return field(1, field(2, field(2, field(6, field(1, Array("deep".utf8)) + field(2, any)))))
        }
        var span: [UInt8] = try! Self.span(1).serializedBytes()
        span += field(9, field(1, Array("deep".utf8)) + field(2, any))  // Span.attributes
        return field(1, field(2, field(2, span)))  // request.resource_spans.scope_spans.spans
    }

    @Test("attribute values nested to the depth limit are accepted; one deeper refuses the span, not the request")
    func depth() throws {
        let ok = try OTLPWire.validateTraces(try Self.request([Self.span(1, attributes: [Self.attribute("a", Self.nested(32))])]).serializedBytes(), limits: limits)
        #expect(ok.accepted == 1)
        let deep = try OTLPWire.validateTraces(
            try Self.request([Self.span(1, attributes: [Self.attribute("a", Self.nested(33))]), Self.span(2)]).serializedBytes(),
            limits: limits)
        #expect(deep.accepted == 1 && deep.rejected == 1)
        #expect(deep.problems.first?.contains("nested deeper than 32 levels") == true)
    }

    @Test("20,000 levels of nesting (the request that once crashed the loader) are judged without deep recursion, and mapping agrees")
    func veryDeep() throws {
        let bytes = Self.deepRequestBytes(depth: 20_000)
        let judged = try OTLPWire.validateTraces(bytes, limits: limits)
        #expect(judged.accepted == 0 && judged.rejected == 1)
        let mapped = try WireTraceMapper.map(bytes, limits: limits)
        #expect(mapped.records.isEmpty && mapped.rejected == 1 && mapped.problems == judged.problems)
        // swift-protobuf, used for logs, refuses it as too deep rather than recursing.
        #expect(throws: OTLPDecodeError.self) { try OTLPProtobuf.decode(LogsExportRequest.self, Self.deepRequestBytes(depth: 20_000, logs: true)) }
        // Within swift-protobuf's bound, the attribute limit refuses the record.
        let shallow = try OTLPProtobuf.decode(LogsExportRequest.self, Self.deepRequestBytes(depth: 33, logs: true))
        #expect(LogMapper.validate(shallow, limits: limits).problems.first?.contains("nested deeper than 32 levels") == true)
    }

    @Test("too many attributes, too long a value, or too long an identifier refuse the span with the limit named")
    func countsAndSizes() throws {
        let many = (0...1024).map { Self.attribute("k\($0)", Self.string("v")) }
        let long = Self.attribute("blob", Self.string(String(repeating: "x", count: 262_145)))
        let session = Self.attribute("session.id", Self.string(String(repeating: "s", count: 257)))
        let fine = Self.attribute("session.id", Self.string(String(repeating: "s", count: 256)))
        let batch = try OTLPWire.validateTraces(
            try Self.request([
                Self.span(1, attributes: many), Self.span(2, attributes: [long]), Self.span(3, attributes: [session]),
                Self.span(4, attributes: [fine]),
            ]).serializedBytes(), limits: limits)
        #expect(batch.accepted == 1 && batch.rejected == 3)
        #expect(batch.problems[0].contains("1025 attributes; at most 1024"))
        #expect(batch.problems[1].contains("262145 bytes"))
        #expect(batch.problems[2].contains("session.id is 257 bytes long"))
    }

    @Test("a resource breaking a limit refuses every span under it")
    func resourceLimit() throws {
        let resource = [Self.attribute("service.name", Self.string(String(repeating: "x", count: 300)))]
        let batch = try OTLPWire.validateTraces(try Self.request([Self.span(1), Self.span(2)], resource: resource).serializedBytes(), limits: limits)
        #expect(batch.accepted == 0 && batch.rejected == 2)
        #expect(batch.problems.allSatisfy { $0.contains("resource: service.name is 300 bytes long") })
    }

    @Test("log records: the same limits through swift-protobuf decoding, in validation and mapping alike")
    func logs() throws {
        var request = LogsExportRequest()
        var resourceLogs = Opentelemetry_Proto_Logs_V1_ResourceLogs()
        var scopeLogs = Opentelemetry_Proto_Logs_V1_ScopeLogs()
        for (index, attributes) in [
            [Self.attribute("feature_flag.key", Self.string(String(repeating: "f", count: 257)))],
            [Self.attribute("a", Self.nested(33))], [Self.attribute("a", Self.nested(32))],
        ].enumerated() {
            var log = Opentelemetry_Proto_Logs_V1_LogRecord()
            log.timeUnixNano = UInt64(OTLPMappingTests.now - 1_000_000 + Int64(index)) * 1000
            log.attributes = attributes
            scopeLogs.logRecords.append(log)
        }
        resourceLogs.scopeLogs = [scopeLogs]
        request.resourceLogs = [resourceLogs]
        let decoded = try OTLPProtobuf.decode(LogsExportRequest.self, try request.serializedBytes() as [UInt8])
        let validated = LogMapper.validate(decoded, limits: limits)
        let mapped = LogMapper.map(decoded, limits: limits)
        #expect(validated.accepted == 1 && validated.rejected == 2)
        #expect(mapped.records.count == 1 && mapped.problems == validated.problems)
        #expect(validated.problems[0].contains("feature_flag.key is 257 bytes long"))
        #expect(validated.problems[1].contains("nested deeper than 32 levels"))
    }

    @Test("JSON traces are judged on the wire: nesting beyond the JSON limit is refused before parsing")
    func jsonDepth() throws {
        let deep = String(repeating: #"{"arrayValue":{"values":["#, count: 200) + #"{"stringValue":"x"}"# + String(repeating: "]}}", count: 200)
        let body = #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":"# + deep + "}]}]}]}]}"
        #expect(throws: OTLPDecodeError.self) { try OTLPJSON.traces(Array(body.utf8)) }
    }
}

@Suite("OTLP acknowledgement and loader agree")
struct OTLPAgreementPropertyTests {
    @Test("for 20,000 mutations of valid requests: whatever the judgement accepts, the loader maps, one for one")
    func mutations() throws {
        let limits = RecordLimits(receivedMicros: OTLPMappingTests.now, maximumAgeMicros: nil)
        let seeds: [[UInt8]] = [
            try OTLPJSON.traces(Array(OTLPMappingTests.traceJSON.utf8)).serializedBytes(),
            OTLPLimitsTests.deepRequestBytes(depth: 40),
            try OTLPLimitsTests.request([
                OTLPLimitsTests.span(1, attributes: [OTLPLimitsTests.attribute("session.id", OTLPLimitsTests.string("s"))]),
                OTLPLimitsTests.span(2, attributes: [OTLPLimitsTests.attribute("a", OTLPLimitsTests.nested(5))]),
            ]).serializedBytes(),
        ]
        var random = SplitMix64(seed: 12)
        var judgedAny = 0
        for round in 0..<20_000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                guard !bytes.isEmpty else { break }
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[at] ^= UInt8.random(in: 1...255, using: &random)
                case 1: bytes.removeSubrange(at...)
                case 2: bytes.insert(UInt8.random(in: 0...255, using: &random), at: at)
                default: bytes.remove(at: at)
                }
            }
            guard let judged = try? OTLPWire.validateTraces(bytes, limits: limits) else { continue }
            judgedAny += 1
            let mapped = try WireTraceMapper.map(bytes, limits: limits)
            #expect(mapped.records.count == judged.accepted, "round \(round)")
            #expect(mapped.problems == judged.problems, "round \(round)")
        }
        #expect(judgedAny > 800, "too few mutations parsed to test anything")
    }
}
