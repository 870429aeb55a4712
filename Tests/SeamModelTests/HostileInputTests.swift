import Foundation
import Testing

@testable import SeamModel

@Suite("Hostile tag events and JSON")
struct HostileInputTests {
    let received = Date(timeIntervalSince1970: 1_795_262_400)  // 2026-11-21T12:00:00Z
    static let id = "6f9619ff-8b86-4011-b42d-00cf4fc964ff"

    func reasons(_ fields: String, decoder: TagEventDecoder = TagEventDecoder()) throws -> [String] {
        let body = #"{"events":[{"event_id":"\#(Self.id)","name":"page_view","session_id":"s1"\#(fields)}]}"#
        return try decoder.decode(Array(body.utf8), receivedAt: received, source: nil).rejected.map(\.reason)
    }

    @Test(
        "numeric times outside the accepted range are refused with the field named, never trap",
        arguments: ["1e300", "-1e300", "9.3e15", "-9.3e15", "1.7976931348623157e308", "253402300800000", "-62135596800001"])
    func timestampOutOfRange(_ value: String) throws {
        #expect(try reasons(#","timestamp":\#(value)"#).first?.hasPrefix("timestamp: epoch milliseconds") == true)
        #expect(try reasons(#","sent_at":\#(value)"#).first?.hasPrefix("sent_at: epoch milliseconds") == true)
    }

    @Test("a corrected time outside the range is refused (sent_at near the end, timestamp near the start)")
    func correctedTimeOutOfRange() throws {
        let decoder = TagEventDecoder(configuration: .init(maximumAge: nil))
        let refused = try reasons(#","timestamp":-62135596800000,"sent_at":253402300799000"#, decoder: decoder)
        #expect(refused.first?.hasPrefix("timestamp, sent_at: the corrected time") == true)
        // The edges themselves are accepted.
        #expect(try reasons(#","timestamp":-62135596800000"#, decoder: decoder).isEmpty)
    }

    @Test("a batch-level sent_at out of range refuses the batch with a reason")
    func batchSentAt() throws {
        let body = #"{"sent_at":9.2e18,"events":[]}"#
        #expect(throws: TagEventDecoder.BatchError.self) { try TagEventDecoder().decode(Array(body.utf8), receivedAt: received, source: nil) }
    }

    @Test("RFC 3339 years before 0001 are refused; format never traps on any date")
    func rfc3339Edges() {
        #expect(RFC3339.parse("0000-01-01T00:00:00Z") == nil)
        #expect(RFC3339.parse("0001-01-01T00:00:00Z") != nil)
        #expect(RFC3339.parse("9999-12-31T23:59:59.999999Z") != nil)
        for seconds in [Double.infinity, -.infinity, .nan, 1e300, -1e300, Double.greatestFiniteMagnitude] {
            #expect(RFC3339.format(Date(timeIntervalSince1970: seconds)).hasSuffix("Z"))
        }
        #expect(Timestamps.micros(Date(timeIntervalSince1970: .infinity)) == Int64((Timestamps.endSeconds * 1_000_000).rounded()))
    }

    @Test("identifiers are limited in UTF-8 bytes, not characters")
    func identifierBytes() throws {
        let emoji = String(repeating: "🙂", count: 65)  // 65 characters, 260 bytes
        #expect(try reasons(#","user_id":"\#(emoji)""#).first == "user_id: longer than 256 bytes")
        #expect(try reasons(#","user_id":"\#(String(repeating: "🙂", count: 64))""#).isEmpty)
    }

    @Test("JSON nested deeper than the limit is refused before parsing, without recursion")
    func jsonDepth() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(JSONDepth.problem(Array(deep.utf8))?.contains("deeper than 128") == true)
        let body = #"{"events":[{"properties":"# + deep + "}]}"
        #expect(throws: TagEventDecoder.BatchError.self) { try TagEventDecoder().decode(Array(body.utf8), receivedAt: received, source: nil) }
        // Brackets inside strings do not count; escaped quotes do not end a string.
        let quoted = #"{"a":"\"[[[[[[[[[["}"#
        #expect(JSONDepth.problem(Array(quoted.utf8), maximum: 2) == nil)
        #expect(JSONDepth.problem(Array("[[[]]]".utf8), maximum: 3) == nil)
        #expect(JSONDepth.problem(Array("[[[[]]]]".utf8), maximum: 3) != nil)
    }

    @Test("properties nested to the limit are stored; one level more is refused")
    func propertiesAtTheLimit() throws {
        func nested(_ levels: Int) -> String { String(repeating: #"{"a":"#, count: levels) + "1" + String(repeating: "}", count: levels) }
        // The body's own nesting: {"events":[{"properties": … → 3 levels before the value.
        #expect(try reasons(#","properties":\#(nested(JSONDepth.maximum - 3))"#).isEmpty)
        let body = #"{"events":[{"event_id":"\#(Self.id)","name":"x","session_id":"s","properties":\#(nested(JSONDepth.maximum - 2))}]}"#
        #expect(throws: TagEventDecoder.BatchError.self) { try TagEventDecoder().decode(Array(body.utf8), receivedAt: received, source: nil) }
    }
}
