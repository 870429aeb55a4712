import Foundation
import SeamModel
import Testing

@testable import SeamIngest

@Suite("Tag event spool frames")
struct TagEventFramesTests {
    @Test("records survive the binary frame encoding exactly, optional fields included")
    func roundTrip() throws {
        let full = TagEventRecord(
            eventID: UUID(), name: "purchase ✓", occurredAt: Date(timeIntervalSince1970: 1_795_262_400.123456),
            clientTimestamp: Date(timeIntervalSince1970: 1_795_262_399.5), sentAt: Date(timeIntervalSince1970: 1_795_262_400),
            receivedAt: Date(timeIntervalSince1970: 1_795_262_401.000001), sessionID: "s", anonymousID: "a", userID: "u",
            traceID: Array(repeating: 7, count: 16), parentSpanID: Array(repeating: 8, count: 8), pageURL: "https://x/",
            pagePath: "/", pageReferrer: "", pageTitle: "T", properties: #"{"value":1}"#, context: "{}", source: "web")
        let sparse = TagEventRecord(eventID: UUID(), name: "page_view", occurredAt: Date(timeIntervalSince1970: 0), receivedAt: Date(timeIntervalSince1970: 1))
        let decoded = try TagEventFrames.decode(try TagEventFrames.encode([full, sparse]))
        #expect(decoded.count == 2)
        #expect(decoded[1] == sparse)
        #expect(decoded[0].eventID == full.eventID && decoded[0].name == full.name && decoded[0].traceID == full.traceID)
        #expect(decoded[0].pageReferrer == "" && decoded[0].source == "web" && decoded[0].parentSpanID == full.parentSpanID)
        #expect(abs(decoded[0].occurredAt.timeIntervalSince(full.occurredAt)) < 0.000_001)
        #expect(abs(decoded[0].clientTimestamp!.timeIntervalSince(full.clientTimestamp!)) < 0.000_001)
    }

    @Test("truncated or foreign payloads are refused")
    func malformed() throws {
        let valid = try TagEventFrames.encode([TagEventRecord(eventID: UUID(), name: "x", occurredAt: Date(), receivedAt: Date())])
        #expect(throws: (any Error).self) { try TagEventFrames.decode(Array(valid.dropLast(3))) }
        #expect(throws: (any Error).self) { try TagEventFrames.decode([2] + valid.dropFirst()) }
        #expect(throws: (any Error).self) { try TagEventFrames.decode(valid + [0]) }
    }
}
