import Foundation
import SeamModel

/// `ExportTraceServiceRequest` protobuf bytes → `SpanRecord`s, read straight from the wire:
/// the loader's hot path. Attribute JSON is written from the encoded bytes without building
/// protobuf messages or strings per attribute.
///
/// Produces exactly what decoding with swift-protobuf and `TraceMapper.map` produces (a
/// test holds them equal), except that invalid UTF-8 is repaired with U+FFFD instead of
/// failing the whole request.
public enum WireTraceMapper {
    public static func map(_ body: some Collection<UInt8>, limits: RecordLimits) throws(OTLPDecodeError) -> MappedBatch<SpanRecord> {
        let bytes = Array(body)
        let result: Result<MappedBatch<SpanRecord>, OTLPDecodeError> = bytes.withUnsafeBytes { raw in
            do {
                return .success(try map(raw, limits: limits))
            } catch let error as OTLPDecodeError {
                return .failure(error)
            } catch {
                return .failure(OTLPDecodeError("\(error)"))
            }
        }
        return try result.get()
    }

    private static func map(_ raw: UnsafeRawBufferPointer, limits: RecordLimits) throws -> MappedBatch<SpanRecord> {
        // The acknowledgement's judgement, not a second one: the spans it refused are
        // refused here with the same reasons, and the rest are within every limit.
        let (judged, refused) = try OTLPWire.judgeTraces(raw, limits: limits)
        var batch = MappedBatch<SpanRecord>()
        batch.rejected = judged.rejected
        batch.problems = judged.problems
        var index = 0
        var request = WireReader(raw, 0..<raw.count)
        while let (field, wire) = try request.nextTag() {
            guard field == 1 else { try request.skip(wire); continue }
            var resourceSpans = try request.message(wire, "resource_spans")
            var resourceAttributes: [WireReader] = []
            var scopes: [WireReader] = []
            while let (field, wire) = try resourceSpans.nextTag() {
                switch field {
                case 1:
                    var resource = try resourceSpans.message(wire, "resource")
                    while let (field, wire) = try resource.nextTag() {
                        if field == 1 { resourceAttributes.append(try resource.message(wire, "attributes")) } else { try resource.skip(wire) }
                    }
                case 2: scopes.append(try resourceSpans.message(wire, "scope_spans"))
                default: try resourceSpans.skip(wire)
                }
            }
            let resourceJSON = try attributesJSON(resourceAttributes)
            let resourceTyped = WireTyped(resourceAttributes)
            for scopeSpans in scopes {
                var scopeSpans = scopeSpans
                var scopeName: String?
                var scopeVersion: String?
                var spans: [WireReader] = []
                while let (field, wire) = try scopeSpans.nextTag() {
                    switch field {
                    case 1:
                        var scope = try scopeSpans.message(wire, "scope")
                        while let (field, wire) = try scope.nextTag() {
                            switch field {
                            case 1: scopeName = nonEmpty(scope.string(try scope.bytes(wire, "name")))
                            case 2: scopeVersion = nonEmpty(scope.string(try scope.bytes(wire, "version")))
                            default: try scope.skip(wire)
                            }
                        }
                    case 2: spans.append(try scopeSpans.message(wire, "span"))
                    default: try scopeSpans.skip(wire)
                    }
                }
                for span in spans {
                    defer { index += 1 }
                    guard !refused.contains(index) else { continue }
                    batch.origins.append(span.position..<span.end)
                    batch.records.append(
                        try spanRecord(
                            span, limits: limits, resourceJSON: resourceJSON, resource: resourceTyped, scopeName: scopeName,
                            scopeVersion: scopeVersion))
                    batch.accepted += 1
                }
            }
        }
        return batch
    }

