import DatabaseSupport
import Foundation
import SeamClock
import SeamPostgres
import ServiceLifecycle
import ServiceLifecycleTestKit
import TestSupport
import Testing

@testable import SeamJoin

/// The worker as a `Service`: it polls on its clock and stops at graceful shutdown.
@Suite("Join worker lifecycle", .requiresPostgres)
struct JoinWorkerLifecycleTests {
    static func insertEvent(on pool: PostgresPool) async throws -> UUID {
        let id = UUID()
        try await pool.execute(
            """
            INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, session_id, properties, context)
            VALUES (\(id), 'page_view', now(), now(), 'lifecycle-session', '{}', '{}')
            """)
        return id
    }

    @Test("idle, it polls when its clock says so; graceful shutdown ends it without waiting out the interval")
    func pollsAndStops() async throws {
        try await TestDatabase.withLake { pool in
            let clock = ManualClock(now: Date())
            let worker = JoinWorker(pool: pool, configuration: .init(pollInterval: .seconds(3600)), clock: clock)
            try await testGracefulShutdown { trigger in
                let running = Task { try await worker.run() }
                try await clock.waitForSleepers()
                // Work that arrives while it sleeps waits for the next poll, an hour away on its clock.
                let id = try await Self.insertEvent(on: pool)
                #expect(try await pool.query("SELECT count(*) FROM lake.event_facts").scalar(Int.self) == 0)
                clock.advance(by: .seconds(3600))
                let deadline = ContinuousClock.now + .seconds(30)
                while try await pool.query("SELECT count(*) FROM lake.event_facts WHERE event_id = \(id)").scalar(Int.self) == 0 {
                    guard ContinuousClock.now < deadline else { Issue.record("the event was not joined after the poll"); break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await clock.waitForSleepers()
                // The clock never reaches the next poll: only the shutdown can end the sleep.
                let asked = ContinuousClock.now
                trigger.triggerGracefulShutdown()
                try await running.value
                #expect(ContinuousClock.now - asked < .seconds(10))
            }
        }
    }
}
