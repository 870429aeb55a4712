/// FNV-1a, 64 bits: a fast, stable digest for noticing change (definitions, response
/// bodies for ETags). Not for security.
public enum FNV1a {
    /// The digest of `bytes`, as lowercase hex.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}
