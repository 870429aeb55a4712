import Foundation
import Logging
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
    let now: @Sendable () -> Date
    let logger: Logger

    public init(
        jobs: [any ETLJob], configuration: ETLConfiguration, runner: JobRunner,
        now: @escaping @Sendable () -> Date = { Date() }, logger: Logger = Logger(label: "seam.etl")
    ) {
        self.jobs = jobs
        self.configuration = configuration
        self.runner = runner
        self.now = now
        self.logger = logger
    }

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
                do {
                    try await cancelWhenGracefulShutdown {
                        try await Task.sleep(for: .milliseconds(Int64(wait * 1000)), tolerance: .seconds(1))
                    }
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