    private static func spanRecord(
        _ span: WireReader, limits: RecordLimits, resourceJSON: String, resource: WireTyped, scopeName: String?,
        scopeVersion: String?
    ) throws -> SpanRecord {
        var span = span
        var traceID = 0..<0
        var spanID = 0..<0
        var parent = 0..<0
        var traceState = 0..<0
        var name = 0..<0
        var kind: UInt64 = 0
        var start: UInt64 = 0
        var end: UInt64 = 0
        var attributes: [WireReader] = []
        var events: [WireReader] = []
        var links: [WireReader] = []
        var statusCode: UInt64 = 0
        var statusMessage = 0..<0
        while let (field, wire) = try span.nextTag() {
            switch field {
            case 1: traceID = try span.bytes(wire, "trace_id")
            case 2: spanID = try span.bytes(wire, "span_id")
            case 3: traceState = try span.bytes(wire, "trace_state")
            case 4: parent = try span.bytes(wire, "parent_span_id")
            case 5: name = try span.bytes(wire, "name")
            case 6: kind = try span.varintField(wire, "kind")
            case 7: start = try span.fixed64(wire, "start_time_unix_nano")
            case 8: end = try span.fixed64(wire, "end_time_unix_nano")
            case 9: attributes.append(try span.message(wire, "attributes"))
            case 11: events.append(try span.message(wire, "events"))
            case 13: links.append(try span.message(wire, "links"))
            case 15:
                var status = try span.message(wire, "status")
                while let (field, wire) = try status.nextTag() {
                    switch field {
                    case 2: statusMessage = try status.bytes(wire, "message")
                    case 3: statusCode = try status.varintField(wire, "code")
                    default: try status.skip(wire)
                    }
                }
            default: try span.skip(wire)
            }
        }
        let trace = Array(span.slice(traceID))
        let spanBytes = Array(span.slice(spanID))
        let parentBytes = Array(span.slice(parent))
        let typed = WireTyped(attributes)
        return SpanRecord(
            traceID: trace, spanID: spanBytes,
            parentSpanID: parentBytes.isEmpty || parentBytes.allSatisfy({ $0 == 0 }) ? nil : parentBytes,
            traceState: nonEmpty(span.string(traceState)), name: span.string(name),
            kind: Int16(clamping: Int64(bitPattern: kind)), serviceName: resource.serviceName,
            startMicros: micros(fromNanos: start), endMicros: micros(fromNanos: end),
            statusCode: Int16(clamping: Int64(bitPattern: statusCode)), statusMessage: nonEmpty(span.string(statusMessage)),
            sessionID: typed.sessionID ?? resource.sessionID, userID: typed.userID ?? resource.userID,
            httpRoute: typed.httpRoute, httpMethod: typed.httpMethod, httpStatusCode: typed.httpStatusCode,
            scopeName: scopeName, scopeVersion: scopeVersion, attributes: try attributesJSON(attributes), resource: resourceJSON,
            events: try eventsJSON(events), links: try linksJSON(links), receivedMicros: limits.receivedMicros)
    }

    // MARK: JSON from the wire

    static func attributesJSON(_ keyValues: [WireReader]) throws -> String {
        var w = JSONWriter(capacity: 64 + keyValues.count * 48)
        try writeObject(keyValues, into: &w)
        return w.string
    }

