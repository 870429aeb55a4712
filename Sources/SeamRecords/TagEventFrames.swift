import Foundation
import SeamModel

/// Tag event records in a spool record's body (`SpoolRecord.Encoding.tagEventFrames`): a
/// compact binary layout, several times cheaper to write and read than JSON on the
/// acknowledgement path.
///
/// A version byte (3), the record count (Int64), then per record: uuid (16 bytes); times as
/// little-endian Int64 microseconds (occurred_at, then client_timestamp and sent_at with
/// `Int64.min` for none); then each optional text or byte field as a UInt32 length
/// (`UInt32.max` for none) and its bytes: name, session, anonymous and user ids, page
/// fields, properties, context, source, trace and parent span ids, the event as the client
/// sent it, then what the Segment and GA4 protocols add (protocol, call type, message id,
/// previous id, group id, page name, traits, integrations). The receive time is the spool
/// record's, shared by every record of a request. Older spools' versions are still read: 3
/// (without the protocol fields), 2 (also without the client's bytes) and 1 (also with
/// received_at per record, after occurred_at).
public enum TagEventFrames {
    static let version: UInt8 = 4

    /// `records` (all received with one request) in the binary layout; their `receivedAt`
    /// is not written: the spool record holds it.
    public static func encode(_ records: [TagEventRecord]) -> [UInt8] {
        var out: [UInt8] = [version]
        out.reserveCapacity(1 + records.count * 512)
        appendInt(&out, Int64(records.count))
        for r in records {
            withUnsafeBytes(of: r.eventID.uuid) { out.append(contentsOf: $0) }
            appendInt(&out, micros(r.occurredAt))
            appendInt(&out, r.clientTimestamp.map(micros) ?? .min)
            appendInt(&out, r.sentAt.map(micros) ?? .min)
            // Field by field rather than through arrays of the texts: this runs for every
            // record on the acknowledgement path, and each array cost an allocation and a
            // retain and release per text.
            appendText(&out, r.name)
            appendText(&out, r.sessionID)
            appendText(&out, r.anonymousID)
            appendText(&out, r.userID)
            appendText(&out, r.pageURL)
            appendText(&out, r.pagePath)
            appendText(&out, r.pageReferrer)
            appendText(&out, r.pageTitle)
            appendText(&out, r.properties)
            appendText(&out, r.context)
            appendText(&out, r.source)
            appendBytes(&out, r.traceID)
            appendBytes(&out, r.parentSpanID)
            appendBytes(&out, r.clientJSON)
            appendText(&out, r.protocol)
            appendText(&out, r.callType)
            appendText(&out, r.messageID)
            appendText(&out, r.previousID)
            appendText(&out, r.groupID)
            appendText(&out, r.pageName)
            appendText(&out, r.traits)
            appendText(&out, r.integrations)
        }
        return out
    }

    /// The records of a body; `receivedMicros` is the spool record's receive time (version 1
    /// bodies carry their own).
    public static func decode(_ payload: [UInt8], receivedMicros: Int64) throws -> [TagEventRecord] {
        var reader = Reader(bytes: payload)
        let format = try reader.byte()
        guard (1...version).contains(format) else { throw DecodeError(message: "unknown tag event frame version \(format)") }
        let count = Int(try reader.int())
        guard count >= 0 && count <= payload.count else { throw DecodeError(message: "implausible record count \(count)") }
        var records: [TagEventRecord] = []
        records.reserveCapacity(count)
        for _ in 0..<count {
            let idBytes = Array(try reader.take(16))
            let uuid = UUID(uuid: (idBytes[0], idBytes[1], idBytes[2], idBytes[3], idBytes[4], idBytes[5], idBytes[6], idBytes[7],
                                   idBytes[8], idBytes[9], idBytes[10], idBytes[11], idBytes[12], idBytes[13], idBytes[14], idBytes[15]))
            let occurred = date(try reader.int())
            let received = try format == 1 ? date(reader.int()) : date(receivedMicros)
            let client = try reader.int()
            let sent = try reader.int()
            var texts: [String?] = []
            for _ in 0..<11 { texts.append(try reader.field().map { String(decoding: $0, as: UTF8.self) }) }
            guard let name = texts[0], let properties = texts[8], let context = texts[9] else {
                throw DecodeError(message: "tag event record without name, properties or context")
            }
            var record = TagEventRecord(
                    eventID: uuid, name: name, occurredAt: occurred, clientTimestamp: client == .min ? nil : date(client),
                    sentAt: sent == .min ? nil : date(sent), receivedAt: received, sessionID: texts[1], anonymousID: texts[2],
                    userID: texts[3], traceID: try reader.field(), parentSpanID: try reader.field(), pageURL: texts[4],
                    pagePath: texts[5], pageReferrer: texts[6], pageTitle: texts[7], properties: properties, context: context,
                    source: texts[10], clientJSON: try format >= 3 ? reader.field() : nil)
            if format >= 4 {
                var more: [String?] = []
                for _ in 0..<8 { more.append(try reader.field().map { String(decoding: $0, as: UTF8.self) }) }
                record.protocol = more[0] ?? "seam"
                (record.callType, record.messageID, record.previousID, record.groupID) = (more[1], more[2], more[3], more[4])
                (record.pageName, record.traits, record.integrations) = (more[5], more[6], more[7])
            }
            records.append(record)
        }
        guard reader.atEnd else { throw DecodeError(message: "trailing bytes after the last tag event record") }
        return records
    }

    public struct DecodeError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    private static func micros(_ date: Date) -> Int64 { Timestamps.micros(date) }
    private static func date(_ micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }

    private static func appendInt(_ out: inout [UInt8], _ value: Int64) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    /// As `appendBytes`, without copying the text into an array first.
    private static func appendText(_ out: inout [UInt8], _ text: String?) {
        guard let text else {
            withUnsafeBytes(of: UInt32.max.littleEndian) { out.append(contentsOf: $0) }
            return
        }
        withUnsafeBytes(of: UInt32(truncatingIfNeeded: text.utf8.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: text.utf8)
    }

    private static func appendBytes(_ out: inout [UInt8], _ bytes: [UInt8]?) {
        guard let bytes else {
            withUnsafeBytes(of: UInt32.max.littleEndian) { out.append(contentsOf: $0) }
            return
        }
        withUnsafeBytes(of: UInt32(bytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: bytes)
    }

    private struct Reader {
        let bytes: [UInt8]
        var position = 0
        var atEnd: Bool { position == bytes.count }

        mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count <= bytes.count - position else { throw DecodeError(message: "tag event frame is truncated") }
            defer { position += count }
            return bytes[position..<position + count]
        }

        mutating func byte() throws -> UInt8 { try take(1).first! }

        mutating func int() throws -> Int64 {
            var value: Int64 = 0
            for (i, b) in try take(8).enumerated() { value |= Int64(b) << (8 * i) }
            return value
        }

        mutating func field() throws -> [UInt8]? {
            var length: UInt32 = 0
            for (i, b) in try take(4).enumerated() { length |= UInt32(b) << (8 * i) }
            if length == UInt32.max { return nil }
            return Array(try take(Int(length)))
        }
    }
}
