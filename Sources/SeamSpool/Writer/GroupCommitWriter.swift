import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The spool's single writer thread: takes every frame queued since its last flush, writes
/// them with one `write`, makes them durable with one `fdatasync`, then resumes all their
/// appenders (group commit). Blocking I/O stays on this thread, off the cooperative pool.
///
/// The active segment is written with zeros ahead of its frames, `preallocation` bytes at a
/// time. A flush then overwrites blocks the file already has, so `fdatasync` writes data only;
/// a flush that appends must also commit the file's new size and blocks to the file system's
/// journal, which cost about twice the CPU and wall time per flush (measured on ext4 here, see
/// docs/benchmarks.md). The zeros past the last frame are never acknowledged data: a sealed or
/// closed segment is cut back to its frames, and opening the spool cuts them off the last one.
final class GroupCommitWriter: @unchecked Sendable {
    typealias Waiter = CheckedContinuation<SpoolPosition, Error>

    private let condition = NSCondition()
    private var pending: [(frame: [UInt8], waiter: Waiter)] = []
    private var stopping = false
    private var stopWaiters: [CheckedContinuation<Void, Never>] = []

    // Touched only on the writer thread.
    private let directory: URL
    private let segmentBytes: UInt64
    private var fd: Int32
    private var segment: UInt64
    private var size: UInt64 = 0
    /// Bytes of the active segment written with zeros and synced (at least `size`).
    private var allocated: UInt64 = 0
    private let preallocation: UInt64
    /// Set when a failed write could not be undone: every later append fails with it.
    private var broken: SpoolError?

    weak var spool: Spool?

    init(directory: URL, segment: UInt64, fd: Int32, segmentBytes: UInt64, preallocation: UInt64 = 1 << 20) {
        self.directory = directory
        self.segment = segment
        self.fd = fd
        self.segmentBytes = segmentBytes
        self.preallocation = max(preallocation, 1)
    }