    /// Writing recurses with the value's nesting; `judgeTraces` has bounded that by
    /// `AttributeLimits.maximumDepth`, and `depth` stops it there anyway.
    static func writeObject(_ keyValues: [WireReader], into w: inout JSONWriter, depth: Int = 0) throws {
        w.byte(UInt8(ascii: "{"))
        for (i, kv) in keyValues.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            var kv = kv
            var key = 0..<0
            var value: WireReader?
            while let (field, wire) = try kv.nextTag() {
                switch field {
                case 1: key = try kv.bytes(wire, "key")
                case 2: value = try kv.message(wire, "value")
                default: try kv.skip(wire)
                }
            }
            w.quoted(utf8: kv.slice(key))
            w.byte(UInt8(ascii: ":"))
            try writeValue(value, into: &w, depth: depth + 1)
        }
        w.byte(UInt8(ascii: "}"))
    }

    /// An AnyValue: the last alternative present wins, as protobuf decoding does for a oneof.
    static func writeValue(_ value: WireReader?, into w: inout JSONWriter, depth: Int) throws {
        guard var value else { return w.raw("null") }
        guard depth <= maximumDepth else { throw OTLPDecodeError("attribute value nested deeper than \(maximumDepth) levels") }
        var last: (field: Int, wire: Int, range: Range<Int>, number: UInt64)?
        while let (field, wire) = try value.nextTag() {
            switch field {
            case 1, 5, 6, 7: last = (field, wire, try value.bytes(wire, "value"), 0)
            case 2, 3: last = (field, wire, 0..<0, try value.varintField(wire, "value"))
            case 4: last = (field, wire, 0..<0, try value.fixed64(wire, "double_value"))
            default: try value.skip(wire)
            }
        }
        guard let last else { return w.raw("null") }
        switch last.field {
        case 1: w.quoted(utf8: value.slice(last.range))
        case 2: w.bool(last.number != 0)
        case 3: w.number(Int64(bitPattern: last.number))
        case 4: w.number(Double(bitPattern: last.number))
        case 5:
            var array = WireReader(value.raw, last.range)
            w.byte(UInt8(ascii: "["))
            var first = true
            while let (field, wire) = try array.nextTag() {
                guard field == 1 else { try array.skip(wire); continue }
                if !first { w.byte(UInt8(ascii: ",")) }
                first = false
                try writeValue(try array.message(wire, "values"), into: &w, depth: depth + 1)
            }
            w.byte(UInt8(ascii: "]"))
        case 6:
            var list = WireReader(value.raw, last.range)
            var entries: [WireReader] = []
            while let (field, wire) = try list.nextTag() {
                if field == 1 { entries.append(try list.message(wire, "values")) } else { try list.skip(wire) }
            }
            try writeObject(entries, into: &w, depth: depth)
        default: w.quoted(Data(value.slice(last.range)).base64EncodedString())
        }
    }

    static func eventsJSON(_ events: [WireReader]) throws -> String {
        guard !events.isEmpty else { return "[]" }
        var w = JSONWriter()
        w.byte(UInt8(ascii: "["))
        for (i, event) in events.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            var event = event
            var time: UInt64 = 0
            var name = 0..<0
            var attributes: [WireReader] = []
            while let (field, wire) = try event.nextTag() {
                switch field {
                case 1: time = try event.fixed64(wire, "time_unix_nano")
                case 2: name = try event.bytes(wire, "name")
                case 3: attributes.append(try event.message(wire, "attributes"))
                default: try event.skip(wire)
                }
            }
            w.raw("{\"time\":")
            w.quoted(RFC3339.format(Date(timeIntervalSince1970: Double(micros(fromNanos: time)) / 1_000_000)))
            w.raw(",\"name\":")
            w.quoted(utf8: event.slice(name))
            w.raw(",\"attributes\":")
            try writeObject(attributes, into: &w)
            w.byte(UInt8(ascii: "}"))
        }
        w.byte(UInt8(ascii: "]"))
        return w.string
    }

    static func linksJSON(_ links: [WireReader]) throws -> String {
        guard !links.isEmpty else { return "[]" }
        var w = JSONWriter()
        w.byte(UInt8(ascii: "["))
        for (i, link) in links.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            var link = link
            var trace = 0..<0
            var spanID = 0..<0
            var state = 0..<0
            var attributes: [WireReader] = []
            while let (field, wire) = try link.nextTag() {
                switch field {
                case 1: trace = try link.bytes(wire, "trace_id")
                case 2: spanID = try link.bytes(wire, "span_id")
                case 3: state = try link.bytes(wire, "trace_state")
                case 4: attributes.append(try link.message(wire, "attributes"))
                default: try link.skip(wire)
                }
            }
            w.raw("{\"trace_id\":")
            w.quoted(TraceIDs.hex(Array(link.slice(trace))))
            w.raw(",\"span_id\":")
            w.quoted(TraceIDs.hex(Array(link.slice(spanID))))
            w.raw(",\"trace_state\":")
            w.quoted(utf8: link.slice(state))
            w.raw(",\"attributes\":")
            try writeObject(attributes, into: &w)
            w.byte(UInt8(ascii: "}"))
        }
        w.byte(UInt8(ascii: "]"))
        return w.string
    }

    static func nonEmpty(_ text: String) -> String? { text.isEmpty ? nil : text }

    /// A hard stop for the writers' recursion, above any limit a judgement accepts.
    static let maximumDepth = 64
}

