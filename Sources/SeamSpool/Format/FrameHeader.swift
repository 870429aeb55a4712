/// The fixed header in front of every frame in a segment file.
///
/// ```
/// offset size
///  0     4   magic "SEAM"
///  4     1   format version (1)
///  5     1   kind: what the payload holds (chosen by the spool's user)
///  6     2   flags (bit 0: payload is LZ4-compressed), little endian
///  8     4   raw (uncompressed) payload length, little endian
/// 12     4   stored payload length, little endian
/// 16     8   append time, milliseconds since 1970, little endian
/// 24     4   CRC-32C of bytes 0..<24 and the stored payload, little endian
/// 28         stored payload
/// ```
struct FrameHeader: Equatable {
    static let size = 28
    static let magic: [UInt8] = Array("SEAM".utf8)
    static let version: UInt8 = 1
    static let compressedFlag: UInt16 = 1
    /// Upper bound on one frame's raw payload, so a corrupt length cannot make a reader allocate gigabytes.
    static let maximumPayload = 256 << 20

    var kind: UInt8
    var flags: UInt16
    var rawLength: UInt32
    var storedLength: UInt32
    var appendedAtMilliseconds: UInt64
    var checksum: UInt32

    var isCompressed: Bool { flags & Self.compressedFlag != 0 }

    /// Bytes 0..<24 (everything the checksum covers besides the payload).
    func prefixBytes() -> [UInt8] {
        var bytes = Self.magic
        bytes.reserveCapacity(Self.size)
        bytes.append(Self.version)
        bytes.append(kind)
        bytes.appendLittleEndian(flags)
        bytes.appendLittleEndian(rawLength)
        bytes.appendLittleEndian(storedLength)
        bytes.appendLittleEndian(appendedAtMilliseconds)
        return bytes
    }

    static func computeChecksum(prefix: [UInt8], payload: UnsafeRawBufferPointer) -> UInt32 {
        let head = prefix.withUnsafeBytes { CRC32C.update(0, $0) }
        return CRC32C.update(head, payload)
    }

    /// Parses a header; nil when the bytes are not a plausible header (wrong magic, version or lengths).
    static func parse(_ bytes: UnsafeRawBufferPointer) -> FrameHeader? {
        guard bytes.count >= size, bytes[0] == magic[0], bytes[1] == magic[1], bytes[2] == magic[2],
            bytes[3] == magic[3], bytes[4] == version
        else { return nil }
        let header = FrameHeader(
            kind: bytes[5], flags: bytes.littleEndian(at: 6), rawLength: bytes.littleEndian(at: 8),
            storedLength: bytes.littleEndian(at: 12), appendedAtMilliseconds: bytes.littleEndian(at: 16),
            checksum: bytes.littleEndian(at: 24))
        guard Int(header.rawLength) <= maximumPayload, Int(header.storedLength) <= maximumPayload,
            header.isCompressed || header.rawLength == header.storedLength
        else { return nil }
        return header
    }
}

extension Array where Element == UInt8 {
    mutating func appendLittleEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }
}

extension UnsafeRawBufferPointer {
    func littleEndian<T: FixedWidthInteger>(at offset: Int) -> T {
        var value: T = 0
        Swift.withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: self[offset..<offset + MemoryLayout<T>.size])) }
        return T(littleEndian: value)
    }
}
