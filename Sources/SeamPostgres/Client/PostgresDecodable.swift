import Foundation
import SeamModel

/// A Swift type that can be read from a result cell.
public protocol PostgresDecodable {
    static func decode(from cell: PostgresCell) throws -> Self
}

extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Wrapped? {
        cell.isNull ? nil : try Wrapped.decode(from: cell)
    }
}

extension PostgresCell {
    fileprivate func nonNullString(_ expected: String) throws -> String {
        guard let string else { throw failure(expected) }
        return string
    }
}

extension String: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> String { try cell.nonNullString("text") }
}

extension Int: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Int {
        guard let value = Int(try cell.nonNullString("integer")) else { throw cell.failure("integer") }
        return value
    }
}

extension Int64: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Int64 {
        guard let value = Int64(try cell.nonNullString("bigint")) else { throw cell.failure("bigint") }
        return value
    }
}

extension Int32: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Int32 {
        guard let value = Int32(try cell.nonNullString("integer")) else { throw cell.failure("integer") }
        return value
    }
}

extension Int16: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Int16 {
        guard let value = Int16(try cell.nonNullString("smallint")) else { throw cell.failure("smallint") }
        return value
    }
}

extension Double: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Double {
        guard let value = Double(try cell.nonNullString("double precision")) else {
            throw cell.failure("double precision")
        }
        return value
    }
}

extension Bool: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Bool {
        switch try cell.nonNullString("boolean") {
        case "t", "true": return true
        case "f", "false": return false
        default: throw cell.failure("boolean")
        }
    }
}

extension UUID: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> UUID {
        guard let value = UUID(uuidString: try cell.nonNullString("uuid")) else { throw cell.failure("uuid") }
        return value
    }
}

/// `bytea` in the hex output format (`\x0a1b...`), which Seam's sessions select.
extension Array: PostgresDecodable where Element == UInt8 {
    public static func decode(from cell: PostgresCell) throws -> [UInt8] {
        if cell.isNull { throw cell.failure("bytea") }
        return try cell.withBytes { bytes in
            guard bytes.count >= 2, bytes[0] == UInt8(ascii: "\\"), bytes[1] == UInt8(ascii: "x"),
                bytes.count % 2 == 0
            else { throw cell.failure("bytea in hex format") }
            var out = [UInt8]()
            out.reserveCapacity((bytes.count - 2) / 2)
            var i = 2
            while i < bytes.count {
                guard let hi = hexNibble(bytes[i]), let lo = hexNibble(bytes[i + 1]) else {
                    throw cell.failure("bytea in hex format")
                }
                out.append(hi << 4 | lo)
                i += 2
            }
            return out
        }
    }
}

@inline(__always)
func hexNibble(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// `timestamptz`, `timestamp` (read as UTC) and `date` (UTC midnight) in the ISO output style.
extension Date: PostgresDecodable {
    public static func decode(from cell: PostgresCell) throws -> Date {
        if cell.isNull { throw cell.failure("timestamp") }
        let parsed = cell.withBytes { ISOTimestamp.parse($0) }
        guard let parsed else { throw cell.failure("timestamp") }
        return parsed
    }
}

/// Parser for PostgreSQL's ISO output: `2026-11-21 12:59:53.123456+00`, `+05:30`, `infinity`.
enum ISOTimestamp {
    static func parse(_ s: UnsafeBufferPointer<UInt8>) -> Date? {
        if s.elementsEqual("infinity".utf8) { return .distantFuture }
        if s.elementsEqual("-infinity".utf8) { return .distantPast }
        var i = 0
        func number(_ digits: Int) -> Int? {
            guard i + digits <= s.count else { return nil }
            var value = 0
            for _ in 0..<digits {
                let c = s[i]
                guard c >= 48 && c <= 57 else { return nil }
                value = value * 10 + Int(c - 48)
                i += 1
            }
            return value
        }
        func expect(_ c: Character) -> Bool {
            guard i < s.count, s[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2) else {
            return nil
        }
        var seconds = Double(CivilCalendar.days(year: year, month: month, day: day)) * 86_400
        if i == s.count { return Date(timeIntervalSince1970: seconds) }
        guard expect(" ") || expect("T"), let hour = number(2), expect(":"), let minute = number(2), expect(":"),
            let second = number(2)
        else { return nil }
        seconds += Double(hour * 3600 + minute * 60 + second)
        var micros = 0
        if i < s.count && s[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 100_000
            while i < s.count, s[i] >= 48, s[i] <= 57 {
                micros += Int(s[i] - 48) * scale
                scale /= 10
                i += 1
            }
        }
        if i < s.count {
            let sign: Int
            switch s[i] {
            case UInt8(ascii: "+"): sign = 1
            case UInt8(ascii: "-"): sign = -1
            default: return nil
            }
            i += 1
            guard let oh = number(2) else { return nil }
            var offset = oh * 3600
            if expect(":") {
                guard let om = number(2) else { return nil }
                offset += om * 60
                if expect(":") {
                    guard let os = number(2) else { return nil }
                    offset += os
                }
            }
            seconds -= Double(sign * offset)
        }
        guard i == s.count else { return nil }
        return Date(timeIntervalSince1970: seconds + Double(micros) / 1_000_000)
    }
}
