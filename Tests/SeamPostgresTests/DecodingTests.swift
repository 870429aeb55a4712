import Foundation
import Testing

@testable import SeamPostgres

@Suite("Text-format decoding")
struct DecodingTests {
    func parse(_ text: String) -> Date? {
        Array(text.utf8).withUnsafeBufferPointer { ISOTimestamp.parse($0) }
    }

    @Test("ISO timestamps with and without fractions and offsets")
    func timestamps() throws {
        #expect(parse("2025-11-21 12:00:00+00") == Date(timeIntervalSince1970: 1_763_726_400))
        #expect(parse("2025-11-21 17:30:00+05:30") == Date(timeIntervalSince1970: 1_763_726_400))
        #expect(parse("2025-11-21 06:59:00-05:01") == Date(timeIntervalSince1970: 1_763_726_400))
        #expect(parse("2025-11-21 12:00:00.5+00") == Date(timeIntervalSince1970: 1_763_726_400.5))
        let micro = try #require(parse("2025-11-21 12:00:00.000001+00"))
        #expect(abs(micro.timeIntervalSince1970 - 1_763_726_400.000001) < 1e-7)
        #expect(parse("2025-11-21") == Date(timeIntervalSince1970: 1_763_683_200))
        #expect(parse("1969-12-31 23:59:59+00") == Date(timeIntervalSince1970: -1))
        #expect(parse("2000-02-29 00:00:00+00") == Date(timeIntervalSince1970: 951_782_400))
        #expect(parse("infinity") == .distantFuture)
        #expect(parse("-infinity") == .distantPast)
    }

    @Test("malformed timestamps are refused, not misread")
    func malformed() {
        for text in ["", "2025-11", "2025-11-21 12:00", "2025-11-21 12:00:00Z", "2025-11-21 12:00:00+0x", "yesterday"] {
            #expect(parse(text) == nil, "\(text)")
        }
    }

    @Test("timestamps travel as microseconds since 2000-01-01")
    func wireTime() {
        #expect(PostgresTime.microseconds(since2000: Date(timeIntervalSince1970: 946_684_800)) == 0)
        #expect(PostgresTime.microseconds(since2000: Date(timeIntervalSince1970: 946_684_801.000001)) == 1_000_001)
        #expect(PostgresTime.microseconds(since2000: Date(timeIntervalSince1970: 946_684_799)) == -1_000_000)
    }

    @Test("parameters are laid out with their lengths, NULL as -1")
    func parameterLayout() {
        let buffer = ParameterBuffer([.int32(7), .null, .text("hé"), .bool(true)])
        #expect(buffer.lengths == [4, -1, 3, 1])
        #expect(buffer.types == [PostgresType.int4, 0, PostgresType.text, PostgresType.bool])
        #expect(Array(buffer.bytes[0..<4]) == [0, 0, 0, 7])
    }
}
