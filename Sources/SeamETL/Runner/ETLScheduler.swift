import Foundation
import Logging
import SeamClock
import SeamPostgres
import ServiceLifecycle

/// Runs the ETL jobs on their cron schedules inside `seam serve`.
///
/// At each minute that some schedule names, the due jobs run one after another in
/// dependency order (user_features before segments before segment_metrics before
/// experiment_results). A failing job is recorded and retried at its next schedule; it
/// does not stop the others. Several processes may run the scheduler: each job's lock lets
/// one of them run it and the others record a skip.
public struct ETLScheduler: Service {
    let jobs: [any ETLJob]
    let configuration: ETLConfiguration
    let runner: JobRunner
    /// What the scheduler reads the time from (cron schedules are wall time) and waits on.
    let clock: any ServiceClock
    let logger: Logger

    public init(
        jobs: [any ETLJob], configuration: ETLConfiguration, runner: JobRunner, clock: any ServiceClock = SystemClock(),
        logger: Logger = Logger(label: "seam.etl")
    ) {
        self.jobs = jobs
        self.configuration = configuration
        self.runner = runner
        self.clock = clock
        self.logger = logger
    }

    func now() -> Date { clock.now() }

    /// The jobs due at the first scheduled minute after `date`, and that minute.
    public func nextRun(after date: Date) -> (at: Date, jobs: [any ETLJob])? {
        let times = jobs.map { configuration.schedule(for: $0.name).next(after: date) }
        guard let at = times.compactMap({ $0 }).min() else { return nil }
        return (at, zip(jobs, times).filter { $0.1 == at }.map(\.0))
    }

    public func run() async throws {
        var last = now()
        while !Task.isShuttingDownGracefully {
            guard let next = nextRun(after: last) else {
                // Returning would end the whole service group: idle until shutdown instead.
                logger.warning("no ETL schedule ever fires; the scheduler idles")
                try? await gracefulShutdown()
                return
            }
            let wait = next.at.timeIntervalSince(now())
            if wait > 0 {
                let clock = clock
                do {
                    // Within a few years (the next time a cron expression fires): far inside Int64 milliseconds.
                    try await cancelWhenGracefulShutdown { try await clock.sleep(for: .milliseconds(Int64(wait * 1000))) }
                } catch {
                    return
                }
            }
            if Task.isShuttingDownGracefully { return }
            for job in next.jobs {
                if Task.isShuttingDownGracefully { return }
                _ = await runner.run(job, trigger: .schedule, now: now())
            }
            // Minutes that passed while the jobs ran are skipped, not caught up one by one.
            last = max(next.at, now())
        }
    }
}
