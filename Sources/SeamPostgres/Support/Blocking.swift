import Foundation

/// A thread of its own for blocking work (libpq round trips, fsync, child processes),
/// so that such work never occupies Swift's cooperative thread pool.
///
/// Jobs run one at a time in submission order, which also gives a libpq connection the
/// single-threaded use it requires.
public final class BlockingThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [() -> Void] = []
    private var stopping = false
    private var thread: Thread?

    public init(name: String) {
        let thread = Thread { [self] in self.loop() }
        thread.name = name
        thread.stackSize = 1 << 20
        self.thread = thread
        thread.start()
    }

    /// Runs `body` on this thread and returns its result to the awaiting task; throws
    /// without running it once the thread is shut down.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, Error>) in
            condition.lock()
            if stopping {
                condition.unlock()
                continuation.resume(throwing: BlockingThreadError(code: .shutDown, thread: thread?.name ?? "thread"))
                return
            }
            jobs.append { continuation.resume(with: Result { try body() }) }
            condition.signal()
            condition.unlock()
        }
    }

    /// Lets queued jobs finish, then ends the thread.
    public func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty && stopping {
                condition.unlock()
                return
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job() }
        }
    }
}

/// Runs one blocking call on a short-lived dedicated thread and awaits its result.
///
/// For rare, slow calls (starting PostgreSQL, `initdb`); hot paths keep a `BlockingThread`.
public func runBlocking<T: Sendable>(
    _ name: String = "seam-blocking", _ body: @escaping @Sendable () throws -> T
) async throws -> T {
    let thread = BlockingThread(name: name)
    defer { thread.shutdown() }
    return try await thread.run(body)
}