    func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "seam-spool-writer"
        thread.start()
    }

    func enqueue(_ frame: [UInt8], _ waiter: Waiter) {
        condition.lock()
        if stopping {
            condition.unlock()
            waiter.resume(throwing: SpoolError(code: .closed, message: "the spool is closed"))
            return
        }
        pending.append((frame, waiter))
        condition.signal()
        condition.unlock()
    }

    /// Returns once every queued frame is written and the segment is closed.
    func stop() async {
        await withCheckedContinuation { continuation in
            condition.lock()
            stopping = true
            stopWaiters.append(continuation)
            condition.signal()
            condition.unlock()
        }
    }

    private func loop() {
        while true {
            condition.lock()
            while pending.isEmpty && !stopping { condition.wait() }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            let finished = stopping && batch.isEmpty
            let waiters = finished ? stopWaiters : []
            condition.unlock()
            if finished {
                // Leave the segment as long as its frames: the zeros ahead of them are not data.
                if broken == nil { try? cutPreallocation() }
                _ = Glibc.close(fd)
                for waiter in waiters { waiter.resume() }
                return
            }
            process(batch)
        }
    }

    private func process(_ batch: [(frame: [UInt8], waiter: Waiter)]) {
        if let broken {
            for (_, waiter) in batch { waiter.resume(throwing: broken) }
            return
        }
        var buffer: [UInt8] = []
        var waiting: [(Waiter, SpoolPosition)] = []
        for index in batch.indices {
            let frame = batch[index].frame
            let used = size + UInt64(buffer.count)
            if used > 0 && used + UInt64(frame.count) > segmentBytes {
                // Seal the current segment: make what is buffered for it durable, then move on.
                do {
                    try flush(&buffer, &waiting)
                    try rotate()
                } catch {
                    for (_, waiter) in batch[index...] { waiter.resume(throwing: error) }
                    return
                }
            }
            waiting.append((batch[index].waiter, SpoolPosition(segment: segment, offset: size + UInt64(buffer.count))))
            buffer.append(contentsOf: frame)
        }
        try? flush(&buffer, &waiting)  // a failure has already been reported to its waiters
    }

    /// Writes and syncs `buffer`, then resumes its waiters with their positions. On failure
    /// cuts the partial write off again, fails those waiters, and throws.
    private func flush(_ buffer: inout [UInt8], _ waiting: inout [(Waiter, SpoolPosition)]) throws {
        guard !buffer.isEmpty else { return }
        defer {
            waiting.removeAll()
            buffer.removeAll(keepingCapacity: true)
        }
        let end = size + UInt64(truncatingIfNeeded: buffer.count)
        if end > allocated {
            // Zeros up to the next step first, then the frames over them: one fdatasync makes
            // both durable, and the flushes until the next step overwrite blocks in place.
            let step = (end + preallocation - 1) / preallocation * preallocation
            let target = max(end, min(step, max(segmentBytes, end)))
            if Self.writeZeros(fd, from: allocated, to: target) {
                allocated = target
            } else {
                // No room for the zeros (a full disk): the frames alone may still fit.
                _ = ftruncate(fd, off_t(truncatingIfNeeded: size))
                allocated = size
            }
        }
        let written = buffer.withUnsafeBytes { Self.write(fd, $0, at: size) }
        if !written || fdatasync(fd) != 0 {
            let error = SpoolError(
                code: .io, message: "spool write to segment \(segment) failed: \(String(cString: strerror(errno)))")
            allocated = size
            if ftruncate(fd, off_t(size)) != 0 {
                // The segment now ends in bytes nobody was told are stored; appending after
                // them would put acknowledged frames behind garbage. Refuse every append
                // until a restart, whose recovery cuts the torn tail.
                broken = SpoolError(
                    code: .io,
                    message: "spool segment \(segment) could not be cut back after a failed write (\(String(cString: strerror(errno)))); restart Seam")
            }
            for (waiter, _) in waiting { waiter.resume(throwing: error) }
            throw error
        }
        size += UInt64(buffer.count)
        spool?.writerFlushed(segment: segment, durableSize: size)
        for (waiter, position) in waiting { waiter.resume(returning: position) }
    }

    private func rotate() throws {
        let sealed = segment
        let sealedSize = size
        let next = segment + 1
        // The sealed segment is cut to its frames durably before the next one exists: only
        // the last segment on disk can end in preallocated zeros.
        try cutPreallocation()
        let newFD = try Spool.createSegment(directory, next)
        _ = Glibc.close(fd)
        fd = newFD
        segment = next
        size = 0
        allocated = 0
        spool?.writerRotated(sealed: sealed, size: sealedSize, newSegment: next)
    }

    /// Cuts the active segment back to its frames and syncs that.
    private func cutPreallocation() throws {
        guard allocated > size else { return }
        guard ftruncate(fd, off_t(size)) == 0, fsync(fd) == 0 else {
            throw SpoolError(
                code: .io, message: "cannot cut spool segment \(segment) back to its frames: \(String(cString: strerror(errno)))")
        }
        allocated = size
    }

    /// Writes all of `bytes` at `offset`; false on an I/O error.
    private static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: UInt64) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(truncatingIfNeeded: offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            if n == 0 { return false }
            done += n
        }
        return true
    }

    private static let zeros = [UInt8](repeating: 0, count: 256 << 10)

    /// Writes zeros over `[from, to)`; false on an I/O error.
    private static func writeZeros(_ fd: Int32, from: UInt64, to: UInt64) -> Bool {
        var offset = from
        return zeros.withUnsafeBytes { chunk in
            while offset < to {
                let count = Int(truncatingIfNeeded: min(UInt64(truncatingIfNeeded: chunk.count), to - offset))
                guard write(fd, UnsafeRawBufferPointer(rebasing: chunk[0..<count]), at: offset) else { return false }
                offset += UInt64(truncatingIfNeeded: count)
            }
            return true
        }
    }
}
