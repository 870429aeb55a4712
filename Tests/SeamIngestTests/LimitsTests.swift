import Foundation
import Testing

@testable import SeamIngest

@Suite("Ingestion limits")
struct LimitsTests {
    @Test("the memory budget refuses what does not fit, lets one oversized request in alone, and frees on release")
    func budget() throws {
        let budget = MemoryBudget(capacity: 10_000)
        var first = MemoryBudget.Lease(budget)
        try first.take(8_000)
        var second = MemoryBudget.Lease(budget)
        #expect(throws: RequestBodies.Failure.self) { try second.take(5_000) }
        #expect(budget.bytesInUse == 8_000)
        try second.take(2_000)
        second.release()
        first.release()
        #expect(budget.bytesInUse == 0)
        // Alone, a request may exceed the budget (it would otherwise be refused forever) ...
        var big = MemoryBudget.Lease(budget)
        try big.take(6_000)
        try big.take(48_000)
        // ... but nothing else fits beside it.
        var other = MemoryBudget.Lease(budget)
        #expect(throws: RequestBodies.Failure.self) { try other.take(1) }
        big.release()
        try other.take(1)
        other.release()
        #expect(budget.bytesInUse == 0)
    }

    @Test("a refusal is a 503 the client should retry")
    func refusal() {
        let budget = MemoryBudget(capacity: 10)
        var a = MemoryBudget.Lease(budget)
        try? a.take(10)
        var b = MemoryBudget.Lease(budget)
        do {
            try b.take(1)
            Issue.record("over budget accepted")
        } catch {
            #expect(error.status == .serviceUnavailable && error.retry)
        }
        a.release()
    }

    @Test("a lease dropped without release returns its bytes")
    func deinitReleases() throws {
        let budget = MemoryBudget(capacity: 100)
        do {
            var lease = MemoryBudget.Lease(budget)
            try lease.take(60)
            #expect(budget.bytesInUse == 60)
        }
        #expect(budget.bytesInUse == 0)
    }
}
