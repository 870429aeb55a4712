/// A minimal, fast JSON text builder for the lake's `jsonb` columns.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    public mutating func byte(_ c: UInt8) { bytes.append(c) }

    /// Bytes that are JSON already (a value checked by `JSONTape`), as they are.
    public mutating func raw(json: some Sequence<UInt8>) { bytes.append(contentsOf: json) }

    /// A JSON string literal, escaped. NUL characters become `\u0000`, which jsonb refuses:
    /// the loader then keeps the record in `lake.rejected`.
    public mutating func quoted(_ value: String) {
        var value = value
        value.withUTF8 { quoted(utf8: UnsafeRawBufferPointer($0)[...]) }
    }

    /// A JSON string literal from UTF-8 bytes (invalid sequences repaired with U+FFFD).
    public mutating func quoted(utf8 raw: Slice<UnsafeRawBufferPointer>) {
        if !Self.isValidUTF8(raw) {
            return quoted(String(decoding: raw, as: UTF8.self))
        }
        bytes.append(UInt8(ascii: "\""))
        for c in raw {
            switch c {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [92, 92])
            case 0x0A: bytes.append(contentsOf: [92, 110])
            case 0x0D: bytes.append(contentsOf: [92, 114])
            case 0x09: bytes.append(contentsOf: [92, 116])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [92, 117, 48, 48, hex[Int(c >> 4)], hex[Int(c & 0xF)]])
            default: bytes.append(c)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    static func isValidUTF8(_ raw: Slice<UnsafeRawBufferPointer>) -> Bool {
        // Fast path: ASCII is valid UTF-8.
        if raw.allSatisfy({ $0 < 0x80 }) { return true }
        var iterator = raw.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    public mutating func number(_ value: Int64) {
        bytes.append(contentsOf: String(value).utf8)
    }

    /// Finite doubles as numbers; NaN and infinities (not JSON) as the strings "NaN", "Infinity", "-Infinity".
    public mutating func number(_ value: Double) {
        if value.isFinite {
            bytes.append(contentsOf: "\(value)".utf8)
        } else {
            quoted(value.isNaN ? "NaN" : (value > 0 ? "Infinity" : "-Infinity"))
        }
    }

    public mutating func bool(_ value: Bool) {
        if value { raw("true") } else { raw("false") }
    }
}