/// The typed-column attributes of a span or resource, found by comparing key bytes.
struct WireTyped {
    var sessionID: String?
    var userID: String?
    var httpRoute: String?
    var httpMethod: String?
    var httpStatusCode: Int32?
    var serviceName: String?

    private static let keys: [(String, [UInt8])] = [
        "session.id", "enduser.id", "user.id", "http.route", "http.request.method", "http.method",
        "http.response.status_code", "http.status_code", "service.name",
    ].map { ($0, Array($0.utf8)) }

    init(_ keyValues: [WireReader]) {
        var found: [String: String] = [:]
        for kv in keyValues {
            var kv = kv
            var key = 0..<0
            var value: WireReader?
            while let (field, wire) = try? kv.nextTag() {
                switch field {
                case 1: key = (try? kv.bytes(wire, "key")) ?? 0..<0
                case 2: value = try? kv.message(wire, "value")
                default: try? kv.skip(wire)
                }
            }
            let keyBytes = kv.slice(key)
            guard keyBytes.count >= 7, let match = Self.keys.first(where: { $0.1.elementsEqual(keyBytes) }) else { continue }
            found[match.0] = Self.text(value)  // the last occurrence wins, as for decoded attributes
        }
        sessionID = found["session.id"]
        userID = found["enduser.id"] ?? found["user.id"]
        httpRoute = found["http.route"]
        httpMethod = found["http.request.method"] ?? found["http.method"]
        httpStatusCode = (found["http.response.status_code"] ?? found["http.status_code"]).flatMap { Int32($0) }
        serviceName = found["service.name"]
    }

    /// Like `Attributes.text`: strings (non-empty), integers, doubles and booleans as text.
    static func text(_ value: WireReader?) -> String? {
        guard var value else { return nil }
        var last: (Int, Range<Int>, UInt64)?
        while let (field, wire) = try? value.nextTag() {
            switch field {
            case 1, 5, 6, 7: last = (field, (try? value.bytes(wire, "value")) ?? 0..<0, 0)
            case 2, 3: last = (field, 0..<0, (try? value.varintField(wire, "value")) ?? 0)
            case 4: last = (field, 0..<0, (try? value.fixed64(wire, "value")) ?? 0)
            default: try? value.skip(wire)
            }
        }
        guard let (field, range, number) = last else { return nil }
        switch field {
        case 1:
            let text = value.string(range)
            return text.isEmpty ? nil : text
        case 2: return String(number != 0)
        case 3: return String(Int64(bitPattern: number))
        case 4: return String(Double(bitPattern: number))
        default: return nil
        }
    }
}

extension WireReader {
    /// The bytes of `range` as a string (invalid UTF-8 repaired).
    func string(_ range: Range<Int>) -> String {
        range.isEmpty ? "" : String(decoding: slice(range), as: UTF8.self)
    }

    mutating func varintField(_ wire: Int, _ name: String) throws(OTLPDecodeError) -> UInt64 {
        guard wire == 0 else { throw OTLPDecodeError("\(name) has wire type \(wire), expected varint") }
        return try varint()
    }
}
