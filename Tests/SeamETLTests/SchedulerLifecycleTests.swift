import DatabaseSupport
import Foundation
import SeamPostgres
import ServiceLifecycle
import ServiceLifecycleTestKit
import TestSupport
import Testing

@testable import SeamETL

/// The scheduler as a `Service`: it runs due jobs when its clock reaches their minute, and
/// stops at graceful shutdown while it waits.
@Suite("ETL scheduler lifecycle", .requiresPostgres)
struct SchedulerLifecycleTests {
    @Test("jobs run when the clock reaches their schedule, in order, once; shutdown ends the wait")
    func runsOnTheClock() async throws {
        try await TestDatabase.withLake { pool in
            let configuration = ETLConfiguration(defaultSchedule: try CronExpression("*/15 * * * *"))
            let start = try #require(ISO8601DateFormatter().date(from: "2026-11-25T10:14:30Z"))
            let clock = ManualClock(now: start)
            let scheduler = ETLScheduler(
                jobs: makeJobs(configuration), configuration: configuration, runner: JobRunner(pool: pool, lookbackHours: 0), clock: clock)
            func runs() async throws -> [String] {
                try await pool.query("SELECT job FROM lake.etl_runs ORDER BY run_id").rows.map { try $0[0].decode(String.self) }
            }
            try await testGracefulShutdown { trigger in
                let running = Task { try await scheduler.run() }
                try await clock.waitForSleepers()
                #expect(try await runs().isEmpty)
                clock.advance(by: .seconds(30))  // 10:15:00
                try await clock.waitForSleepers()  // the jobs ran; it waits for 10:30
                #expect(try await runs() == ["user_features", "segments", "segment_metrics", "experiment_results", "bandits"])
                clock.advance(by: .seconds(60))  // 10:16: nothing due
                try await clock.waitForSleepers()
                #expect(try await runs().count == 5)
                trigger.triggerGracefulShutdown()
                try await running.value
            }
        }
    }
}
