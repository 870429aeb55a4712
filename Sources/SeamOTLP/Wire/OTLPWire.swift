import SeamModel

/// Validation of protobuf `ExportTraceServiceRequest`s straight from the wire, without
/// decoding them into messages: the acknowledgement path needs only a verdict per span
/// (ids, times) and a check that the request is well-formed protobuf.
///
/// It walks every message of the request with the OTLP schema — tags, wire types and
/// lengths of spans, attributes (nested arrays and maps too), events, links, resources and
/// scopes — reading only the span fields that validation needs, and allocating nothing per
/// attribute. It does not check that strings are valid UTF-8; a request carrying invalid
/// UTF-8 is acknowledged and stored with U+FFFD in place of the invalid bytes.
/// The loader (`WireTraceMapper`) maps only the spans this judgement accepted.
public enum OTLPWire {
    public static func validateTraces(_ body: [UInt8], limits: RecordLimits) throws(OTLPDecodeError) -> MappedBatch<SpanRecord> {
        let outcome: Result<MappedBatch<SpanRecord>, OTLPDecodeError> = body.withUnsafeBytes { raw in
            do throws(OTLPDecodeError) {
                return .success(try judgeTraces(raw, limits: limits).batch)
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    /// The byte range of every `LogRecord` message of an `ExportLogsServiceRequest`, in the
    /// order swift-protobuf decodes them (wire order): so a log record the lake refuses can
    /// be kept as the client's own bytes.
    public static func logRecordRanges(_ body: [UInt8]) throws(OTLPDecodeError) -> [Range<Int>] {
        let outcome: Result<[Range<Int>], OTLPDecodeError> = body.withUnsafeBytes { raw in
            do throws(OTLPDecodeError) {
                var ranges: [Range<Int>] = []
                var request = WireReader(raw, 0..<raw.count)
                while let (field, wire) = try request.nextTag() {
                    guard field == 1 else { try request.skip(wire); continue }
                    var resourceLogs = try request.message(wire, "resource_logs")
                    while let (field, wire) = try resourceLogs.nextTag() {
                        guard field == 2 else { try resourceLogs.skip(wire); continue }
                        var scopeLogs = try resourceLogs.message(wire, "scope_logs")
                        while let (field, wire) = try scopeLogs.nextTag() {
                            guard field == 2 else { try scopeLogs.skip(wire); continue }
                            let record = try scopeLogs.message(wire, "log_records")
                            ranges.append(record.position..<record.end)
                        }
                    }
                }
                return .success(ranges)
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    /// The verdict on every span of a request: the one judgement that both the
    /// acknowledgement (`validateTraces`) and the loader (`WireTraceMapper`) use, so the
    /// loader maps exactly the spans the client was told were accepted. Throws when the
    /// request is not well-formed protobuf; `refused` holds the indexes of refused spans.
    static func judgeTraces(_ raw: UnsafeRawBufferPointer, limits: RecordLimits) throws(OTLPDecodeError) -> (
        batch: MappedBatch<SpanRecord>, refused: Set<Int>
    ) {
        var batch = MappedBatch<SpanRecord>()
        var refused = Set<Int>()
        var index = 0
        let attributeLimits = limits.attributes
        do {
            var request = WireReader(raw, 0..<raw.count)
            while let (field, wire) = try request.nextTag() {
                guard field == 1 else { try request.skip(wire); continue }
                var resourceSpans = try request.message(wire, "resource_spans")
                var resourceProblem: String?
                var scopes: [WireReader] = []
                while let (field, wire) = try resourceSpans.nextTag() {
                    switch field {
                    case 1:
                        if let problem = try walk(resourceSpans.message(wire, "resource"), .resource, attributeLimits) {
                            resourceProblem = resourceProblem ?? "resource: \(problem)"
                        }
                    case 2: scopes.append(try resourceSpans.message(wire, "scope_spans"))
                    default: try resourceSpans.skip(wire)
                    }
                }
                for scopeSpans in scopes {
                    var scopeSpans = scopeSpans
                    var scopeProblem = resourceProblem
                    var spans: [WireReader] = []
                    while let (field, wire) = try scopeSpans.nextTag() {
                        switch field {
                        case 1:
                            if let problem = try walk(scopeSpans.message(wire, "scope"), .scope, attributeLimits) {
                                scopeProblem = scopeProblem ?? "scope: \(problem)"
                            }
                        case 2: spans.append(try scopeSpans.message(wire, "span"))
                        default: try scopeSpans.skip(wire)
                        }
                    }
                    for span in spans {
                        defer { index += 1 }
                        // The span's own structure is checked whatever its scope's verdict.
                        let own = try checkSpan(span, index: index, limits: limits)
                        if let problem = own ?? scopeProblem.map({ "span \(index): \($0)" }) {
                            batch.refuse(problem)
                            refused.insert(index)
                        } else {
                            batch.accepted += 1
                        }
                    }
                }
            }
        } catch let error as OTLPDecodeError {
            throw error
        } catch {
            throw OTLPDecodeError("\(error)")
        }
        return (batch, refused)
    }

    /// Reads the fields validation needs and checks the structure and limits of the rest.
    private static func checkSpan(_ span: WireReader, index: Int, limits: RecordLimits) throws -> String? {
        var span = span
        var traceID = 0..<0
        var spanID = 0..<0
        var parentCount = 0
        var start: UInt64 = 0
        var end: UInt64 = 0
        var attributeCount = 0
        var limitProblem: String?
        func note(_ problem: String?, _ what: String) {
            if let problem, limitProblem == nil { limitProblem = "\(what): \(problem)" }
        }
        while let (field, wire) = try span.nextTag() {
            switch field {
            case 1: traceID = try span.bytes(wire, "trace_id")
            case 2: spanID = try span.bytes(wire, "span_id")
            // Fields the loader reads, checked for the wire type it reads them with.
            case 3: _ = try span.bytes(wire, "trace_state")
            case 5: _ = try span.bytes(wire, "name")
            case 6: _ = try span.varintField(wire, "kind")
            case 4: parentCount = try span.bytes(wire, "parent_span_id").count
            case 7: start = try span.fixed64(wire, "start_time_unix_nano")
            case 8: end = try span.fixed64(wire, "end_time_unix_nano")
            case 9:
                attributeCount += 1
                note(try walk(span.message(wire, "attributes"), .keyValue, limits.attributes), "attributes")
            case 11: note(try walk(span.message(wire, "events"), .event, limits.attributes), "events")
            case 13: note(try walk(span.message(wire, "links"), .link, limits.attributes), "links")
            case 15: try _ = walk(span.message(wire, "status"), .status, limits.attributes)
            default: try span.skip(wire)
            }
        }
        if attributeCount > limits.attributes.maximumCount {
            note("\(attributeCount) attributes; at most \(limits.attributes.maximumCount)", "attributes")
        }
        if let problem = spanProblem(
            index: index, traceID: Array(span.slice(traceID)), spanID: Array(span.slice(spanID)), parentCount: parentCount,
            start: start, end: end, limits: limits)
        {
            return problem
        }
        if let limitProblem {
            return "span \(index) (trace_id \(TraceIDs.hex(Array(span.slice(traceID)))), span_id \(TraceIDs.hex(Array(span.slice(spanID))))): \(limitProblem)"
        }
        return nil
    }

    /// The validation rules for a span, shared by every path (wire, decoded, loader), so the
    /// same span gets the same verdict everywhere.
    static func spanProblem(
        index: Int, traceID: [UInt8], spanID: [UInt8], parentCount: Int, start: UInt64, end: UInt64, limits: RecordLimits
    ) -> String? {
        func label() -> String { "span \(index) (trace_id \(TraceIDs.hex(traceID)), span_id \(TraceIDs.hex(spanID)))" }
        guard traceID.count == 16, traceID.contains(where: { $0 != 0 }) else {
            return "\(label()): trace_id must be 16 bytes, not all zero (got \(traceID.count) bytes)"
        }
        guard spanID.count == 8, spanID.contains(where: { $0 != 0 }) else {
            return "\(label()): span_id must be 8 bytes, not all zero (got \(spanID.count) bytes)"
        }
        guard parentCount == 0 || parentCount == 8 else {
            return "\(label()): parent_span_id must be empty or 8 bytes (got \(parentCount))"
        }
        guard start > 0 else { return "\(label()): start_time_unix_nano is missing" }
        guard end >= start else { return "\(label()): end_time_unix_nano is before start_time_unix_nano" }
        if let problem = limits.problem(atMicros: micros(fromNanos: start)) {
            return "\(label()): start_time_unix_nano \(problem)"
        }
        return nil
    }

    /// The messages the structural walk knows, and what each of their fields holds.
    enum Schema {
        case anyValue, arrayValue, keyValueList, keyValue, resource, scope, event, link, status

        enum Kind {
            case varint, fixed64, fixed32, bytes
            case message(Schema)
        }

        func kind(_ field: Int) -> Kind? {
            switch (self, field) {
            case (.anyValue, 1), (.anyValue, 7): .bytes
            case (.anyValue, 2), (.anyValue, 3): .varint
            case (.anyValue, 4): .fixed64
            case (.anyValue, 5): .message(.arrayValue)
            case (.anyValue, 6): .message(.keyValueList)
            case (.arrayValue, 1): .message(.anyValue)
            case (.keyValueList, 1): .message(.keyValue)
            case (.keyValue, 1): .bytes
            case (.keyValue, 2): .message(.anyValue)
            case (.resource, 1): .message(.keyValue)
            case (.resource, 2): .varint
            case (.scope, 1), (.scope, 2): .bytes
            case (.scope, 3): .message(.keyValue)
            case (.event, 1): .fixed64
            case (.event, 2): .bytes
            case (.event, 3): .message(.keyValue)
            case (.link, 1), (.link, 2), (.link, 3): .bytes
            case (.link, 4): .message(.keyValue)
            case (.link, 6): .fixed32
            case (.status, 2): .bytes
            case (.status, 3): .varint
            default: nil
            }
        }
    }

    /// Checks the structure of `message` (as `schema`) and the attribute limits. Throws
    /// on malformed protobuf; returns the first limit broken (the request stays well-formed
    /// and only the records concerned are refused). Recursion follows `AnyValue` nesting
    /// only as deep as `limits.maximumDepth`: below that, the rest of a too-deep value is
    /// skipped as opaque bytes.
    static func walk(_ message: WireReader, _ schema: Schema, _ limits: AttributeLimits, depth: Int = 0) throws -> String? {
        var message = message
        var problem: String?
        var keyValues = 0
        // A top-level attribute's key and value, for the identifier check after the loop.
        let topLevelAttribute = schema == .keyValue && depth == 0
        var key = 0..<0
        var value: WireReader?
        while let (field, wire) = try message.nextTag() {
            switch schema.kind(field) {
            case .message(let child):
                if child == .keyValue {
                    keyValues += 1
                    if keyValues == limits.maximumCount + 1, problem == nil {
                        problem = "more than \(limits.maximumCount) attributes in one list"
                    }
                }
                let childDepth = child == .anyValue ? depth + 1 : depth
                if childDepth > limits.maximumDepth {
                    _ = try message.bytes(wire, "field \(field)")
                    problem = problem ?? "attribute value nested deeper than \(limits.maximumDepth) levels"
                } else {
                    let reader = try message.message(wire, "field \(field)")
                    if topLevelAttribute { value = reader }  // KeyValue.value
                    if let inner = try walk(reader, child, limits, depth: childDepth) { problem = problem ?? inner }
                }
            case .bytes:
                let range = try message.bytes(wire, "field \(field)")
                if topLevelAttribute { key = range }  // KeyValue.key
                if range.count > limits.maximumValueBytes, problem == nil {
                    problem = "a string or bytes value of \(range.count) bytes; at most \(limits.maximumValueBytes)"
                }
            case .fixed64: _ = try message.fixed64(wire, "field \(field)")
            case .varint: _ = try message.varintField(wire, "field \(field)")
            case .fixed32:
                guard wire == 5 else { throw OTLPDecodeError("field \(field) has wire type \(wire), expected fixed32") }
                try message.skip(wire)
            case nil: try message.skip(wire)
            }
        }
        if topLevelAttribute, problem == nil, let value { problem = identifierProblem(key: message.slice(key), value: value, limits) }
        return problem
    }
}

extension OTLPWire {
    /// A top-level attribute that becomes an identifier column with a string value longer
    /// than `maximumIdentifierBytes`. Malformed bytes are left to the structural walk.
    static func identifierProblem(key keyBytes: UnsafeRawBufferPointer.SubSequence, value: WireReader, _ limits: AttributeLimits) -> String? {
        // Cheap first: every identifier key is 7 to 27 bytes and starts with e, f, s or u.
        guard (7...27).contains(keyBytes.count), let first = keyBytes.first, [0x65, 0x66, 0x73, 0x75].contains(first),
            AttributeLimits.identifierKeyBytes.contains(where: { $0.elementsEqual(keyBytes) })
        else { return nil }
        var value = value
        var length = 0
        while let (field, wire) = try? value.nextTag() {
            if field == 1, let range = try? value.bytes(wire, "string_value") {
                length = range.count
            } else if field != 1 {
                if (try? value.skip(wire)) == nil { return nil }
                length = 0  // a later alternative of the oneof wins
            }
        }
        guard length > limits.maximumIdentifierBytes else { return nil }
        return "\(String(decoding: keyBytes, as: UTF8.self)) is \(length) bytes long; identifiers are at most \(limits.maximumIdentifierBytes)"
    }
}

/// A cursor over protobuf wire format within a byte range.
struct WireReader {
    let raw: UnsafeRawBufferPointer
    var position: Int
    let end: Int

    init(_ raw: UnsafeRawBufferPointer, _ range: Range<Int>) {
        self.raw = raw
        position = range.lowerBound
        end = range.upperBound
    }

    func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer.SubSequence { raw[range] }

    mutating func varint() throws(OTLPDecodeError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw OTLPDecodeError("truncated varint") }
            let byte = raw[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            guard shift < 64 else { throw OTLPDecodeError("varint longer than 10 bytes") }
        }
    }

    /// The next (field number, wire type), or nil at the end of the message.
    mutating func nextTag() throws(OTLPDecodeError) -> (Int, Int)? {
        guard position < end else { return nil }
        let tag = try varint()
        let field = Int(truncatingIfNeeded: tag >> 3)
        guard field > 0 else { throw OTLPDecodeError("field number 0 at byte \(position)") }
        return (field, Int(tag & 7))
    }

    mutating func skip(_ wire: Int) throws(OTLPDecodeError) {
        switch wire {
        case 0: _ = try varint()
        case 1: try advance(8)
        case 2: try advance(Int(try length()))
        case 5: try advance(4)
        default: throw OTLPDecodeError("unsupported wire type \(wire) at byte \(position)")
        }
    }

    private mutating func length() throws(OTLPDecodeError) -> UInt64 {
        let length = try varint()
        guard length <= UInt64(end - position) else { throw OTLPDecodeError("length \(length) runs past the end of its message") }
        return length
    }

    private mutating func advance(_ count: Int) throws(OTLPDecodeError) {
        guard count <= end - position else { throw OTLPDecodeError("field runs past the end of its message") }
        position += count
    }

    /// A length-delimited field's byte range.
    mutating func bytes(_ wire: Int, _ name: String) throws(OTLPDecodeError) -> Range<Int> {
        guard wire == 2 else { throw OTLPDecodeError("\(name) has wire type \(wire), expected length-delimited") }
        let count = Int(try length())
        defer { position += count }
        return position..<(position + count)
    }

    /// A length-delimited field read as a nested message.
    mutating func message(_ wire: Int, _ name: String) throws(OTLPDecodeError) -> WireReader {
        WireReader(raw, try bytes(wire, name))
    }

    mutating func fixed64(_ wire: Int, _ name: String) throws(OTLPDecodeError) -> UInt64 {
        guard wire == 1 else { throw OTLPDecodeError("\(name) has wire type \(wire), expected fixed64") }
        try advance(8)
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(raw[position - 8 + i]) << (8 * UInt64(i)) }
        return value
    }
}
