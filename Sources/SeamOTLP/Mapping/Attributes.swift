import Foundation
import SeamModel

/// Attribute lists → JSON, and the typed values Seam copies into columns.
enum Attributes {
    static func json(_ list: [KeyValue]) -> String {
        var w = JSONWriter(capacity: 64 + list.count * 48)
        object(list, into: &w)
        return w.string
    }

    static func object(_ list: [KeyValue], into w: inout JSONWriter) {
        w.byte(UInt8(ascii: "{"))
        for (i, kv) in list.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            w.quoted(kv.key)
            w.byte(UInt8(ascii: ":"))
            value(kv.value, into: &w)
        }
        w.byte(UInt8(ascii: "}"))
    }

    static func value(_ any: AnyValue, into w: inout JSONWriter) {
        switch any.value {
        case .stringValue(let s): w.quoted(s)
        case .boolValue(let b): w.bool(b)
        case .intValue(let i): w.number(i)
        case .doubleValue(let d): w.number(d)
        case .bytesValue(let data): w.quoted(data.base64EncodedString())
        case .arrayValue(let array):
            w.byte(UInt8(ascii: "["))
            for (i, element) in array.values.enumerated() {
                if i > 0 { w.byte(UInt8(ascii: ",")) }
                value(element, into: &w)
            }
            w.byte(UInt8(ascii: "]"))
        case .kvlistValue(let map): object(map.values, into: &w)
        case nil: w.raw("null")
        }
    }

    /// The first attribute limit `list` breaks, or nil. Recursion is bounded by
    /// `limits.maximumDepth` (and, before it, by `OTLPProtobuf.messageDepthLimit`).
    static func problem(_ list: [KeyValue], _ limits: AttributeLimits, depth: Int = 0) -> String? {
        if list.count > limits.maximumCount { return "more than \(limits.maximumCount) attributes in one list" }
        for kv in list {
            if depth == 0, AttributeLimits.identifierKeys.contains(kv.key), case .stringValue(let text)? = kv.value.value,
                text.utf8.count > limits.maximumIdentifierBytes
            {
                return "\(kv.key) is \(text.utf8.count) bytes long; identifiers are at most \(limits.maximumIdentifierBytes)"
            }
            if kv.key.utf8.count > limits.maximumValueBytes {
                return "a string or bytes value of \(kv.key.utf8.count) bytes; at most \(limits.maximumValueBytes)"
            }
            if kv.hasValue, let problem = problem(kv.value, limits, depth: depth + 1) { return problem }
        }
        return nil
    }

    /// The first limit `any` (at nesting `depth`, 1 for a plain attribute value) breaks.
    static func problem(_ any: AnyValue, _ limits: AttributeLimits, depth: Int) -> String? {
        guard depth <= limits.maximumDepth else { return "attribute value nested deeper than \(limits.maximumDepth) levels" }
        let size: Int
        switch any.value {
        case .stringValue(let text): size = text.utf8.count
        case .bytesValue(let data): size = data.count
        case .arrayValue(let array):
            for element in array.values {
                if let problem = problem(element, limits, depth: depth + 1) { return problem }
            }
            return nil
        case .kvlistValue(let map): return problem(map.values, limits, depth: depth)
        default: return nil
        }
        return size > limits.maximumValueBytes ? "a string or bytes value of \(size) bytes; at most \(limits.maximumValueBytes)" : nil
    }

    /// The value as text for a typed column: strings as they are, numbers and booleans printed.
    static func text(_ any: AnyValue) -> String? {
        switch any.value {
        case .stringValue(let s): s.isEmpty ? nil : s
        case .intValue(let i): String(i)
        case .doubleValue(let d): String(d)
        case .boolValue(let b): String(b)
        default: nil
        }
    }

    /// The first of `keys` present in `lists` (searched in order), as text.
    static func lookup(_ keys: [String], in lists: [KeyValue]...) -> String? {
        for list in lists {
            for key in keys {
                if let kv = list.first(where: { $0.key == key }), let text = text(kv.value) { return text }
            }
        }
        return nil
    }
}

extension Array where Element == UInt8 {
    var isAllZero: Bool { allSatisfy { $0 == 0 } }
}

func micros(fromNanos nanos: UInt64) -> Int64 { Int64(nanos / 1000) }
