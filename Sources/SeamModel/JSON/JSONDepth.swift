/// A bound on JSON nesting, checked on the raw bytes without recursion before a body is
/// handed to a parser whose recursion (and the recursion of code walking its result)
/// would otherwise follow the client's nesting.
public enum JSONDepth {
    /// The deepest nesting of arrays and objects Seam accepts in a JSON body. OTLP/JSON
    /// needs about three levels per attribute level (`AttributeLimits.maximumDepth`, 32).
    public static let maximum = 128

    /// Nil when no array or object in `bytes` nests deeper than `maximum`; otherwise the
    /// reason, naming the byte offset. Malformed JSON is left for the parser to refuse.
    public static func problem(_ bytes: some Collection<UInt8>, maximum: Int = JSONDepth.maximum) -> String? {
        var depth = 0
        var inString = false
        var escaped = false
        var offset = 0
        for byte in bytes {
            defer { offset += 1 }
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > maximum { return "JSON nests deeper than \(maximum) levels (at byte \(offset))" }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            default: break
            }
        }
        return nil
    }
}
