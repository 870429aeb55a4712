/// SHA-1 (FIPS 180-4), for name-based UUIDs (version 5, RFC 9562) only: a stable id for
/// a client's message id. Not for security; SHA-1 is broken for collision resistance, which
/// name-based ids do not rely on (a client that wants two messages merged can send one id).
///
/// Every event id of a GA4 request or a Segment batch is one digest, so this runs per record
/// on the acknowledgement path: nothing is allocated but the digest, the message schedule
/// is a 16-word ring on the stack, and the padded tail is built on the stack.
public enum SHA1 {
    /// The 20-byte digest of `message`.
    public static func digest(_ message: [UInt8]) -> [UInt8] {
        var state = State()
        message.withUnsafeBufferPointer { bytes in
            let whole = bytes.count / 64 * 64
            var chunk = 0
            while chunk < whole {
                state.compress(UnsafeBufferPointer(rebasing: bytes[chunk..<chunk + 64]))
                chunk += 64
            }
            // The padded tail: the last partial block, 0x80, zeros, the bit length (one or two blocks).
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { tail in
                let rest = bytes.count - whole
                for i in 0..<rest { tail[i] = bytes[whole + i] }
                tail[rest] = 0x80
                let blocks = rest + 9 <= 64 ? 1 : 2
                for i in (rest + 1)..<(blocks * 64) { tail[i] = 0 }
                let bitLength = UInt64(truncatingIfNeeded: bytes.count) &* 8
                for i in 0..<8 { tail[blocks * 64 - 1 - i] = UInt8(truncatingIfNeeded: bitLength >> UInt64(truncatingIfNeeded: i * 8)) }
                let padded = UnsafeBufferPointer(tail)
                for block in 0..<blocks { state.compress(UnsafeBufferPointer(rebasing: padded[block * 64..<block * 64 + 64])) }
            }
        }
        return [UInt8](unsafeUninitializedCapacity: 20) { out, initialized in
            let raw = UnsafeMutableRawBufferPointer(out)
            raw.storeBytes(of: state.h0.bigEndian, toByteOffset: 0, as: UInt32.self)
            raw.storeBytes(of: state.h1.bigEndian, toByteOffset: 4, as: UInt32.self)
            raw.storeBytes(of: state.h2.bigEndian, toByteOffset: 8, as: UInt32.self)
            raw.storeBytes(of: state.h3.bigEndian, toByteOffset: 12, as: UInt32.self)
            raw.storeBytes(of: state.h4.bigEndian, toByteOffset: 16, as: UInt32.self)
            initialized = 20
        }
    }

    private struct State {
        var h0: UInt32 = 0x6745_2301
        var h1: UInt32 = 0xEFCD_AB89
        var h2: UInt32 = 0x98BA_DCFE
        var h3: UInt32 = 0x1032_5476
        var h4: UInt32 = 0xC3D2_E1F0

        /// One 64-byte block: the schedule is a ring of 16 words on the stack, and the four
        /// phases of 20 rounds are four loops with their function and constant fixed (no
        /// per-round branch on the phase, nothing allocated).
        mutating func compress(_ block: UnsafeBufferPointer<UInt8>) {
            var w: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &w) { raw in
                let words = raw.bindMemory(to: UInt32.self)
                let source = UnsafeRawBufferPointer(block)
                for i in 0..<16 { words[i] = UInt32(bigEndian: source.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self)) }
                var (a, b, c, d, e) = (h0, h1, h2, h3, h4)
                /// Word t of the schedule (t ≥ 16 computes it into the ring).
                @inline(__always) func word(_ t: Int) -> UInt32 {
                    if t < 16 { return words[t] }
                    let x = words[(t &+ 13) & 15] ^ words[(t &+ 8) & 15] ^ words[(t &+ 2) & 15] ^ words[t & 15]
                    let wt = x << 1 | x >> 31
                    words[t & 15] = wt
                    return wt
                }
                @inline(__always) func round(_ f: UInt32, _ k: UInt32, _ wt: UInt32) {
                    let temp = (a << 5 | a >> 27) &+ f &+ e &+ k &+ wt
                    e = d
                    d = c
                    c = b << 30 | b >> 2
                    b = a
                    a = temp
                }
                for t in 0..<20 { round(d ^ (b & (c ^ d)), 0x5A82_7999, word(t)) }
                for t in 20..<40 { round(b ^ c ^ d, 0x6ED9_EBA1, word(t)) }
                for t in 40..<60 { round((b & c) | (d & (b | c)), 0x8F1B_BCDC, word(t)) }
                for t in 60..<80 { round(b ^ c ^ d, 0xCA62_C1D6, word(t)) }
                h0 = h0 &+ a
                h1 = h1 &+ b
                h2 = h2 &+ c
                h3 = h3 &+ d
                h4 = h4 &+ e
            }
        }
    }
}
