import Foundation

/// Event ids for messages whose clients name them otherwise than with a UUID.
///
/// `lake.tag_events.event_id` is a UUID and the deduplication key. Segment's `messageId` is
/// any string (analytics.js sends `ajs-next-1764…-…`, analytics-python a UUID). A message
/// id that is a UUID is the event id as it is, so ids match across protocols; any other is
/// mapped to the name-based UUID (version 5, RFC 9562) of `"<protocol>:<message id>"` in
/// Seam's namespace, so the same message id always gives the same event id.
public enum MessageIDs {
    /// Seam's namespace for name-based event ids (itself uuid5(NAMESPACE_URL, "https://seam.invalid/event-id"),
    /// 2ef4e18f-4a66-5156-945f-9e3a34214e12).
    public static let namespace = UUID(uuid: (0x2e, 0xf4, 0xe1, 0x8f, 0x4a, 0x66, 0x51, 0x56, 0x94, 0x5f, 0x9e, 0x3a, 0x34, 0x21, 0x4e, 0x12))

    /// The event id of message `id` posted with `protocolName`.
    public static func eventID(protocol protocolName: String, messageID id: String) -> UUID {
        if let uuid = UUIDText.parse(Array(id.utf8)[...]) { return uuid }
        return nameBased(protocolName + ":" + id)
    }

    /// uuid5(`namespace`, `name`).
    public static func nameBased(_ name: String, namespace: UUID = MessageIDs.namespace) -> UUID {
        nameBased(utf8: Array(name.utf8), namespace: namespace)
    }

    /// uuid5(`namespace`, the name whose UTF-8 bytes are `name`).
    public static func nameBased(utf8 name: [UInt8], namespace: UUID = MessageIDs.namespace) -> UUID {
        var input: [UInt8] = []
        input.reserveCapacity(16 + name.count)
        withUnsafeBytes(of: namespace.uuid) { input.append(contentsOf: $0) }
        input.append(contentsOf: name)
        var d = SHA1.digest(input)
        d[6] = (d[6] & 0x0F) | 0x50  // version 5
        d[8] = (d[8] & 0x3F) | 0x80  // RFC 9562 variant
        return UUID(uuid: (d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]))
    }
}

/// UUIDs in their text form (`8-4-4-4-12` hex digits, either case), read from bytes.
public enum UUIDText {
    public static func parse(_ text: ArraySlice<UInt8>) -> UUID? {
        guard text.count == 36 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 16)
        var out = 0
        var i = text.startIndex
        while i < text.endIndex {
            let offset = i - text.startIndex
            if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                guard text[i] == UInt8(ascii: "-") else { return nil }
                i += 1
                continue
            }
            guard i + 1 < text.endIndex, let high = TraceIDs.nibble(text[i]), let low = TraceIDs.nibble(text[i + 1]) else { return nil }
            bytes[out] = high << 4 | low
            out += 1
            i += 2
        }
        guard out == 16 else { return nil }
        return UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9],
                           bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
    }
}
