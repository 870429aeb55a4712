/// Literals for generated SQL. Configuration values (event names, property keys) are
/// quoted here rather than spliced raw; numbers come from parsed Doubles only.
enum SQLText {
    /// A string literal: 'text' with quotes doubled (standard_conforming_strings is on).
    static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    /// `IN (...)` list of string literals.
    static func list(_ values: [String]) -> String { "(" + values.map(literal).joined(separator: ", ") + ")" }

    /// A double as SQL text (finite values only; validation rejects the rest).
    static func number(_ value: Double) -> String { value.isFinite ? "\(value)::float8" : "NULL::float8" }

    /// An interval of `seconds`.
    static func seconds(_ value: Double) -> String { "(\(value) * interval '1 second')" }

    /// FNV-1a, 64 bits, as hex: a stable digest of definitions (not for security).
    static func digest(_ text: String) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}
