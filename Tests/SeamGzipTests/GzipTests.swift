import Foundation
import Testing
import TestSupport

@testable import SeamGzip

@Suite("gzip bodies")
struct GzipTests {
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] { try SystemGzip.compress(bytes) }

    let text = Array(String(repeating: "seam gzip test line\n", count: 500).utf8)

    @Test("a single member decodes exactly")
    func single() throws {
        #expect(try Gzip.decompress(try Self.gzip(text), limit: 1 << 20) == text)
    }

    @Test("every member of a multi-member body is decoded, in order")
    func multiMember() throws {
        let first = Array("first member\n".utf8), second = Array("second member\n".utf8), third = text
        let body = try Self.gzip(first) + Self.gzip(second) + Self.gzip(third)
        #expect(try Gzip.decompress(body, limit: 1 << 20) == first + second + third)
    }

    @Test("a body cut anywhere inside its last member is refused, never taken as complete")
    func truncated() throws {
        let body = try Self.gzip(text)
        for cut in [body.count - 1, body.count - 4, body.count - 8, body.count / 2, 11] {
            #expect(throws: Gzip.Failure.self) { try Gzip.decompress(Array(body.prefix(cut)), limit: 1 << 20) }
        }
        let two = try Self.gzip(text) + Self.gzip(text)
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(Array(two.dropLast(2)), limit: 1 << 20) }
    }

    @Test("a bad CRC or length in the trailer, and garbage after the last member, are refused")
    func damaged() throws {
        var body = try Self.gzip(text)
        body[body.count - 6] ^= 0xFF  // CRC-32
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(body, limit: 1 << 20) }
        var length = try Self.gzip(text)
        length[length.count - 1] ^= 0x01  // ISIZE
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(length, limit: 1 << 20) }
        let trailing = try Self.gzip(text) + [0, 0, 0, 0]
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(trailing, limit: 1 << 20) }
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress(Array("not gzip at all".utf8), limit: 1 << 20) }
        #expect(throws: Gzip.Failure.self) { try Gzip.decompress([], limit: 1 << 20) }
    }

    @Test("decoding stops at the limit: a small bomb costs at most the limit")
    func bomb() throws {
        let zeros = [UInt8](repeating: 0, count: 8 << 20)
        let body = try Self.gzip(zeros)
        #expect(body.count < 16 << 10)
        do {
            _ = try Gzip.decompress(body, limit: 1 << 20)
            Issue.record("a body decoding past the limit was accepted")
        } catch {
            #expect(error.code == .tooLarge)
        }
        #expect(try Gzip.decompress(body, limit: 8 << 20).count == 8 << 20)  // exactly the limit is fine
    }
}
