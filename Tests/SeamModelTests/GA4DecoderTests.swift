import Foundation
import Testing

@testable import SeamModel

@Suite("GA4 Measurement Protocol")
struct GA4DecoderTests {
    static let received = Date(timeIntervalSince1970: 1_795_262_400)
    static let web = GA4Decoder.Stream(measurementID: "G-TEST1", firebaseAppID: nil)
    static let decoder = GA4Decoder()

    static func decode(_ body: String, stream: GA4Decoder.Stream = web) -> GA4Decoder.Outcome {
        decoder.decode(Array(body.utf8), stream: stream, receivedAt: received, source: "site")
    }

    static func codes(_ body: String) -> [String] {
        decode(body).messages.map { "\($0.fieldPath) \($0.validationCode)" }
    }

    @Test("a request maps to one row per event: ids, params as sent, session, page fields, user properties, context, time")
    func mapping() throws {
        let micros = Int64(Self.received.timeIntervalSince1970 * 1_000_000) - 3_000_000
        let outcome = Self.decode(
            #"{"client_id":"123.456","user_id":"u-9","timestamp_micros":\#(micros),"user_properties":{"tier":{"value":"gold"}},"device":{"category":"mobile"},"events":[{"name":"purchase","params":{"session_id":1764000000,"engagement_time_msec":120,"currency":"EUR","value":30.5,"transaction_id":"T1","items":[{"item_id":"B-1","price":30.5,"quantity":1}]}},{"name":"page_view","params":{"page_location":"https://shop.test/x","page_referrer":"https://r.test/","page_title":"X"},"timestamp_micros":"\#(micros + 1_000_000)"}]}"#)
        #expect(outcome.messages.isEmpty, "\(outcome.messages)")
        let r = outcome.accepted
        #expect(r.map(\.name) == ["purchase", "page_view"])
        #expect(r.allSatisfy { $0.protocol == "ga4" && $0.callType == "event" && $0.anonymousID == "123.456" && $0.userID == "u-9" && $0.source == "site" })
        #expect(r[0].sessionID == "1764000000" && r[0].properties.hasPrefix(#"{"session_id":1764000000,"#))
        #expect(r[0].traits == #"{"tier":{"value":"gold"}}"#)
        #expect(r[0].context == #"{"measurement_id":"G-TEST1","device":{"category":"mobile"}}"#)
        #expect(r[0].occurredAt.timeIntervalSince(Self.received) == -3 && r[1].occurredAt.timeIntervalSince(Self.received) == -2)
        #expect(r[1].pageURL == "https://shop.test/x" && r[1].pageReferrer == "https://r.test/" && r[1].pageTitle == "X")
        let app = Self.decode(#"{"app_instance_id":"abc","events":[{"name":"level_up"}]}"#, stream: .init(measurementID: nil, firebaseAppID: "1:2:android:3"))
        #expect(app.accepted.first?.anonymousID == "abc" && app.accepted.first?.context == #"{"firebase_app_id":"1:2:android:3"}"#)
    }

    @Test("event ids: a retried request with timestamp_micros gives the same ids; without it, each receipt is new")
    func eventIDs() {
        let timed = #"{"client_id":"c","timestamp_micros":1795262390000000,"events":[{"name":"a"},{"name":"a"}]}"#
        let first = Self.decode(timed).accepted.map(\.eventID)
        #expect(first == Self.decode(timed).accepted.map(\.eventID) && Set(first).count == 2)
        let untimed = #"{"client_id":"c","events":[{"name":"a"}]}"#
        let once = GA4Decoder().decode(Array(untimed.utf8), stream: Self.web, receivedAt: Self.received, source: nil).accepted[0].eventID
        let later = GA4Decoder().decode(Array(untimed.utf8), stream: Self.web, receivedAt: Self.received + 1, source: nil).accepted[0].eventID
        #expect(once != later)
    }

    @Test("each documented limit is reported with GA4's field path and validation code, and refuses only what breaks it")
    func limits() {
        let params26 = (0..<26).map { #""p\#($0)":1"# }.joined(separator: ",")
        let events26 = (0..<26).map { _ in #"{"name":"e"}"# }.joined(separator: ",")
        let props26 = (0..<26).map { #""u\#($0)":{"value":"x"}"# }.joined(separator: ",")
        let long = String(repeating: "x", count: 101)
        let cases: [(String, [String])] = [
            (#"{"events":[{"name":"e"}]}"#, ["client_id VALUE_REQUIRED"]),
            (#"{"client_id":"c"}"#, ["events VALUE_REQUIRED"]),
            (#"{"client_id":"c","events":[\#(events26)]}"#, ["events EXCEEDED_MAX_ENTITIES"]),
            (#"{"client_id":"c","events":[{"name":"e","params":{\#(params26)}}]}"#, ["events[0].params EXCEEDED_MAX_ENTITIES"]),
            (#"{"client_id":"c","user_properties":{\#(props26)},"events":[{"name":"e"}]}"#, ["user_properties EXCEEDED_MAX_ENTITIES"]),
            (#"{"client_id":"c","user_properties":{"a_very_long_user_property_name":{"value":"x"}},"events":[{"name":"e"}]}"#, ["user_properties.a_very_long_user_property_name VALUE_OUT_OF_BOUNDS"]),
            (#"{"client_id":"c","user_properties":{"tier":{"value":"\#(String(repeating: "g", count: 37))"}},"events":[{"name":"e"}]}"#, ["user_properties.tier VALUE_OUT_OF_BOUNDS"]),
            (#"{"client_id":"c","user_properties":{"user_id":{"value":"x"}},"events":[{"name":"e"}]}"#, ["user_properties.user_id NAME_RESERVED"]),
            (#"{"client_id":"c","events":[{"name":"\#(String(repeating: "e", count: 41))"}]}"#, ["events[0].name VALUE_OUT_OF_BOUNDS"]),
            (#"{"client_id":"c","events":[{"name":"9lives"}]}"#, ["events[0].name NAME_INVALID"]),
            (#"{"client_id":"c","events":[{"name":"add-to-cart"}]}"#, ["events[0].name NAME_INVALID"]),
            (#"{"client_id":"c","events":[{"name":"session_start"}]}"#, ["events[0].name NAME_RESERVED"]),
            (#"{"client_id":"c","events":[{"name":"e","params":{"google_x":1}}]}"#, ["events[0].params.google_x NAME_RESERVED"]),
            (#"{"client_id":"c","events":[{"name":"e","params":{"note":"\#(long)"}}]}"#, ["events[0].params.note VALUE_OUT_OF_BOUNDS"]),
            (#"{"client_id":"c","events":[{"name":"e","params":{"value":3}}]}"#, ["events[0].params.currency VALUE_REQUIRED"]),
            (#"{"client_id":"c","events":[{"name":"e","params":{"value":3,"currency":"EURO"}}]}"#, ["events[0].params.currency VALUE_INVALID"]),
            (#"{"client_id":"c","events":[{"name":"e","params":{"value":3,"currency":"ÉUR"}}]}"#, ["events[0].params.currency VALUE_INVALID"]),
            (#"{"client_id":"c","events":[{"name":"e","params":{"value":3,"currency":978}}]}"#, ["events[0].params.currency VALUE_INVALID"]),
            (#"{"client_id":"c","events":[{"name":"e","params":{"items":[{"price":1}]}}]}"#, ["events[0].params.items[0] VALUE_REQUIRED"]),
            (#"{"client_id":"c","events":[{"name":"e","params":{"items":[{"item_id":"i","c1":1,"c2":1,"c3":1,"c4":1,"c5":1,"c6":1,"c7":1,"c8":1,"c9":1,"c10":1,"c11":1}]}}]}"#, ["events[0].params.items[0] EXCEEDED_MAX_ENTITIES"]),
            (#"{"client_id":"c","timestamp_micros":1795000000000000,"events":[{"name":"e"}]}"#, ["events[0] VALUE_INVALID"]),
            (#"{"client_id":"c","timestamp_micros":"soon","events":[{"name":"e"}]}"#, ["timestamp_micros VALUE_INVALID"]),
            (#"{"client_id":"c","events":[{"name":"e"}"#, [" VALUE_INVALID"]),
        ]
        for (body, expected) in cases {
            #expect(Self.codes(body) == expected, "\(body.prefix(120))")
        }
        #expect(Self.codes(#"{"client_id":"c","events":[{"name":"e","params":{"value":3,"currency":"eur"}}]}"#).isEmpty)
        // A parameter sent twice: the last one counts, for the checks and the columns alike.
        let twice = Self.decode(#"{"client_id":"c","events":[{"name":"e","params":{"page_title":"first","session_id":"s1","page_title":"second"}}]}"#)
        #expect(twice.accepted.first?.pageTitle == "second" && twice.accepted.first?.sessionID == "s1")
        // Only the event that breaks a rule is refused; the request's own fields refuse all.
        let mixed = Self.decode(#"{"client_id":"c","events":[{"name":"ok"},{"name":"session_start"}]}"#)
        #expect(mixed.accepted.map(\.name) == ["ok"] && mixed.rejected.map(\.index) == [1])
        #expect(mixed.rejected.first?.payload == Array(#"{"name":"session_start"}"#.utf8))
        let whole = Self.decode(#"{"events":[{"name":"ok"}]}"#)
        #expect(whole.accepted.isEmpty && whole.rejected.count == 1 && whole.rejected[0].index == nil)
        let noStream = GA4Decoder().decode(Array(#"{"client_id":"c","events":[{"name":"e"}]}"#.utf8), stream: .init(measurementID: nil, firebaseAppID: nil), receivedAt: Self.received, source: nil)
        #expect(noStream.messages.map(\.validationCode) == ["VALUE_REQUIRED"] && noStream.accepted.isEmpty)
        #expect(Self.decoder.decode(Array(repeating: 0x20, count: 130_000), stream: Self.web, receivedAt: Self.received, source: nil).messages.first?.validationCode == "VALUE_OUT_OF_BOUNDS")
    }
}
