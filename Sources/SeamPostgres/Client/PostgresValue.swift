import Foundation

/// A query parameter or COPY field, sent to PostgreSQL in binary format with an explicit type.
///
/// Values are never spliced into SQL text: they travel as parameters (`$1`, `$2`...).
public enum PostgresValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int16(Int16)
    case int32(Int32)
    case int64(Int64)
    case float64(Double)
    case text(String)
    case bytea([UInt8])
    /// A point in time; PostgreSQL keeps microseconds, so finer fractions are rounded.
    case timestamptz(Date)
    case uuid(UUID)
    /// A JSON document given as its text; stored as `jsonb`.
    case jsonb(String)
    /// An `interval`, to the microsecond (finer fractions are truncated).
    case interval(Duration)
    /// An `int4[]` (one dimension, no NULLs).
    case int32Array([Int32])
    /// A `text[]` (one dimension, no NULLs).
    case textArray([String])

    /// The PostgreSQL type OID this value is sent as (0 for NULL: the server infers it).
    public var typeOID: UInt32 {
        switch self {
        case .null: 0
        case .bool: PostgresType.bool
        case .int16: PostgresType.int2
        case .int32: PostgresType.int4
        case .int64: PostgresType.int8
        case .float64: PostgresType.float8
        case .text: PostgresType.text
        case .bytea: PostgresType.bytea
        case .timestamptz: PostgresType.timestamptz
        case .uuid: PostgresType.uuid
        case .jsonb: PostgresType.jsonb
        case .interval: PostgresType.interval
        case .int32Array: PostgresType.int4Array
        case .textArray: PostgresType.textArray
        }
    }

    /// Appends the binary wire representation (without length prefix). NULL appends nothing.
    func appendBinary(to buffer: inout [UInt8]) {
        switch self {
        case .null: break
        case .bool(let v): buffer.append(v ? 1 : 0)
        case .int16(let v): buffer.appendBigEndian(v)
        case .int32(let v): buffer.appendBigEndian(v)
        case .int64(let v): buffer.appendBigEndian(v)
        case .float64(let v): buffer.appendBigEndian(v.bitPattern)
        case .text(let v): buffer.append(contentsOf: v.utf8)
        case .bytea(let v): buffer.append(contentsOf: v)
        case .timestamptz(let v): buffer.appendBigEndian(PostgresTime.microseconds(since2000: v))
        case .uuid(let v):
            Swift.withUnsafeBytes(of: v.uuid) { buffer.append(contentsOf: $0) }
        case .jsonb(let v):
            buffer.append(1)  // jsonb binary format version
            buffer.append(contentsOf: v.utf8)
        case .interval(let v):
            // microseconds, days, months: all of it as microseconds, clamped to Int64.
            let (seconds, overflow) = v.components.seconds.multipliedReportingOverflow(by: 1_000_000)
            let micros = overflow ? (v.components.seconds < 0 ? Int64.min : .max) : seconds.addingReportingOverflow(v.components.attoseconds / 1_000_000_000_000).partialValue
            buffer.appendBigEndian(micros)
            buffer.appendBigEndian(Int32(0))
            buffer.appendBigEndian(Int32(0))
        case .int32Array(let v):
            Self.appendArrayHeader(count: v.count, element: PostgresType.int4, to: &buffer)
            for element in v {
                buffer.appendBigEndian(Int32(4))
                buffer.appendBigEndian(element)
            }
        case .textArray(let v):
            Self.appendArrayHeader(count: v.count, element: PostgresType.text, to: &buffer)
            for element in v {
                buffer.appendBigEndian(Int32(clamping: element.utf8.count))
                buffer.append(contentsOf: element.utf8)
            }
        }
    }

    /// A one-dimensional array without NULLs: dimensions, flags, element type, then the
    /// length and lower bound of its dimension (none for an empty array).
    private static func appendArrayHeader(count: Int, element: UInt32, to buffer: inout [UInt8]) {
        buffer.appendBigEndian(Int32(count == 0 ? 0 : 1))
        buffer.appendBigEndian(Int32(0))
        buffer.appendBigEndian(Int32(bitPattern: element))
        if count > 0 {
            buffer.appendBigEndian(Int32(clamping: count))
            buffer.appendBigEndian(Int32(1))
        }
    }
}

extension PostgresValue: ExpressibleByNilLiteral, ExpressibleByStringLiteral,
    ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral
{
    public init(nilLiteral: ()) { self = .null }
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .int64(value) }
    public init(floatLiteral value: Double) { self = .float64(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension PostgresValue {
    /// `.text(value)`, or `.null` when `value` is nil.
    public static func text(_ value: String?) -> PostgresValue { value.map { .text($0) } ?? .null }
    /// `.int64(value)`, or `.null` when `value` is nil.
    public static func int(_ value: Int?) -> PostgresValue { value.map { .int64(Int64($0)) } ?? .null }
    /// `.timestamptz(value)`, or `.null` when `value` is nil.
    public static func timestamp(_ value: Date?) -> PostgresValue { value.map { .timestamptz($0) } ?? .null }
}

/// Type OIDs of the built-in types Seam sends and reads.
public enum PostgresType {
    public static let bool: UInt32 = 16
    public static let bytea: UInt32 = 17
    public static let int8: UInt32 = 20
    public static let int2: UInt32 = 21
    public static let int4: UInt32 = 23
    public static let text: UInt32 = 25
    public static let oid: UInt32 = 26
    public static let json: UInt32 = 114
    public static let float4: UInt32 = 700
    public static let float8: UInt32 = 701
    public static let varchar: UInt32 = 1043
    public static let date: UInt32 = 1082
    public static let timestamp: UInt32 = 1114
    public static let timestamptz: UInt32 = 1184
    public static let numeric: UInt32 = 1700
    public static let interval: UInt32 = 1186
    public static let int4Array: UInt32 = 1007
    public static let textArray: UInt32 = 1009
    public static let uuid: UInt32 = 2950
    public static let jsonb: UInt32 = 3802
}

/// PostgreSQL's epoch (2000-01-01 UTC) and microsecond clock.
enum PostgresTime {
    static let epochOffset: Double = 946_684_800

    /// Never traps: a date beyond Int64 microseconds is sent as PostgreSQL's `infinity`
    /// or `-infinity` (Int64.max / Int64.min on the wire); NaN as `-infinity`.
    static func microseconds(since2000 date: Date) -> Int64 {
        let micros = ((date.timeIntervalSince1970 - epochOffset) * 1_000_000).rounded()
        if let exact = Int64(exactly: micros), exact != .max, exact != .min { return exact }
        return micros > 0 ? .max : .min
    }

    static func date(microsecondsSince2000 micros: Int64) -> Date {
        Date(timeIntervalSince1970: Double(micros) / 1_000_000 + epochOffset)
    }
}

extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }
}
