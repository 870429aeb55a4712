import Foundation

/// Builds the rows of a `COPY … FROM STDIN (FORMAT binary)` and hands them to libpq in
/// chunks. Obtain one from `PostgresConnection.copyIn`.
///
/// Each row starts with `beginRow(fieldCount:)` followed by exactly that many fields, in
/// the column order of the COPY statement. Fields are written in PostgreSQL's binary
/// send format, so the column types must match (`int8` for `append(_: Int64)`, and so on).
public final class BinaryCopyWriter {
    private static let header: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00] + [0, 0, 0, 0] + [0, 0, 0, 0]
    private static let chunkSize = 1 << 20

    private var buffer: [UInt8]
    private let send: ([UInt8]) throws -> Void
    /// Rows begun so far.
    public private(set) var rowCount = 0

    /// A writer that hands each chunk of about a megabyte to `send`; `PostgresConnection.copyIn`
    /// makes one that sends to the server. Call `finish()` after the last row.
    public init(send: @escaping ([UInt8]) throws -> Void) {
        self.send = send
        buffer = []
        buffer.reserveCapacity(Self.chunkSize + 64 * 1024)
        buffer.append(contentsOf: Self.header)
    }

    /// Starts a row of `fieldCount` fields.
    public func beginRow(fieldCount: Int) throws {
        if buffer.count >= Self.chunkSize { try flush() }
        buffer.appendBigEndian(Int16(fieldCount))
        rowCount += 1
    }

    /// Appends SQL NULL.
    public func appendNull() { buffer.appendBigEndian(Int32(-1)) }

    /// Appends any `PostgresValue`, whose type must match the column.
    public func append(_ value: PostgresValue) {
        if case .null = value { return appendNull() }
        let lengthAt = buffer.count
        buffer.appendBigEndian(Int32(0))
        value.appendBinary(to: &buffer)
        patchLength(at: lengthAt)
    }

    /// Appends an `int8` field.
    public func append(_ value: Int64) {
        buffer.appendBigEndian(Int32(8))
        buffer.appendBigEndian(value)
    }

    /// Appends an `int4` field.
    public func append(_ value: Int32) {
        buffer.appendBigEndian(Int32(4))
        buffer.appendBigEndian(value)
    }

    /// Appends an `int2` field.
    public func append(_ value: Int16) {
        buffer.appendBigEndian(Int32(2))
        buffer.appendBigEndian(value)
    }

    /// Appends a `float8` field.
    public func append(_ value: Double) {
        buffer.appendBigEndian(Int32(8))
        buffer.appendBigEndian(value.bitPattern)
    }

    /// Appends a `bool` field.
    public func append(_ value: Bool) {
        buffer.appendBigEndian(Int32(1))
        buffer.append(value ? 1 : 0)
    }

    /// Appends a `text` (or `varchar`) field; nil appends NULL.
    public func append(_ value: String?) {
        guard var value else { return appendNull() }
        let lengthAt = buffer.count
        buffer.appendBigEndian(Int32(0))
        value.withUTF8 { buffer.append(contentsOf: $0) }
        patchLength(at: lengthAt)
    }

    /// Appends a `bytea` field; nil appends NULL.
    public func append(bytes value: [UInt8]?) {
        guard let value else { return appendNull() }
        buffer.appendBigEndian(Int32(value.count))
        buffer.append(contentsOf: value)
    }

    /// Appends a `timestamptz` field; nil appends NULL.
    public func append(_ value: Date?) {
        guard let value else { return appendNull() }
        buffer.appendBigEndian(Int32(8))
        buffer.appendBigEndian(PostgresTime.microseconds(since2000: value))
    }

    /// Appends a `timestamptz` field given in microseconds since 1970-01-01 UTC (exact, no
    /// floating point on the way); nil appends NULL.
    public func append(unixMicroseconds value: Int64?) {
        guard let value else { return appendNull() }
        buffer.appendBigEndian(Int32(8))
        buffer.appendBigEndian(value - 946_684_800_000_000)
    }

    /// Appends an `int4` field; nil appends NULL.
    public func append(int32 value: Int32?) {
        guard let value else { return appendNull() }
        append(value)
    }

    /// Appends an `int2` field; nil appends NULL.
    public func append(int16 value: Int16?) {
        guard let value else { return appendNull() }
        append(value)
    }

    /// Appends a `uuid` field; nil appends NULL.
    public func append(_ value: UUID?) {
        guard let value else { return appendNull() }
        buffer.appendBigEndian(Int32(16))
        withUnsafeBytes(of: value.uuid) { buffer.append(contentsOf: $0) }
    }

    /// Appends a `jsonb` field from JSON text; nil appends NULL.
    public func append(jsonb value: String?) {
        guard var value else { return appendNull() }
        let lengthAt = buffer.count
        buffer.appendBigEndian(Int32(0))
        buffer.append(1)
        value.withUTF8 { buffer.append(contentsOf: $0) }
        patchLength(at: lengthAt)
    }

    private func patchLength(at offset: Int) {
        let length = Int32(buffer.count - offset - 4).bigEndian
        withUnsafeBytes(of: length) { bytes in
            for i in 0..<4 { buffer[offset + i] = bytes[i] }
        }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try send(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes the trailer and sends what is buffered.
    public func finish() throws {
        buffer.appendBigEndian(Int16(-1))
        try flush()
    }
}
