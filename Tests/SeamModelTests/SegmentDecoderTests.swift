import Foundation
@testable import SeamModel
import Testing

@Suite("Segment tracking API")
struct SegmentDecoderTests {
    static let received = Date(timeIntervalSince1970: 1_795_262_400)  // 2026-11-21T10:00:00Z
    static let decoder = SegmentDecoder()

    static func batch(_ messages: [String], extra: String = "") throws -> SegmentDecoder.Outcome {
        let body = Array(#"{"batch":[\#(messages.joined(separator: ","))]\#(extra)}"#.utf8)
        return try decoder.decode(try decoder.read(body, call: nil), call: nil, receivedAt: received, source: "web")
    }

    static func single(_ call: SegmentDecoder.Call, _ message: String) throws -> SegmentDecoder.Outcome {
        try decoder.decode(try decoder.read(Array(message.utf8), call: call), call: call, receivedAt: received, source: "web")
    }

    @Test("every call type maps to its tag event: names, ids, page fields, traits, alias and group ids")
    func mapping() throws {
        let outcome = try Self.batch([
            #"{"type":"track","event":"Order Completed","userId":"u1","messageId":"ajs-next-1","properties":{"revenue":9.5,"currency":"EUR"},"context":{"ip":"203.0.113.9","locale":"de-DE"},"integrations":{"All":true}}"#,
            #"{"type":"page","anonymousId":"a1","name":"Docs","category":"Help","properties":{"url":"https://x.test/docs?q=1","path":"/docs","title":"Docs"},"context":{"page":{"referrer":"https://r.test/"}}}"#,
            #"{"type":"screen","anonymousId":"a1","name":"Basket"}"#,
            #"{"type":"identify","anonymousId":"a1","userId":"u1","traits":{"plan":"pro","email":"a@x.test"}}"#,
            #"{"type":"alias","previousId":"a1","userId":"u1"}"#,
            #"{"type":"group","userId":"u1","groupId":"acme","traits":{"employees":40}}"#,
        ])
        #expect(outcome.rejected.isEmpty, "\(outcome.rejected)")
        let r = outcome.accepted
        #expect(r.map(\.name) == ["Order Completed", "page_view", "screen_view", "identify", "alias", "group"])
        #expect(r.map(\.callType) == ["track", "page", "screen", "identify", "alias", "group"])
        #expect(r.allSatisfy { $0.protocol == "segment" && $0.source == "web" })
        #expect(r[0].properties == #"{"revenue":9.5,"currency":"EUR"}"#, "properties are the client's bytes")
        #expect(r[0].context == #"{"ip":"203.0.113.9","locale":"de-DE"}"# && r[0].integrations == #"{"All":true}"#)
        #expect(r[0].messageID == "ajs-next-1" && r[0].eventID == MessageIDs.eventID(protocol: "segment", messageID: "ajs-next-1"))
        #expect(r[1].pageName == "Help Docs" && r[1].pageURL == "https://x.test/docs?q=1" && r[1].pagePath == "/docs")
        #expect(r[1].pageReferrer == "https://r.test/" && r[1].pageTitle == "Docs", "context.page fills what properties lack")
        #expect(r[2].pageName == "Basket")
        #expect(r[3].traits == #"{"plan":"pro","email":"a@x.test"}"# && r[3].anonymousID == "a1" && r[3].userID == "u1")
        #expect(r[4].previousID == "a1" && r[4].userID == "u1" && r[4].anonymousID == nil)
        #expect(r[5].groupID == "acme" && r[5].traits == #"{"employees":40}"#)
        #expect(r.allSatisfy { $0.clientJSON != nil })
    }

    @Test("the same messageId gives the same event id however often it is sent; a UUID messageId is the event id")
    func dedupeKey() throws {
        let message = #"{"type":"track","event":"e","anonymousId":"a","messageId":"ajs-next-1764000000000-abc"}"#
        let first = try Self.batch([message]).accepted[0].eventID
        let again = try Self.single(.track, message).accepted[0].eventID
        #expect(first == again)
        let uuid = UUID()
        let withUUID = try Self.single(.track, #"{"event":"e","anonymousId":"a","messageId":"\#(uuid.uuidString.lowercased())"}"#)
        #expect(withUUID.accepted[0].eventID == uuid)
        let without = try Self.single(.track, #"{"event":"e","anonymousId":"a"}"#).accepted[0]
        #expect(without.messageID == nil)
    }

    @Test("clock skew: originalTimestamp (else timestamp) is corrected by sentAt, from the message or the batch")
    func clockSkew() throws {
        // The client's clock is 28 hours behind; it sent the batch 5 s after the event.
        let outcome = try Self.batch(
            [
                #"{"type":"track","event":"e","anonymousId":"a","timestamp":"2026-11-20T05:59:55Z"}"#,
                #"{"type":"track","event":"e","anonymousId":"a","originalTimestamp":"2026-11-20T05:59:50Z","timestamp":"2026-11-20T05:59:55Z"}"#,
                #"{"type":"track","event":"e","anonymousId":"a","timestamp":"2026-11-20T05:59:58Z","sentAt":"2026-11-20T05:59:59Z"}"#,
            ], extra: #","sentAt":"2026-11-20T06:00:00Z""#)
        let times = outcome.accepted.map { $0.occurredAt.timeIntervalSince(Self.received) }
        #expect(times == [-5, -10, -1])
        #expect(outcome.accepted[0].clientTimestamp == RFC3339.parse("2026-11-20T05:59:55Z"))
    }

    @Test("a message that breaks a rule is refused alone, with the field and reason, keeping its bytes")
    func refusals() throws {
        let cases: [(String, String)] = [
            (#"{"type":"track","anonymousId":"a"}"#, "event: required"),
            (#"{"type":"track","event":"e"}"#, "anonymousId, userId: at least one is required"),
            (#"{"type":"alias","userId":"u"}"#, "previousId: required"),
            (#"{"type":"alias","previousId":"a"}"#, "userId: required"),
            (#"{"type":"group","userId":"u"}"#, "groupId: required"),
            (#"{"type":"wave","userId":"u"}"#, "type: required, one of track, page"),
            (#"{"type":"track","event":"e","userId":"u","properties":[1]}"#, "properties: must be an object, got an array"),
            (#"{"type":"track","event":"e","userId":"u","timestamp":"yesterday"}"#, "timestamp: must be an RFC 3339"),
            (#"{"type":"track","event":"e","userId":"u","context":{"x":"\u0000"}}"#, "context: contains \\u0000"),
            (#"{"type":"track","event":"e","userId":{"id":1}}"#, "userId: must be a string, got an object"),
            (#"[1]"#, "batch[1]: a message must be a JSON object"),
        ]
        for (message, reason) in cases {
            let good = #"{"type":"track","event":"ok","anonymousId":"a"}"#
            let outcome = try Self.batch([good, message])
            #expect(outcome.accepted.count == 1, "\(message)")
            let rejection = try #require(outcome.rejected.first, "\(message)")
            #expect(rejection.index == 1)
            #expect(rejection.reason.hasPrefix(reason) || rejection.reason.contains(reason), "\(message): \(rejection.reason)")
            #expect(rejection.payload == Array(message.utf8))
        }
        #expect(try Self.single(.track, #"{"event":"e","userId":7}"#).accepted.first?.userID == "7", "numeric ids are taken as their text")
    }

    @Test("Segment's limits: 32 KB per message, 500 KB per batch (refused whole), 2,500 messages (the rest refused one by one)")
    func limits() throws {
        let big = #"{"type":"track","event":"e","anonymousId":"a","properties":{"x":"\#(String(repeating: "y", count: 33_000))"}}"#
        let outcome = try Self.batch([big, #"{"type":"track","event":"e","anonymousId":"a"}"#])
        #expect(outcome.accepted.count == 1 && outcome.rejected.first?.reason.contains("at most 32768") == true)
        #expect(throws: SegmentDecoder.BodyError.self) { try Self.decoder.read(Array(big.utf8), call: .track) }
        let many = (0..<2501).map { _ in #"{"type":"track","event":"e","anonymousId":"a"}"# }
        let counted = try Self.batch(many)
        #expect(counted.accepted.count == 2500 && counted.rejected.map(\.index) == [2500])
        let huge = Array(#"{"batch":[\#(Array(repeating: big, count: 16).joined(separator: ","))]}"#.utf8)
        #expect(throws: SegmentDecoder.BodyError.self) { try Self.decoder.read(huge, call: nil) }
        #expect(throws: SegmentDecoder.BodyError(reason: "body is not valid JSON: unexpected end at byte 10")) {
            try Self.decoder.read(Array(#"{"batch":["#.utf8), call: nil)
        }
    }

    @Test("the write key is found in the body (analytics.js), and batch-level context and integrations apply to messages without their own")
    func bodyKeyAndShared() throws {
        let body = Array(#"{"writeKey":"wk_1","context":{"library":{"name":"x"}},"integrations":{"All":false},"batch":[{"type":"track","event":"e","anonymousId":"a"},{"type":"track","event":"e","anonymousId":"a","context":{"own":1}}]}"#.utf8)
        let request = try Self.decoder.read(body, call: nil)
        #expect(request.writeKey == "wk_1")
        let outcome = try Self.decoder.decode(request, call: nil, receivedAt: Self.received, source: "wk_1")
        #expect(outcome.accepted.map(\.context) == [#"{"library":{"name":"x"}}"#, #"{"own":1}"#])
        #expect(outcome.accepted.allSatisfy { $0.integrations == #"{"All":false}"# })
    }
}
