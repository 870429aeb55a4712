import Synchronization

/// A bound on the request bytes held in memory at once, across all requests: raw bodies
/// as they are read, decompressed bodies, and the parsed form of JSON bodies (charged at
/// `jsonExpansion` times the body). A request that would exceed it is answered 503 with
/// `Retry-After` at once, instead of every request slowing down or the process running
/// out of memory.
package final class MemoryBudget: Sendable {
    /// How many bytes of parsed objects one byte of JSON is charged for (Foundation's
    /// `JSONSerialization` objects take several times the text; 8 covers typical batches).
    static let jsonExpansion = 8

    let capacity: Int
    private let used = Mutex(0)

    init(capacity: Int) {
        self.capacity = capacity
    }

    var bytesInUse: Int { used.withLock { $0 } }

    /// Takes `bytes` if they fit. A request larger than the whole budget is let in only
    /// when nothing else holds any (`held`: what the caller holds already), so that it is
    /// not refused forever.
    func tryAcquire(_ bytes: Int, held: Int = 0) -> Bool {
        guard bytes > 0 else { return true }
        return used.withLock { used in
            guard used == held || bytes <= capacity - used else { return false }
            used += bytes
            return true
        }
    }

    func release(_ bytes: Int) {
        guard bytes > 0 else { return }
        used.withLock { $0 -= bytes }
    }

    /// What one request holds; `release()` when the request is answered.
    package struct Lease: ~Copyable {
        let budget: MemoryBudget?
        private(set) var held = 0

        package init(_ budget: MemoryBudget?) {
            self.budget = budget
        }

        /// Takes `bytes` more, or throws the 503 to answer.
        package mutating func take(_ bytes: Int) throws(RequestBodies.Failure) {
            guard let budget else { return }
            guard budget.tryAcquire(bytes, held: held) else {
                throw RequestBodies.Failure(
                    status: .serviceUnavailable,
                    reason: "Seam is decoding as many request bytes as it may hold at once (\(budget.capacity) bytes); retry later",
                    retry: true)
            }
            held += bytes
        }

        package mutating func release() {
            budget?.release(held)
            held = 0
        }

        deinit { budget?.release(held) }
    }
}
