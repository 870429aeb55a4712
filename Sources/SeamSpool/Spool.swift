import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where a frame starts in the spool: segment number and byte offset. Ordered.
public struct SpoolPosition: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var segment: UInt64
    public var offset: UInt64

    public init(segment: UInt64, offset: UInt64) {
        self.segment = segment
        self.offset = offset
    }

    public static func < (a: SpoolPosition, b: SpoolPosition) -> Bool {
        (a.segment, a.offset) < (b.segment, b.offset)
    }

    public var description: String { "\(segment):\(offset)" }
}

/// Why the spool refused or failed an operation.
public struct SpoolError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        fileprivate let raw: String
        /// The spool holds `maximumBytes` not yet released: the caller should answer 503 and retry later.
        public static let full = Code(raw: "full")
        /// A file operation failed; nothing of the failed append is acknowledged.
        public static let io = Code(raw: "io")
        /// The spool was closed.
        public static let closed = Code(raw: "closed")
        /// A payload is larger than one frame may be.
        public static let tooLarge = Code(raw: "tooLarge")
        /// Another process holds the spool directory.
        public static let locked = Code(raw: "locked")
    }

    public var code: Code
    public var message: String
    public var description: String { message }
}

/// A durable, append-only spool of opaque payloads: what Seam acknowledges is here first.
///
/// Payloads are stored as checksummed (CRC-32C), LZ4-compressed frames in numbered segment
/// files. `append` returns only after the frame is fsync'd; appends that arrive while a
/// flush is in progress are written and flushed together (group commit), so durability
/// costs one disk flush per batch of concurrent requests, not one per request.
///
/// A reader (the loader) walks frames in order from a `SpoolPosition` and releases whole
/// segments once it has stored them elsewhere.
public final class Spool: Sendable {
    public struct Configuration: Sendable {
        /// Directory of the segment files; created when missing.
        public var directory: URL
        /// A segment is sealed and a new one started once it holds this many bytes.
        public var segmentBytes: Int
        /// Appends are refused with `SpoolError.full` while unreleased segments hold this many bytes.
        public var maximumBytes: Int
        /// Whether to LZ4-compress payloads (kept raw anyway when compression does not shrink them).
        public var compress: Bool

        public init(directory: URL, segmentBytes: Int = 64 << 20, maximumBytes: Int = 2 << 30, compress: Bool = true) {
            self.directory = directory
            self.segmentBytes = segmentBytes
            self.maximumBytes = maximumBytes
            self.compress = compress
        }
    }

    /// What opening found and repaired.
    public struct Recovery: Sendable {
        /// Bytes cut from the end of the last segment: a frame whose write never completed (never acknowledged).
        public var tornTailBytes: Int
        /// Segments found on disk.
        public var segments: Int
    }

    struct State {
        var active: UInt64
        var activeDurableSize: UInt64
        /// Sizes of the segments on disk, sealed ones final, the active one durable so far.
        var segmentSizes: [UInt64: UInt64]
        var closed = false
        var lockReleased = false
        var flushes = 0
        var unreleasedBytes: UInt64 { segmentSizes.values.reduce(0, +) }
    }

    public let configuration: Configuration
    /// Identity of this spool directory, kept in `spool.id`; progress elsewhere is keyed by it.
    public let id: String
    /// What `open` found.
    public let recovery: Recovery
    let state: Mutex<State>
    let writer: GroupCommitWriter
    /// `spool.lock`, held with `flock(LOCK_EX)` for the spool's life (released when the
    /// process ends, however it ends).
    private let lockFD: Int32
    private let logger: Logger

    /// Opens (or creates) the spool in `configuration.directory`: cuts a torn frame off the
    /// end of the last segment, and starts a fresh segment for new appends.
    public init(configuration: Configuration, logger: Logger = Logger(label: "seam.spool")) throws {
        self.configuration = configuration
        self.logger = logger
        let fm = FileManager.default
        let directory = configuration.directory
        try Self.io("create \(directory.path)") {
            try fm.createDirectory(at: directory, withIntermediateDirectories: true)
        }
        let lockFD = try Self.lock(directory)
        let opened: Opened
        do {
            opened = try Self.recover(directory, logger: logger)
        } catch {
            _ = Glibc.close(lockFD)  // a spool that failed to open must not keep its directory locked
            throw error
        }
        self.lockFD = lockFD
        id = opened.id
        recovery = opened.recovery
        let active = opened.active
        let fd = opened.fd
        state = Mutex(State(active: active, activeDurableSize: 0, segmentSizes: opened.sizes))
        writer = GroupCommitWriter(directory: directory, segment: active, fd: fd, segmentBytes: UInt64(configuration.segmentBytes))
        writer.spool = self
        writer.start()
    }

    /// What opening a spool directory found and prepared.
    struct Opened {
        var id: String
        var recovery: Recovery
        var sizes: [UInt64: UInt64]
        var active: UInt64
        var fd: Int32
    }

