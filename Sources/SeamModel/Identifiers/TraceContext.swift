/// Trace and span ids as OpenTelemetry defines them: 16 and 8 bytes, never all zero.
public enum TraceIDs {
    /// The 16 bytes of a trace id given as 32 hex digits; nil when malformed or all zero.
    public static func traceID(hex: some StringProtocol) -> [UInt8]? { bytes(hex: hex, count: 16) }

    /// The 8 bytes of a span id given as 16 hex digits; nil when malformed or all zero.
    public static func spanID(hex: some StringProtocol) -> [UInt8]? { bytes(hex: hex, count: 8) }

    /// Lowercase hex, as OpenTelemetry tools print ids.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func bytes(hex: some StringProtocol, count: Int) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count == count * 2 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(count)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out.contains(where: { $0 != 0 }) ? out : nil
    }

    public static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 97...102: c - 87
        case 65...70: c - 55
        default: nil
        }
    }
}

/// A W3C `traceparent` header value: `00-<trace id>-<parent span id>-<flags>`.
public struct TraceParent: Sendable, Equatable {
    public var traceID: [UInt8]
    public var parentSpanID: [UInt8]
    public var flags: UInt8

    /// Parses the W3C Trace Context format; the reason names what is wrong.
    public static func parse(_ text: String) -> Result<TraceParent, TraceParentError> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 4 else { return .failure(.init("must be version-traceid-parentid-flags")) }
        let version = parts[0]
        guard version.count == 2, version.utf8.allSatisfy({ TraceIDs.nibble($0) != nil && !(65...70).contains($0) }) else {
            return .failure(.init("version must be two lowercase hex digits"))
        }
        guard version != "ff" else { return .failure(.init("version ff is invalid")) }
        guard version == "00" ? parts.count == 4 : true else { return .failure(.init("version 00 has exactly four fields")) }
        guard parts[1].utf8.allSatisfy({ !(65...70).contains($0) }), let trace = TraceIDs.traceID(hex: parts[1]) else {
            return .failure(.init("trace id must be 32 lowercase hex digits, not all zero"))
        }
        guard parts[2].utf8.allSatisfy({ !(65...70).contains($0) }), let span = TraceIDs.spanID(hex: parts[2]) else {
            return .failure(.init("parent id must be 16 lowercase hex digits, not all zero"))
        }
        guard parts[3].count == 2, let hi = parts[3].utf8.first.flatMap(TraceIDs.nibble),
            let lo = parts[3].utf8.last.flatMap(TraceIDs.nibble)
        else { return .failure(.init("flags must be two hex digits")) }
        return .success(TraceParent(traceID: trace, parentSpanID: span, flags: hi << 4 | lo))
    }
}

public struct TraceParentError: Error, Equatable, Sendable {
    public var reason: String
    init(_ reason: String) { self.reason = reason }
}
