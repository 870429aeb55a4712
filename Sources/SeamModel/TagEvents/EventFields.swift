import Foundation

/// Reading the fields every tag-event protocol shares (Seam's own, Segment, GA4) from a
/// `JSONTape`: times, ids, JSON objects passed on as the client's bytes, and the clock-skew
/// correction. A failure names the field and the reason.
struct EventFieldError: Error {
    var text: String
    init(_ text: String) { self.text = text }
}

struct EventFields {
    /// The limits of `TagEventDecoder.Configuration`.
    let configuration: TagEventDecoder.Configuration

    /// An optional timestamp: an RFC 3339 string, or epoch milliseconds; null or absent: nil.
    func time(_ value: JSONTape.Value?, _ field: String) throws(EventFieldError) -> Date? {
        guard let value, !value.isNull else { return nil }
        switch value.kind {
        case .string:
            let bytes = value.bytes
            guard let date = RFC3339.parse(utf8: bytes[bytes.startIndex + 1..<bytes.endIndex - 1]) else {
                throw EventFieldError("\(field): must be an RFC 3339 timestamp like 2026-11-21T12:00:00.000Z, got \(Self.quote(value))")
            }
            return date
        case .number:
            // Epoch milliseconds; checked before any arithmetic that could overflow.
            guard let number = value.double, let date = Timestamps.date(epochMilliseconds: number) else {
                throw EventFieldError("\(field): epoch milliseconds \(String(decoding: value.bytes.prefix(40), as: UTF8.self)) lie outside \(Timestamps.rangeDescription)")
            }
            return date
        default:
            throw EventFieldError("\(field): must be an RFC 3339 string or epoch milliseconds")
        }
    }

    /// An optional id (session, visitor, user, message): a string of at most
    /// `maximumIdentifierLength` bytes; an empty string or null is none. With
    /// `numbers`, a JSON number is taken as its text (SDKs that send numeric user ids).
    func identifier(_ value: JSONTape.Value?, _ field: String, numbers: Bool = false) throws(EventFieldError) -> String? {
        guard let value, !value.isNull else { return nil }
        let text: String
        switch value.kind {
        case .string:
            guard let byteCount = value.stringByteCount, byteCount <= configuration.maximumIdentifierLength else {
                throw EventFieldError("\(field): longer than \(configuration.maximumIdentifierLength) bytes")
            }
            guard value.isStorable else { throw EventFieldError("\(field): contains \\u0000 or an unpaired surrogate, which PostgreSQL cannot store") }
            text = value.string ?? ""
        case .number where numbers:
            guard value.bytes.count <= configuration.maximumIdentifierLength else {
                throw EventFieldError("\(field): longer than \(configuration.maximumIdentifierLength) bytes")
            }
            text = String(decoding: value.bytes, as: UTF8.self)
        default:
            throw EventFieldError("\(field): must be a string, got \(value.kindDescription)")
        }
        return text.isEmpty ? nil : text
    }

    /// An optional string field (page fields, names) of any length the body allows.
    func text(_ value: JSONTape.Value?, _ field: String) throws(EventFieldError) -> String? {
        guard let value, !value.isNull else { return nil }
        guard value.kind == .string else { throw EventFieldError("\(field): must be a string, got \(value.kindDescription)") }
        guard value.isStorable else { throw EventFieldError("\(field): contains \\u0000 or an unpaired surrogate, which PostgreSQL cannot store") }
        return value.string
    }

    /// An optional JSON object, as the client's bytes (checked by the tape, not
    /// re-serialized); nil when absent or null.
    func object(_ value: JSONTape.Value?, _ field: String) throws(EventFieldError) -> String? {
        guard let value, !value.isNull else { return nil }
        guard value.kind == .object else { throw EventFieldError("\(field): must be an object, got \(value.kindDescription)") }
        guard value.isStorable else { throw EventFieldError("\(field): contains \\u0000 or an unpaired surrogate, which PostgreSQL cannot store") }
        return String(decoding: value.bytes, as: UTF8.self)
    }

    /// The event time: the client's time corrected for its clock's skew when it also sent
    /// its clock at sending (`received - (sent - client)`), else the client's time as is,
    /// else the receive time; refused when it lies too far ahead or beyond the retention.
    func occurredAt(client: Date?, sent: Date?, received: Date, fields: String) throws(EventFieldError) -> Date {
        var occurred = client ?? received
        if let client, let sent {
            // Both lie in Timestamps' range, so the difference is finite; the corrected
            // time may not be, and is checked before it is formatted or stored.
            occurred = received.addingTimeInterval(-sent.timeIntervalSince(client))
            guard Timestamps.isAccepted(occurred) else {
                throw EventFieldError("\(fields): the corrected time (received_at - (sent_at - timestamp)) lies outside \(Timestamps.rangeDescription)")
            }
        }
        if occurred.timeIntervalSince(received) > configuration.maximumFuture {
            throw EventFieldError("timestamp: \(RFC3339.format(occurred)) lies in the future; send sent_at so Seam can correct the client clock")
        }
        if let maximumAge = configuration.maximumAge, received.timeIntervalSince(occurred) > maximumAge {
            throw EventFieldError("timestamp: \(RFC3339.format(occurred)) is older than the lake's retention (\(Int(maximumAge / 86_400)) days)")
        }
        return occurred
    }

    /// A value quoted for an error message, shortened.
    static func quote(_ value: JSONTape.Value) -> String {
        let bytes = value.bytes
        return bytes.count <= 64 ? String(decoding: bytes, as: UTF8.self) : String(decoding: bytes.prefix(60), as: UTF8.self) + "…\""
    }
}
