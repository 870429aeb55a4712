import Foundation
import SeamModel
import Testing

@Suite("JSON tape")
struct JSONTapeTests {
    static func parse(_ text: String) throws -> JSONTape { try JSONTape.parse(Array(text.utf8)) }

    static func refusal(_ bytes: [UInt8]) -> String? {
        do {
            _ = try JSONTape.parse(bytes)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test("values, members and elements read back as written, keys and strings unescaped")
    func reading() throws {
        let tape = try Self.parse(#" {"a": [1, -2.5e3, true, false, null, "x\"y\u00e9\ud83d\ude00"], "b\u0031": {"c": {}}, "d": [] } "#)
        let root = tape.root
        #expect(root.kind == .object && root.count == 3)
        let a = try #require(root["a"])
        #expect(a.count == 6)
        let elements = a.elements
        #expect(elements[0].int64 == 1 && elements[1].double == -2500 && elements[1].int64 == nil)
        #expect(elements[2].bool == true && elements[3].bool == false && elements[4].isNull)
        #expect(elements[5].string == "x\"yé😀")
        #expect(root["b1"]?["c"]?.kind == .object, "an escaped key matches its text")
        #expect(root["d"]?.elements.isEmpty == true && root["d"].map { Array($0.bytes) } == Array("[]".utf8))
        #expect(root.members.map(\.key) == ["a", "b1", "d"])
        #expect(String(decoding: root["b1"]!.bytes, as: UTF8.self) == #"{"c": {}}"#)
        #expect(root["missing"] == nil && a["x"] == nil)
    }

    @Test("a repeated key answers its last value, as jsonb keeps it")
    func duplicateKeys() throws {
        #expect(try Self.parse(#"{"k": 1, "k": 2}"#).root["k"]?.int64 == 2)
    }

    @Test("what JSONSerialization accepts, the tape accepts, and the reverse, on a corpus of edge cases (but trailing commas, which only Foundation takes)")
    func agreesWithFoundation() throws {
        // Foundation on Linux accepts trailing commas; RFC 8259 and PostgreSQL's jsonb do not.
        for text in ["[1,]", "{\"a\":1,}"] { #expect(Self.refusal(Array(text.utf8)) != nil) }
        let corpus = [
            "{}", "[]", "0", "-0", "1.0", "1e5", "1E+5", "1e-5", "-1.5e-3", "\"\"", "true", "null", " [1 , 2 ] ",
            "01", "1.", ".5", "-", "+1", "1e", "1e+", "[,1]", "{\"a\" 1}", "{1:2}", "[1 2]", "\"\\x\"",
            "\"\\u12\"", "\"\\u12G4\"", "[", "]", "{", "\"abc", "tru", "nul", "[1]x", "{\"a\":[{\"b\":[]}]}", "\"a\tb\"",
            "\"\\/\\b\\f\\n\\r\\t\"", "[true,false,null]", "NaN", "Infinity", "[-]", "1 2",
        ]
        for text in corpus {
            let foundation = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil
            let tape = Self.refusal(Array(text.utf8)) == nil
            #expect(foundation == tape, "\(text): JSONSerialization \(foundation), tape \(tape)")
        }
    }

    @Test("invalid UTF-8 in strings is refused: stray continuation, overlong, surrogate, above U+10FFFF, truncated")
    func utf8() {
        for bad: [UInt8] in [[0x80], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xFF]] {
            #expect(Self.refusal([0x22] + bad + [0x22])?.contains("invalid UTF-8") == true, "\(bad)")
        }
        for good: [UInt8] in [[0xC2, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80], [0xEF, 0xBF, 0xBF]] {
            #expect(Self.refusal([0x22] + good + [0x22]) == nil, "\(good)")
        }
    }

    @Test("refusals say where and why")
    func reasons() {
        #expect(Self.refusal(Array(#"{"a": tru}"#.utf8)) == "body is not valid JSON: unexpected character at byte 6")
        #expect(Self.refusal(Array(#"{"a": 1"#.utf8)) == "body is not valid JSON: unexpected end at byte 7")
        #expect(Self.refusal(Array("\"a\u{01}\"".utf8)) == "body is not valid JSON: control character in a string at byte 2")
    }

    @Test("nesting beyond the limit is refused without recursion, however deep")
    func depth() throws {
        let deep = Array(repeating: UInt8(ascii: "["), count: 1_000_000) + Array(repeating: UInt8(ascii: "]"), count: 1_000_000)
        #expect(Self.refusal(deep) == "JSON nests deeper than 128 levels (at byte 128)")
        let ok = Array(repeating: UInt8(ascii: "["), count: 128) + Array(repeating: UInt8(ascii: "]"), count: 128)
        #expect(Self.refusal(ok) == nil)
    }

    @Test("\\u0000 and unpaired surrogates are valid JSON but marked unstorable, down to the value that holds them")
    func storable() throws {
        let tape = try Self.parse(#"{"ok": {"a": "\ud83d\ude00"}, "nul": {"a": ["\u0000"]}, "high": "\ud800x", "low": "\udc00"}"#)
        #expect(tape.root["ok"]?.isStorable == true)
        #expect(tape.root["nul"]?.isStorable == false)
        #expect(tape.root["high"]?.isStorable == false && tape.root["low"]?.isStorable == false)
        #expect(tape.root.isStorable == false)
    }

    @Test("random bytes and mutations of valid documents never trap, and whatever parses is what JSONSerialization parses")
    func randomInputs() throws {
        var generator = SystemRandomNumberGenerator()
        let seed = Array(#"{"events":[{"event_id":"6c1f7b1e-64e4-4b0e-9d53-1f0e8f4f8f11","name":"page_view","properties":{"a":[1,2.5,"é"]}}]}"#.utf8)
        for _ in 0..<3000 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let at = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[at] = UInt8.random(in: 0...255, using: &generator)
                case 1: bytes.remove(at: at)
                default: bytes.insert(UInt8.random(in: 0...255, using: &generator), at: at)
                }
            }
            let tape = Self.refusal(bytes) == nil
            if tape {
                #expect((try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil, "\(String(decoding: bytes, as: UTF8.self))")
            }
        }
    }
}
