/// One acknowledged request as the spool keeps it: what it holds (`kind`), how its payload
/// is encoded, when Seam received it (written once, here), and the payload. The HTTP side
/// encodes it when it acknowledges; the loader decodes it to store the records. It is the
/// only format both sides share.
///
/// On disk a record is one spool frame. The frame's kind byte says what the frame holds:
///
/// | kind byte | payload |
/// |---|---|
/// | 0x11 spans, 0x12 logs, 0x13 tag events, 0x14 refused records | encoding (1 byte), received (Int64 µs since 1970, little endian), body |
/// | 1 spans, 2 logs (before the envelope) | received (Int64 µs, little endian), protobuf body |
/// | 3 tag events (before the envelope) | `TagEventFrames` version 1, received time per record |
///
/// Kind bytes are stored on disk: never reuse one. The old layouts are still read, so a
/// spool written by an older Seam loads after an upgrade.
public struct SpoolRecord: Sendable, Equatable {
    public enum Kind: UInt8, Sendable, CaseIterable {
        case spans = 0x11
        case logs = 0x12
        case tagEvents = 0x13
        /// Records refused at the acknowledgement, for `lake.rejected` (`RejectionFrames`).
        case refused = 0x14

        /// The `lake.rejected.source` of records of this kind.
        public var source: String {
            switch self {
            case .spans: "traces"
            case .logs: "logs"
            case .tagEvents: "events"
            case .refused: "refused"
            }
        }
    }

    public enum Encoding: UInt8, Sendable {
        /// An OTLP export request in protobuf.
        case protobuf = 1
        /// An OTLP export request in OTLP/JSON.
        case json = 2
        /// Tag event records in `TagEventFrames`' binary layout.
        case tagEventFrames = 3
        /// Refused records in `RejectionFrames`' layout.
        case rejectionFrames = 4

        /// The `lake.rejected.content_type` of a body in this encoding.
        public var contentType: String {
            switch self {
            case .protobuf: "application/x-protobuf"
            case .json: "application/json"
            case .tagEventFrames: "application/vnd.seam.tag-event-frames"
            case .rejectionFrames: "application/vnd.seam.rejection-frames"
            }
        }
    }

    public var kind: Kind
    public var encoding: Encoding
    /// When Seam received the request, in microseconds since 1970-01-01 UTC.
    public var receivedMicros: Int64
    public var body: [UInt8]

    public init(kind: Kind, encoding: Encoding, receivedMicros: Int64, body: [UInt8]) {
        self.kind = kind
        self.encoding = encoding
        self.receivedMicros = receivedMicros
        self.body = body
    }

    static let headerBytes = 9

    /// The spool frame: its kind byte and payload.
    public var frame: (kind: UInt8, payload: [UInt8]) {
        var payload: [UInt8] = []
        payload.reserveCapacity(Self.headerBytes + body.count)
        payload.append(encoding.rawValue)
        withUnsafeBytes(of: receivedMicros.littleEndian) { payload.append(contentsOf: $0) }
        payload.append(contentsOf: body)
        return (kind.rawValue, payload)
    }

    /// The record a spool frame holds, in the current layout or an older one.
    public static func decode(frameKind: UInt8, payload: [UInt8]) throws(DecodeError) -> SpoolRecord {
        switch frameKind {
        case 1, 2:
            guard payload.count >= 8 else { throw DecodeError("OTLP frame shorter than its 8-byte header") }
            return SpoolRecord(
                kind: frameKind == 1 ? .spans : .logs, encoding: .protobuf, receivedMicros: int64(payload, at: 0),
                body: Array(payload[8...]))
        case 3:
            // Version 1 tag event frames carry the receive time in every record; the first
            // record's (33 bytes in: version, count, uuid, occurred_at) stands for the request.
            let received = payload.count >= 41 ? int64(payload, at: 33) : 0
            return SpoolRecord(kind: .tagEvents, encoding: .tagEventFrames, receivedMicros: received, body: payload)
        default:
            guard let kind = Kind(rawValue: frameKind) else { throw DecodeError("unknown spool frame kind \(frameKind)") }
            guard payload.count >= headerBytes else { throw DecodeError("spool record shorter than its 9-byte header") }
            guard let encoding = Encoding(rawValue: payload[0]) else { throw DecodeError("unknown spool record encoding \(payload[0])") }
            return SpoolRecord(kind: kind, encoding: encoding, receivedMicros: int64(payload, at: 1), body: Array(payload[headerBytes...]))
        }
    }

    /// What a frame holds, from its kind byte alone (for rejections of frames that do not decode).
    public static func kind(ofFrame frameKind: UInt8) -> Kind? {
        switch frameKind {
        case 1: .spans
        case 2: .logs
        case 3: .tagEvents
        default: Kind(rawValue: frameKind)
        }
    }

    private static func int64(_ bytes: [UInt8], at offset: Int) -> Int64 {
        var value: UInt64 = 0
        for i in 0..<8 { value |= UInt64(bytes[offset + i]) << (8 * UInt64(i)) }
        return Int64(bitPattern: value)
    }

    public struct DecodeError: Error, CustomStringConvertible, Equatable {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }
}
