import Foundation
import Testing

@testable import SeamModel

@Suite("Tag event decoding")
struct TagEventDecoderTests {
    let received = Date(timeIntervalSince1970: 1_795_262_400)  // 2026-11-21T12:00:00Z
    let decoder = TagEventDecoder()
    static let id = "6f9619ff-8b86-4011-b42d-00cf4fc964ff"

    func decode(_ json: String) throws -> TagEventDecoder.Batch {
        try decoder.decode(Array(json.utf8), receivedAt: received, source: "web")
    }

    struct Refused: Error { var reason: String }

    func one(_ fields: String) throws -> Result<TagEventRecord, Refused> {
        let batch = try decode(#"{"events":[{"event_id":"\#(Self.id)","name":"page_view","session_id":"s1"\#(fields)}]}"#)
        if let record = batch.accepted.first { return .success(record) }
        return .failure(Refused(reason: batch.rejected.first?.reason ?? "nothing"))
    }

    func reason(_ fields: String) throws -> String {
        guard case .failure(let refused) = try one(fields) else { return "accepted" }
        return refused.reason
    }

    @Test("a full event maps every field")
    func fullEvent() throws {
        let record = try one(
            #"""
            ,"timestamp":"2026-11-21T11:59:58.500Z","sent_at":"2026-11-21T11:59:59.000Z","anonymous_id":"a1","user_id":"u1",
            "traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "page":{"url":"https://shop.example/p/42?x=1","path":"/p/42","referrer":"https://search.example/","title":"Shoe"},
            "properties":{"product_id":"42","value":59.9,"currency":"EUR"},"context":{"locale":"de-DE"}
            """#
        ).get()
        #expect(record.eventID == UUID(uuidString: Self.id))
        #expect(record.name == "page_view")
        #expect(record.sessionID == "s1" && record.anonymousID == "a1" && record.userID == "u1")
        #expect(TraceIDs.hex(record.traceID ?? []) == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(TraceIDs.hex(record.parentSpanID ?? []) == "00f067aa0ba902b7")
        #expect(record.pageURL == "https://shop.example/p/42?x=1")
        #expect(record.pagePath == "/p/42" && record.pageTitle == "Shoe" && record.pageReferrer == "https://search.example/")
        #expect(record.properties.contains(#""currency":"EUR""#))
        #expect(record.context == #"{"locale":"de-DE"}"#)
        #expect(record.source == "web")
        #expect(record.receivedAt == received)
        // Skew correction: the event happened 0.5 s before the client sent it.
        #expect(abs(record.occurredAt.timeIntervalSince(received) + 0.5) < 0.000_001)
    }

    @Test("clock skew: a client clock two hours behind is corrected to Seam's clock")
    func skew() throws {
        let record = try one(#","timestamp":"2026-11-21T09:59:50Z","sent_at":"2026-11-21T10:00:00Z""#).get()
        #expect(record.occurredAt == received.addingTimeInterval(-10))
        #expect(record.clientTimestamp == RFC3339.parse("2026-11-21T09:59:50Z"))
        let noSentAt = try one(#","timestamp":"2026-11-21T11:00:00+01:00""#).get()
        #expect(noSentAt.occurredAt == RFC3339.parse("2026-11-21T10:00:00Z"))
        let neither = try one("").get()
        #expect(neither.occurredAt == received)
        let batchSentAt = try decode(
            #"{"sent_at":"2026-11-21T10:00:00Z","events":[{"event_id":"\#(Self.id)","name":"x","session_id":"s","timestamp":"2026-11-21T09:59:00Z"}]}"#)
        #expect(batchSentAt.accepted.first?.occurredAt == received.addingTimeInterval(-60))
    }

    @Test("each rule refuses its event with a reason naming the field")
    func rules() throws {
        #expect(try reason(",\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7\"").hasPrefix("traceparent:"))
        #expect(try reason(",\"traceparent\":\"00-00000000000000000000000000000000-00f067aa0ba902b7-01\"").contains("trace id"))
        #expect(try reason(",\"traceparent\":\"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01\"").contains("lowercase"))
        #expect(try reason(",\"traceparent\":\"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"").contains("version"))
        #expect(try reason(",\"trace_id\":\"abc\"").hasPrefix("trace_id:"))
        #expect(try reason(",\"timestamp\":\"yesterday\"").hasPrefix("timestamp:"))
        #expect(try reason(",\"timestamp\":true").hasPrefix("timestamp:"))
        #expect(try reason(",\"timestamp\":\"2030-01-01T00:00:00Z\"").contains("future"))
        #expect(try reason(",\"timestamp\":\"2020-01-01T00:00:00Z\"").contains("retention"))
        #expect(try reason(",\"sent_at\":\"2026-13-01T00:00:00Z\"").hasPrefix("sent_at:"))
        #expect(try reason(",\"page\":\"home\"").hasPrefix("page:"))
        #expect(try reason(",\"page\":{\"url\":5}").hasPrefix("page.url:"))
        #expect(try reason(",\"properties\":[1,2]").hasPrefix("properties:"))
        #expect(try reason(",\"context\":\"x\"").hasPrefix("context:"))
        #expect(try reason(",\"user_id\":42").hasPrefix("user_id:"))

        let batch = try decode(
            #"""
            {"events":[
              {"name":"page_view","session_id":"s"},
              {"event_id":"not-a-uuid","name":"page_view","session_id":"s"},
              {"event_id":"\#(Self.id)","session_id":"s"},
              {"event_id":"\#(Self.id)","name":"page_view"},
              "just a string"
            ]}
            """#)
        #expect(batch.accepted.isEmpty)
        #expect(batch.rejected.map(\.index) == [0, 1, 2, 3, 4])
        #expect(batch.rejected[0].reason.hasPrefix("event_id: required"))
        #expect(batch.rejected[1].reason.hasPrefix("event_id: must be a UUID"))
        #expect(batch.rejected[1].eventID == "not-a-uuid")
        #expect(batch.rejected[2].reason.hasPrefix("name:"))
        #expect(batch.rejected[3].reason.contains("at least one"))
    }

    @Test("a mixed batch keeps its valid events")
    func mixed() throws {
        let batch = try decode(
            #"""
            {"events":[
              {"event_id":"\#(UUID().uuidString)","name":"page_view","session_id":"s"},
              {"event_id":"\#(UUID().uuidString)","name":"","session_id":"s"},
              {"event_id":"\#(UUID().uuidString)","name":"add_to_basket","anonymous_id":"a"}
            ]}
            """#)
        #expect(batch.accepted.map(\.name) == ["page_view", "add_to_basket"])
        #expect(batch.rejected.map(\.index) == [1])
    }

    @Test("bodies that are not a batch are refused whole")
    func notABatch() {
        for body in ["", "[]", "{\"events\":{}}", "{\"nope\":[]}", "{\"events\":[], \"sent_at\":\"x\"}"] {
            #expect(throws: TagEventDecoder.BatchError.self) { try decode(body) }
        }
        let tooMany = "{\"events\":[" + Array(repeating: "{}", count: 1001).joined(separator: ",") + "]}"
        #expect(throws: TagEventDecoder.BatchError.self) { try decode(tooMany) }
    }

    @Test("RFC 3339 timestamps parse with offsets and fractions, and format back")
    func rfc3339() {
        #expect(RFC3339.parse("2026-11-21T12:00:00Z") == received)
        #expect(RFC3339.parse("2026-11-21t13:30:00+01:30") == received)
        #expect(RFC3339.parse("2026-11-21 12:00:00.25z") == received.addingTimeInterval(0.25))
        #expect(RFC3339.parse("2026-11-21T12:00:00") == nil)
        #expect(RFC3339.parse("2026-11-21T12:00:00.Z") == nil)
        #expect(RFC3339.format(received.addingTimeInterval(0.123456)) == "2026-11-21T12:00:00.123456Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: -1)) == "1969-12-31T23:59:59.000000Z")
    }
}

@Suite("Tag events keep the client's bytes")
struct TagEventClientBytesTests {
    @Test("every accepted event carries its JSON object as sent, whatever the batch's spacing")
    func clientBytes() throws {
        let first = #"{"event_id":"6f9619ff-8b86-d011-b42d-00cf4fc964ff","name":"page_view","session_id":"s"}"#
        let second = #"{ "event_id" : "7f9619ff-8b86-d011-b42d-00cf4fc964ff", "name": "purchase", "session_id": "s" }"#
        let body = Array("{\"events\": [\n  \(first),  {\"name\": 5},\n  \(second)\n]}".utf8)
        let batch = try TagEventDecoder().decode(body, receivedAt: Date(), source: nil)
        #expect(batch.accepted.count == 2 && batch.rejected.count == 1)
        #expect(batch.accepted.map(\.clientJSON) == [Array(first.utf8), Array(second.utf8)])
    }
}
