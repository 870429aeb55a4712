import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Read access to one segment file: validated frames at offsets, and resynchronization
/// after damage. Blocking.
struct SegmentFile {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SpoolError(code: .io, message: "cannot open spool segment \(path): \(String(cString: strerror(errno)))")
        }
    }

    func close() { _ = Glibc.close(fd) }

    /// Reads `count` bytes at `offset`; fewer at the end of the file.
    func bytes(at offset: UInt64, count: Int) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        buffer.withUnsafeMutableBytes { raw in
            while done < count {
                let n = pread(fd, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                done += n
            }
        }
        if done < count { buffer.removeSubrange(done...) }
        return buffer
    }

    struct Frame {
        var header: FrameHeader
        var payload: [UInt8]
        var end: UInt64
    }

    /// The frame at `offset` when it lies wholly before `limit`, its checksum matches and its
    /// payload decompresses; nil otherwise.
    func frame(at offset: UInt64, limit: UInt64) -> Frame? {
        guard offset + UInt64(FrameHeader.size) <= limit else { return nil }
        let head = bytes(at: offset, count: FrameHeader.size)
        guard let header = head.withUnsafeBytes({ FrameHeader.parse($0) }) else { return nil }
        let end = offset + UInt64(FrameHeader.size) + UInt64(header.storedLength)
        guard end <= limit else { return nil }
        let stored = bytes(at: offset + UInt64(FrameHeader.size), count: Int(header.storedLength))
        guard stored.count == Int(header.storedLength) else { return nil }
        let checksum = stored.withUnsafeBytes {
            FrameHeader.computeChecksum(prefix: Array(head[0..<24]), payload: $0)
        }
        guard checksum == header.checksum else { return nil }
        if header.isCompressed {
            guard let raw = stored.withUnsafeBytes({ LZ4.decompress($0, rawLength: Int(header.rawLength)) }) else {
                return nil
            }
            return Frame(header: header, payload: raw, end: end)
        }
        return Frame(header: header, payload: stored, end: end)
    }

    /// The offset of the first valid frame after `offset` and before `limit`, if any.
    func nextValidFrame(after offset: UInt64, limit: UInt64) -> UInt64? {
        guard offset + 1 < limit else { return nil }
        let rest = bytes(at: offset + 1, count: Int(limit - offset - 1))
        let magic = FrameHeader.magic
        var i = 0
        while i + magic.count <= rest.count {
            if rest[i] == magic[0] && rest[i + 1] == magic[1] && rest[i + 2] == magic[2] && rest[i + 3] == magic[3] {
                let candidate = offset + 1 + UInt64(i)
                if frame(at: candidate, limit: limit) != nil { return candidate }
            }
            i += 1
        }
        return nil
    }

    /// What ends a segment after its last valid frame.
    enum Tail: Equatable {
        /// Zeros the writer preallocated and no frame reached (a segment still being written
        /// when Seam stopped without closing the spool): never data.
        case preallocated(offset: UInt64)
        /// A frame whose write never completed: never acknowledged.
        case torn(offset: UInt64)

        var offset: UInt64 {
            switch self {
            case .preallocated(let offset), .torn(let offset): offset
            }
        }
    }

    /// What follows the last valid frame, when something does and no valid frame follows it
    /// (damage followed by valid frames is corruption, reported by readers rather than cut).
    static func tail(path: String, size: UInt64) throws -> Tail? {
        let file = try SegmentFile(path: path)
        defer { file.close() }
        var offset: UInt64 = 0
        while offset < size {
            guard let frame = file.frame(at: offset, limit: size) else { return file.tail(at: offset, size: size) }
            offset = frame.end
        }
        return nil
    }

    /// The tail from `offset` (where no valid frame starts) to `size`; nil when a valid frame
    /// follows.
    func tail(at offset: UInt64, size: UInt64) -> Tail? {
        if isZero(from: offset, to: size) { return .preallocated(offset: offset) }
        return nextValidFrame(after: offset, limit: size) == nil ? .torn(offset: offset) : nil
    }

    /// Whether every byte in `[from, to)` is zero.
    func isZero(from: UInt64, to: UInt64) -> Bool {
        var offset = from
        while offset < to {
            let chunk = bytes(at: offset, count: Int(truncatingIfNeeded: min(to - offset, 1 << 20)))
            guard !chunk.isEmpty, chunk.allSatisfy({ $0 == 0 }) else { return false }
            offset += UInt64(truncatingIfNeeded: chunk.count)
        }
        return true
    }
}
