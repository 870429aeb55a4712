/// A record refused at the acknowledgement, to be kept in `lake.rejected`: for clients that
/// never read an answer's body (the Segment and GA4 SDKs), so what they sent and why it was
/// refused is still found in the lake.
public struct RefusedRecord: Sendable, Equatable {
    /// `lake.rejected.source` (`segment`, `ga4`).
    public var source: String
    /// Why, naming the field.
    public var reason: String
    /// The record's position in its request.
    public var recordIndex: Int?
    /// `lake.rejected.content_type` of `payload`.
    public var contentType: String
    /// The record as the client sent it.
    public var payload: [UInt8]

    public init(source: String, reason: String, recordIndex: Int?, contentType: String = "application/json", payload: [UInt8]) {
        self.source = source
        self.reason = reason
        self.recordIndex = recordIndex
        self.contentType = contentType
        self.payload = payload
    }
}

/// Refused records in a spool record's body (`SpoolRecord.Encoding.rejectionFrames`): a
/// version byte (1), the count (Int64 little endian), then per record the source, reason
/// and content type as UInt32 length and UTF-8 bytes, the record index as Int64 (-1 for
/// none), and the payload as UInt32 length and bytes.
public enum RejectionFrames {
    static let version: UInt8 = 1

    public static func encode(_ records: [RefusedRecord]) -> [UInt8] {
        var out: [UInt8] = [version]
        append(&out, UInt64(truncatingIfNeeded: records.count))
        for r in records {
            for text in [r.source, r.reason, r.contentType] {
                append(&out, UInt32(truncatingIfNeeded: text.utf8.count))
                out.append(contentsOf: text.utf8)
            }
            append(&out, UInt64(bitPattern: Int64(truncatingIfNeeded: r.recordIndex ?? -1)))
            append(&out, UInt32(truncatingIfNeeded: r.payload.count))
            out.append(contentsOf: r.payload)
        }
        return out
    }

    public static func decode(_ body: [UInt8]) throws(SpoolRecord.DecodeError) -> [RefusedRecord] {
        var position = 0
        func take(_ count: Int) throws(SpoolRecord.DecodeError) -> ArraySlice<UInt8> {
            guard count >= 0, count <= body.count - position else { throw SpoolRecord.DecodeError("rejection frame is truncated") }
            defer { position += count }
            return body[position..<position + count]
        }
        func integer(_ bytes: Int) throws(SpoolRecord.DecodeError) -> UInt64 {
            var value: UInt64 = 0
            for (i, b) in try take(bytes).enumerated() { value |= UInt64(truncatingIfNeeded: b) << (8 * UInt64(truncatingIfNeeded: i)) }
            return value
        }
        func text() throws(SpoolRecord.DecodeError) -> String {
            String(decoding: try take(Int(truncatingIfNeeded: try integer(4))), as: UTF8.self)
        }
        guard try take(1).first == version else { throw SpoolRecord.DecodeError("unknown rejection frame version") }
        let count = try integer(8)
        guard count <= UInt64(truncatingIfNeeded: body.count) else { throw SpoolRecord.DecodeError("implausible rejection count \(count)") }
        var records: [RefusedRecord] = []
        for _ in 0..<count {
            let source = try text()
            let reason = try text()
            let contentType = try text()
            let index = Int64(bitPattern: try integer(8))
            let payload = Array(try take(Int(truncatingIfNeeded: try integer(4))))
            records.append(
                RefusedRecord(
                    source: source, reason: reason, recordIndex: index < 0 ? nil : Int(truncatingIfNeeded: index), contentType: contentType,
                    payload: payload))
        }
        guard position == body.count else { throw SpoolRecord.DecodeError("trailing bytes after the last rejection") }
        return records
    }

    private static func append(_ out: inout [UInt8], _ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func append(_ out: inout [UInt8], _ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }
}
