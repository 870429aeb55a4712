/// SHA-1 (FIPS 180-4), for name-based UUIDs (version 5, RFC 9562) only: a stable id for
/// a client's message id. Not for security; SHA-1 is broken for collision resistance, which
/// name-based ids do not rely on (a client that wants two messages merged can send one id).
public enum SHA1 {
    /// The 20-byte digest of `message`.
    public static func digest(_ message: [UInt8]) -> [UInt8] {
        var h: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0)
        // The message's whole 64-byte blocks, then the padded tail (one or two blocks).
        let whole = message.count / 64 * 64
        var tail = [UInt8](message[whole...])
        let bitLength = UInt64(truncatingIfNeeded: message.count) &* 8
        tail.append(0x80)
        while tail.count % 64 != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(truncatingIfNeeded: shift))) }
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { w in
            func blocks(_ data: UnsafeBufferPointer<UInt8>, count: Int) {
                var chunk = 0
                while chunk < count {
                    for i in 0..<16 {
                        let b = chunk + i * 4
                        w[i] = UInt32(truncatingIfNeeded: data[b]) << 24 | UInt32(truncatingIfNeeded: data[b + 1]) << 16
                            | UInt32(truncatingIfNeeded: data[b + 2]) << 8 | UInt32(truncatingIfNeeded: data[b + 3])
                    }
                    for i in 16..<80 {
                        let x = w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]
                        w[i] = x << 1 | x >> 31
                    }
                    var (a, b, c, d, e) = h
                    for i in 0..<80 {
                        let f: UInt32
                        let k: UInt32
                        if i < 20 {
                            (f, k) = ((b & c) | (~b & d), 0x5A82_7999)
                        } else if i < 40 {
                            (f, k) = (b ^ c ^ d, 0x6ED9_EBA1)
                        } else if i < 60 {
                            (f, k) = ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
                        } else {
                            (f, k) = (b ^ c ^ d, 0xCA62_C1D6)
                        }
                        let temp = (a << 5 | a >> 27) &+ f &+ e &+ k &+ w[i]
                        (e, d, c, b, a) = (d, c, b << 30 | b >> 2, a, temp)
                    }
                    h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e)
                    chunk += 64
                }
            }
            message.withUnsafeBufferPointer { blocks($0, count: whole) }
            tail.withUnsafeBufferPointer { blocks($0, count: $0.count) }
        }
        var out: [UInt8] = []
        out.reserveCapacity(20)
        for word in [h.0, h.1, h.2, h.3, h.4] {
            for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt32(truncatingIfNeeded: shift))) }
        }
        return out
    }
}
