import CZlib

/// gzip (RFC 1952) decoding that stores what the client sent, all of it, or refuses.
///
/// - Every member of a multi-member body is decoded and concatenated (RFC 1952 §2.2:
///   a gzip file is a series of members), as `gunzip` does.
/// - A body must end exactly where its last member ends: a member cut short (no trailer,
///   or a truncated deflate stream), a bad CRC-32 or length in a trailer, and bytes after
///   the last member that are not another member are all refused.
/// - Decoding stops once the output would exceed `limit` bytes, so a small "gzip bomb"
///   costs at most `limit` bytes of memory.
public enum Gzip {
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public enum Code: Sendable, Equatable {
            /// Not gzip, damaged, or cut short.
            case invalid
            /// The decoded body would exceed the limit.
            case tooLarge
        }

        public var code: Code
        public var message: String
        public var description: String { message }
    }

    /// The decoded bytes of `input`, at most `limit` of them.
    public static func decompress(_ input: [UInt8], limit: Int) throws(Failure) -> [UInt8] {
        guard !input.isEmpty else { throw Failure(code: .invalid, message: "body is empty, not gzip") }
        var output: [UInt8] = []
        output.reserveCapacity(min(limit, max(64, input.count * 4)))
        var stream = z_stream()
        // 16 + 15: gzip wrapper only, largest window.
        guard seam_inflate_init2(&stream, 16 + 15) == Z_OK else {
            throw Failure(code: .invalid, message: "cannot initialize gzip decoding")
        }
        defer { inflateEnd(&stream) }

        var consumed = 0
        var members = 0
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        let result: Result<Void, Failure> = input.withUnsafeBufferPointer { source in
            while consumed < input.count {
                // A member starts here: it must carry the gzip magic (zlib would also skip
                // nothing, but a clear reason is worth the check).
                guard input.count - consumed >= 2, input[consumed] == 0x1F, input[consumed + 1] == 0x8B else {
                    return .failure(
                        Failure(
                            code: .invalid,
                            message: members == 0
                                ? "body is not gzip (no gzip header)"
                                : "\(input.count - consumed) bytes after gzip member \(members) are not another gzip member"))
                }
                if members > 0 { inflateReset(&stream) }
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress! + consumed)
                stream.avail_in = UInt32(clamping: input.count - consumed)
                var status: Int32 = Z_OK
                repeat {
                    let produced: Int = chunk.withUnsafeMutableBufferPointer { out in
                        stream.next_out = out.baseAddress
                        stream.avail_out = UInt32(out.count)
                        status = inflate(&stream, Z_NO_FLUSH)
                        return out.count - Int(stream.avail_out)
                    }
                    guard status == Z_OK || status == Z_STREAM_END || (status == Z_BUF_ERROR && produced > 0) else {
                        if status == Z_BUF_ERROR {
                            return .failure(Failure(code: .invalid, message: "gzip member \(members + 1) is cut short (no trailer)"))
                        }
                        let reason = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                        return .failure(Failure(code: .invalid, message: "gzip member \(members + 1) is damaged: \(reason)"))
                    }
                    guard produced <= limit - output.count else {
                        return .failure(Failure(code: .tooLarge, message: "decompressed body exceeds the limit of \(limit) bytes"))
                    }
                    output.append(contentsOf: chunk[0..<produced])
                    if status != Z_STREAM_END && stream.avail_in == 0 && produced == 0 {
                        return .failure(Failure(code: .invalid, message: "gzip member \(members + 1) is cut short (no trailer)"))
                    }
                } while status != Z_STREAM_END
                members += 1
                consumed = input.count - Int(stream.avail_in)
            }
            return .success(())
        }
        try result.get()
        return output
    }
}
