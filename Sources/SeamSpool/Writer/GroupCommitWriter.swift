import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The spool's single writer thread: takes every frame queued since its last flush, writes
/// them with one `write`, makes them durable with one `fdatasync`, then resumes all their
/// appenders (group commit). Blocking I/O stays on this thread, off the cooperative pool.
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
    /// Set when a failed write could not be undone: every later append fails with it.
    private var broken: SpoolError?

    weak var spool: Spool?

    init(directory: URL, segment: UInt64, fd: Int32, segmentBytes: UInt64) {
        self.directory = directory
        self.segment = segment
        self.fd = fd
        self.segmentBytes = segmentBytes
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
        let written = buffer.withUnsafeBytes { bytes -> Bool in
            var done = 0
            while done < bytes.count {
                let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                done += n
            }
            return true
        }
        if !written || fdatasync(fd) != 0 {
            let error = SpoolError(
                code: .io, message: "spool write to segment \(segment) failed: \(String(cString: strerror(errno)))")
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
        let newFD = try Spool.createSegment(directory, next)
        _ = Glibc.close(fd)
        fd = newFD
        segment = next
        size = 0
        spool?.writerRotated(sealed: sealed, size: sealedSize, newSegment: next)
    }
}