    /// Reads the spool's id (creating it), finds its segments, cuts a torn final frame, and
    /// creates the segment new appends go to.
    static func recover(_ directory: URL, logger: Logger) throws -> Opened {
        let fm = FileManager.default
        let idFile = directory.appendingPathComponent("spool.id")
        let id: String
        if let existing = try? String(contentsOf: idFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            !existing.isEmpty
        {
            id = existing
        } else {
            let fresh = UUID().uuidString.lowercased()
            try Self.io("write \(idFile.path)") { try fresh.write(to: idFile, atomically: true, encoding: .utf8) }
            id = fresh
        }

        var sizes: [UInt64: UInt64] = [:]
        for number in try Self.segmentNumbers(in: directory) {
            let path = Self.segmentPath(directory, number)
            let attributes = try Self.io("stat \(path)") { try fm.attributesOfItem(atPath: path) }
            sizes[number] = (attributes[.size] as? NSNumber)?.uint64Value ?? 0
        }
        var torn = 0
        if let last = sizes.keys.max() {
            let path = Self.segmentPath(directory, last)
            if let tail = try SegmentFile.tail(path: path, size: sizes[last]!) {
                // Cut durably before a new segment exists, so only the last segment is ever cut.
                let fd = open(path, O_WRONLY | O_CLOEXEC)
                guard fd >= 0, ftruncate(fd, off_t(tail.offset)) == 0, Glibc.fsync(fd) == 0 else {
                    let reason = String(cString: strerror(errno))
                    if fd >= 0 { _ = Glibc.close(fd) }
                    throw SpoolError(code: .io, message: "cannot cut the end of \(path) after its last frame: \(reason)")
                }
                _ = Glibc.close(fd)
                if case .torn = tail {
                    torn = Int(sizes[last]! - tail.offset)
                    logger.warning(
                        "spool: cut a torn frame (never acknowledged) from the end of the last segment",
                        metadata: ["segment": "\(path)", "bytes": "\(torn)"])
                }
                sizes[last] = tail.offset
            }
        }
        let recovery = Recovery(tornTailBytes: torn, segments: sizes.count)
        // New appends always go to a new segment, never after bytes a crash may have left.
        let active = (sizes.keys.max() ?? 0) + 1
        let fd = try Self.createSegment(directory, active)
        sizes[active] = 0
        return Opened(id: id, recovery: recovery, sizes: sizes, active: active, fd: fd)
    }

    /// Stores `payload` durably and returns where its frame starts.
    ///
    /// Returns after fsync. Throws `SpoolError.full` when the spool holds
    /// `maximumBytes` not yet released, and `.io` when the disk fails.
    @discardableResult
    public func append(kind: UInt8, _ payload: [UInt8]) async throws -> SpoolPosition {
        let frame = try encode(kind: kind, payload)
        try state.withLock { state in
            if state.closed { throw SpoolError(code: .closed, message: "the spool is closed") }
            if state.unreleasedBytes + UInt64(frame.count) > UInt64(configuration.maximumBytes) {
                throw SpoolError(
                    code: .full,
                    message: "the spool is full (\(state.unreleasedBytes) of \(configuration.maximumBytes) bytes await loading)")
            }
        }
        return try await withCheckedThrowingContinuation { continuation in
            writer.enqueue(frame, continuation)
        }
    }

    /// Header + (compressed) payload, ready to write.
    func encode(kind: UInt8, _ payload: [UInt8]) throws -> [UInt8] {
        guard payload.count <= FrameHeader.maximumPayload else {
            throw SpoolError(code: .tooLarge, message: "payload of \(payload.count) bytes exceeds the frame limit of \(FrameHeader.maximumPayload)")
        }
        let compressed = configuration.compress ? LZ4.compress(payload) : nil
        let stored = compressed ?? payload
        var header = FrameHeader(
            kind: kind, flags: compressed == nil ? 0 : FrameHeader.compressedFlag, rawLength: UInt32(payload.count),
            storedLength: UInt32(stored.count), appendedAtMilliseconds: UInt64(Date().timeIntervalSince1970 * 1000),
            checksum: 0)
        var bytes = header.prefixBytes()
        header.checksum = stored.withUnsafeBytes { FrameHeader.computeChecksum(prefix: bytes, payload: $0) }
        bytes.appendLittleEndian(header.checksum)
        bytes.append(contentsOf: stored)
        return bytes
    }

    /// The end of what is durable: readers may read up to here.
    public var durableEnd: SpoolPosition {
        state.withLock { SpoolPosition(segment: $0.active, offset: $0.activeDurableSize) }
    }

    /// Bytes in segments not yet released (what counts against `maximumBytes`).
    public var unreleasedBytes: Int { Int(state.withLock { $0.unreleasedBytes }) }

    /// Disk flushes (fdatasync) so far; with group commit, fewer than appends under concurrency.
    public var flushCount: Int { state.withLock { $0.flushes } }

    /// Number of segment files on disk.
    public var segmentCount: Int { state.withLock { $0.segmentSizes.count } }

    /// The first position still on disk (where a reader without progress starts).
    public var start: SpoolPosition {
        state.withLock { SpoolPosition(segment: $0.segmentSizes.keys.min() ?? $0.active, offset: 0) }
    }

    /// Deletes every sealed segment before `position.segment`: their frames are stored elsewhere.
    public func release(before position: SpoolPosition) throws {
        let doomed = state.withLock { state -> [UInt64] in
            let doomed = state.segmentSizes.keys.filter { $0 < position.segment && $0 < state.active }.sorted()
            for number in doomed { state.segmentSizes[number] = nil }
            return doomed
        }
        for number in doomed {
            let path = Self.segmentPath(configuration.directory, number)
            if unlink(path) != 0 && errno != ENOENT {
                throw SpoolError(code: .io, message: "cannot delete \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Finishes the appends already queued, then stops accepting more.
    public func close() async {
        state.withLock { $0.closed = true }
        await writer.stop()
        releaseLock()
    }

    deinit { releaseLock() }

    private func releaseLock() {
        state.withLock { state in
            guard !state.lockReleased else { return }
            state.lockReleased = true
            _ = Glibc.close(lockFD)
        }
    }

    // MARK: Writer callbacks

    func writerRotated(sealed: UInt64, size: UInt64, newSegment: UInt64) {
        state.withLock { state in
            state.segmentSizes[sealed] = size
            state.segmentSizes[newSegment] = 0
            state.active = newSegment
            state.activeDurableSize = 0
        }
    }

    func writerFlushed(segment: UInt64, durableSize: UInt64) {
        state.withLock { state in
            state.segmentSizes[segment] = durableSize
            state.flushes += 1
            if segment == state.active { state.activeDurableSize = durableSize }
        }
    }

    // MARK: Files

    static func segmentPath(_ directory: URL, _ number: UInt64) -> String {
        directory.appendingPathComponent(String(format: "%020llu.seg", number)).path
    }

    static func segmentNumbers(in directory: URL) throws -> [UInt64] {
        let names = try io("list \(directory.path)") { try FileManager.default.contentsOfDirectory(atPath: directory.path) }
        return names.compactMap { name in
            guard name.hasSuffix(".seg") else { return nil }
            return UInt64(name.dropLast(4))
        }.sorted()
    }

    /// Takes the directory's exclusive lock, or throws `.locked` naming the holder: two
    /// processes appending to, cutting and deleting the same segments would lose data.
    static func lock(_ directory: URL) throws -> Int32 {
        let path = directory.appendingPathComponent("spool.lock").path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SpoolError(code: .io, message: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        // A lock held elsewhere is retried for up to two seconds: a child process this
        // process is starting holds a copy of the descriptor between its fork and its exec
        // (the descriptor is close-on-exec), which can overlap a close and reopen of the spool
        // here. Another Seam process keeps it far longer, and is reported.
        var locked = flock(fd, LOCK_EX | LOCK_NB) == 0
        var reason = locked ? 0 : errno
        var attempts = 0
        while !locked && reason == EWOULDBLOCK && attempts < 200 {
            attempts += 1
            usleep(10_000)
            locked = flock(fd, LOCK_EX | LOCK_NB) == 0
            reason = locked ? 0 : errno
        }
        guard locked else {
            var holder = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &holder, holder.count, 0)
            let pid = n > 0 ? String(decoding: holder[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            _ = Glibc.close(fd)
            if reason == EWOULDBLOCK {
                throw SpoolError(
                    code: .locked,
                    message: "the spool directory \(directory.path) is in use by another Seam process (pid \(pid)); give each process its own spool.dir")
            }
            throw SpoolError(code: .io, message: "cannot lock \(path): \(String(cString: strerror(reason)))")
        }
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) != 0 || pwrite(fd, pid, pid.count, 0) != pid.count {
            _ = Glibc.close(fd)
            throw SpoolError(code: .io, message: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    static func createSegment(_ directory: URL, _ number: UInt64) throws -> Int32 {
        let path = segmentPath(directory, number)
        // Written at explicit offsets (pwrite), ahead of which the writer preallocates.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SpoolError(code: .io, message: "cannot create spool segment \(path): \(String(cString: strerror(errno)))")
        }
        // Make the new file's directory entry durable too: frames acknowledged in a segment
        // whose entry is lost in a crash would be lost with it.
        let dir = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0, Glibc.fsync(dir) == 0 else {
            let reason = String(cString: strerror(errno))
            if dir >= 0 { _ = Glibc.close(dir) }
            _ = Glibc.close(fd)
            _ = unlink(path)
            throw SpoolError(code: .io, message: "cannot sync the spool directory \(directory.path): \(reason)")
        }
        _ = Glibc.close(dir)
        return fd
    }

    static func io<T>(_ what: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as SpoolError {
            throw error
        } catch {
            throw SpoolError(code: .io, message: "spool: cannot \(what): \(error.localizedDescription)")
        }
    }
}
