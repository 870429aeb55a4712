import Foundation
import SeamModel
import Testing

@testable import SeamRecords

@Suite("Spool records")
struct SpoolRecordTests {
    static let received: Int64 = 1_795_262_401_000_001

    static let full = TagEventRecord(
        eventID: UUID(), name: "purchase ✓", occurredAt: Date(timeIntervalSince1970: 1_795_262_400.123456),
        clientTimestamp: Date(timeIntervalSince1970: 1_795_262_399.5), sentAt: Date(timeIntervalSince1970: 1_795_262_400),
        receivedAt: Date(timeIntervalSince1970: Double(received) / 1_000_000), sessionID: "s", anonymousID: "a", userID: "u",
        traceID: Array(repeating: 7, count: 16), parentSpanID: Array(repeating: 8, count: 8), pageURL: "https://x/",
        pagePath: "/", pageReferrer: "", pageTitle: "T", properties: #"{"value":1}"#, context: "{}", source: "web",
        clientJSON: Array(#"{"event_id": "…", "name": "purchase ✓"}"#.utf8))

    @Test("tag events survive the envelope and the binary body exactly, optional fields included")
    func roundTrip() throws {
        let sparse = TagEventRecord(
            eventID: UUID(), name: "page_view", occurredAt: Date(timeIntervalSince1970: 0),
            receivedAt: Date(timeIntervalSince1970: Double(Self.received) / 1_000_000))
        let frame = SpoolRecord(
            kind: .tagEvents, encoding: .tagEventFrames, receivedMicros: Self.received, body: TagEventFrames.encode([Self.full, sparse])
        ).frame
        #expect(frame.kind == 0x13)
        let record = try SpoolRecord.decode(frameKind: frame.kind, payload: frame.payload)
        #expect(record.kind == .tagEvents && record.encoding == .tagEventFrames && record.receivedMicros == Self.received)
        let decoded = try TagEventFrames.decode(record.body, receivedMicros: record.receivedMicros)
        #expect(decoded.count == 2)
        #expect(decoded[1] == sparse)
        let full = Self.full
        #expect(decoded[0].eventID == full.eventID && decoded[0].name == full.name && decoded[0].traceID == full.traceID)
        #expect(decoded[0].pageReferrer == "" && decoded[0].source == "web" && decoded[0].parentSpanID == full.parentSpanID)
        #expect(abs(decoded[0].occurredAt.timeIntervalSince(full.occurredAt)) < 0.000_001)
        #expect(abs(decoded[0].clientTimestamp!.timeIntervalSince(full.clientTimestamp!)) < 0.000_001)
        #expect(decoded[0].receivedAt == full.receivedAt)
        #expect(decoded[0].clientJSON == full.clientJSON && decoded[1].clientJSON == nil)
    }

    @Test("the receive time is written once per request, not per record")
    func receivedOnce() {
        let one = TagEventFrames.encode([Self.full])
        let two = TagEventFrames.encode([Self.full, Self.full])
        let perRecord = two.count - one.count
        // uuid 16 + three times 8 + eleven text lengths 4 + three byte-field lengths 4 + eight
        // protocol-field lengths 4 + their bytes
        let texts = [Self.full.name, "s", "a", "u", "https://x/", "/", "", "T", #"{"value":1}"#, "{}", "web", "seam"].map(\.utf8.count).reduce(0, +)
        #expect(perRecord == 16 + 3 * 8 + 22 * 4 + texts + 16 + 8 + (Self.full.clientJSON?.count ?? 0))
    }

    @Test("spools written before the envelope still decode: OTLP frames and version 1 tag event frames")
    func legacyFrames() throws {
        var otlp: [UInt8] = []
        withUnsafeBytes(of: Self.received.littleEndian) { otlp.append(contentsOf: $0) }
        otlp += [0x0A, 0x00]
        let spans = try SpoolRecord.decode(frameKind: 1, payload: otlp)
        #expect(spans == SpoolRecord(kind: .spans, encoding: .protobuf, receivedMicros: Self.received, body: [0x0A, 0x00]))
        #expect(try SpoolRecord.decode(frameKind: 2, payload: otlp).kind == .logs)

        // Version 1: received_at after occurred_at in every record, and no client bytes.
        var withoutClientBytes = Self.full
        withoutClientBytes.clientJSON = nil
        var v1 = TagEventFrames.encode([withoutClientBytes])
        v1.removeLast(8 + 7 * 4 + 4)  // the protocol fields ("seam", then none) and the client bytes' length (none)
        v1[0] = 1
        var received: [UInt8] = []
        withUnsafeBytes(of: Self.received.littleEndian) { received.append(contentsOf: $0) }
        v1.insert(contentsOf: received, at: 1 + 8 + 16 + 8)
        let record = try SpoolRecord.decode(frameKind: 3, payload: v1)
        #expect(record.kind == .tagEvents && record.receivedMicros == Self.received)
        let decoded = try TagEventFrames.decode(record.body, receivedMicros: 0)
        #expect(decoded.map(\.eventID) == [Self.full.eventID])
        #expect(decoded[0].receivedAt == Self.full.receivedAt)
    }

    @Test("version 3 frames (before the Segment and GA4 fields) still decode, as Seam's own events")
    func version3() throws {
        var v3 = TagEventFrames.encode([Self.full])
        v3.removeLast(8 + 7 * 4)  // the protocol fields: "seam", then none
        v3[0] = 3
        let decoded = try TagEventFrames.decode(v3, receivedMicros: Self.received)
        #expect(decoded.map(\.eventID) == [Self.full.eventID])
        #expect(decoded[0].protocol == "seam" && decoded[0].callType == nil && decoded[0].clientJSON == Self.full.clientJSON)
    }

    @Test("the Segment and GA4 fields survive the frames")
    func protocolFields() throws {
        var record = Self.full
        record.protocol = "segment"
        (record.callType, record.messageID, record.previousID, record.groupID) = ("alias", "ajs-next-1", "anon-1", "g")
        (record.pageName, record.traits, record.integrations) = ("Docs Home", #"{"plan":"pro"}"#, #"{"All":true}"#)
        let decoded = try TagEventFrames.decode(TagEventFrames.encode([record]), receivedMicros: Self.received)
        #expect(decoded.count == 1)
        #expect(decoded[0].protocol == "segment" && decoded[0].callType == "alias" && decoded[0].messageID == "ajs-next-1")
        #expect(decoded[0].previousID == "anon-1" && decoded[0].groupID == "g" && decoded[0].pageName == "Docs Home")
        #expect(decoded[0].traits == record.traits && decoded[0].integrations == record.integrations)
    }

    @Test("truncated or foreign payloads are refused with a reason")
    func malformed() throws {
        let valid = TagEventFrames.encode([TagEventRecord(eventID: UUID(), name: "x", occurredAt: Date(), receivedAt: Date())])
        #expect(throws: (any Error).self) { try TagEventFrames.decode(Array(valid.dropLast(3)), receivedMicros: 0) }
        #expect(throws: (any Error).self) { try TagEventFrames.decode([9] + valid.dropFirst(), receivedMicros: 0) }
        #expect(throws: (any Error).self) { try TagEventFrames.decode(valid + [0], receivedMicros: 0) }
        #expect(throws: SpoolRecord.DecodeError("unknown spool frame kind 200")) { try SpoolRecord.decode(frameKind: 200, payload: []) }
        #expect(throws: SpoolRecord.DecodeError("spool record shorter than its 9-byte header")) {
            try SpoolRecord.decode(frameKind: 0x11, payload: [1, 2, 3])
        }
        #expect(throws: SpoolRecord.DecodeError("unknown spool record encoding 9")) {
            try SpoolRecord.decode(frameKind: 0x11, payload: [9] + Array(repeating: 0, count: 8))
        }
        #expect(throws: SpoolRecord.DecodeError("OTLP frame shorter than its 8-byte header")) { try SpoolRecord.decode(frameKind: 1, payload: [1]) }
    }
}
