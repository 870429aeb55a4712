/// SHA-1 (FIPS 180-4), for name-based UUIDs (version 5, RFC 9562) only: a stable id for
/// a client's message id. Not for security; SHA-1 is broken for collision resistance, which
/// name-based ids do not rely on (a client that wants two messages merged can send one id).
///
/// Every event id of a GA4 request or a Segment batch is one digest, so this runs per record
/// on the acknowledgement path: the message schedule is a 16-word ring on the stack, and the padded tail is built on the stack.
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
        var out = [UInt8](repeating: 0, count: 20)
        for (index, word) in [state.h0, state.h1, state.h2, state.h3, state.h4].enumerated() {
            for byte in 0..<4 { out[index * 4 + byte] = UInt8(truncatingIfNeeded: word >> UInt32(truncatingIfNeeded: 24 - byte * 8)) }
        }
        return out
    }

    private struct State {
        var h0: UInt32 = 0x6745_2301
        var h1: UInt32 = 0xEFCD_AB89
        var h2: UInt32 = 0x98BA_DCFE
        var h3: UInt32 = 0x1032_5476
        var h4: UInt32 = 0xC3D2_E1F0

        /// One 64-byte block.
        mutating func compress(_ block: UnsafeBufferPointer<UInt8>) {
            var w: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            withUnsafeMutableBytes(of: &w) { raw in
                let words = raw.bindMemory(to: UInt32.self)
                for i in 0..<16 {
                    let b = i * 4
                    words[i] = UInt32(truncatingIfNeeded: block[b]) << 24 | UInt32(truncatingIfNeeded: block[b + 1]) << 16
                        | UInt32(truncatingIfNeeded: block[b + 2]) << 8 | UInt32(truncatingIfNeeded: block[b + 3])
                }
                var (a, b, c, d, e) = (h0, h1, h2, h3, h4)
                // Four loops of 20 rounds, each with its function; word t of the schedule is
                // kept in a ring of 16.
                var t = 0
                for (end, k): (Int, UInt32) in [(20, 0x5A82_7999), (40, 0x6ED9_EBA1), (60, 0x8F1B_BCDC), (80, 0xCA62_C1D6)] {
                    while t < end {
                        var wt = words[t & 15]
                        if t >= 16 {
                            let x = words[(t &+ 13) & 15] ^ words[(t &+ 8) & 15] ^ words[(t &+ 2) & 15] ^ wt
                            wt = x << 1 | x >> 31
                            words[t & 15] = wt
                        }
                        let f = end == 20 ? d ^ (b & (c ^ d)) : end == 60 ? (b & c) | (d & (b | c)) : b ^ c ^ d
                        let temp = (a << 5 | a >> 27) &+ f &+ e &+ k &+ wt
                        e = d
                        d = c
                        c = b << 30 | b >> 2
                        b = a
                        a = temp
                        t &+= 1
                    }
                }
                h0 = h0 &+ a
                h1 = h1 &+ b
                h2 = h2 &+ c
                h3 = h3 &+ d
                h4 = h4 &+ e
            }
        }
    }
}
