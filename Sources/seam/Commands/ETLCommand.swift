import SeamProgress
import SeamSettings
import ArgumentParser
import Foundation
import SeamETL
import SeamPostgres

struct ETLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "etl", abstract: "Scheduled ETL jobs: user features, segments, segment metrics, experiment results.",
        subcommands: [List.self, Run.self, Backfill.self])

    /// Runs `body` with the jobs, a runner and a pool, after the lake is set up and the
    /// segment predicates are checked against it.
    static func withJobs(
        _ options: GlobalOptions, _ body: ([any ETLJob], JobRunner, PostgresPool, ETLConfiguration) async throws -> Void
    ) async throws {
        let runtime = try Runtime(options: options)
        let configuration = try runtime.settings.etlConfiguration()
        try await runtime.withLake(maximumConnections: 2) { pool, _ in
            try await checkSegments(configuration, pool: pool)
            let runner = JobRunner(pool: pool, lookbackHours: configuration.lookbackHours)
            try await body(makeJobs(configuration), runner, pool, configuration)
        }
    }

    /// A bad segment predicate fails here, at startup, naming the key path.
    static func checkSegments(_ configuration: ETLConfiguration, pool: PostgresPool) async throws {
        let segments = configuration.segments
        let problems = try await pool.withConnection { SegmentsJob.validate(segments, on: $0) }
        guard problems.isEmpty else {
            throw SettingsError("configuration: " + problems.map(\.description).joined(separator: "; "))
        }
    }

    static func job(named name: String, in jobs: [any ETLJob]) throws -> [any ETLJob] {
        if name == "all" { return jobs }
        guard let job = jobs.first(where: { $0.name.rawValue == name }) else {
            throw ValidationError("unknown job \"\(name)\" (jobs: \(jobs.map(\.name.rawValue).joined(separator: ", ")), or all)")
        }
        return [job]
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the jobs: schedule, next run, watermark, last run.")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            try await ETLCommand.withJobs(options) { jobs, _, pool, configuration in
                let formatter = ISO8601DateFormatter()
                print("job                 schedule         next run (UTC)         watermark              last run")
                for job in jobs {
                    let name = job.name.rawValue
                    let schedule = configuration.schedule(for: job.name)
                    let state = try await pool.query(
                        """
                        SELECT (SELECT CASE WHEN watermark > '-infinity' THEN watermark END FROM seam_meta.etl_state WHERE job = $1),
                               (SELECT status || ' ' || to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                                       || ' rows=' || rows_written || coalesce(' error: ' || error, '')
                                FROM lake.etl_runs WHERE job = $1 ORDER BY run_id DESC LIMIT 1)
                        """, [.text(name)])
                    let watermark = try state[0][0].decode(Date?.self).map { formatter.string(from: $0) } ?? "-"
                    let last = try state[0][1].decode(String?.self) ?? "never"
                    let next = schedule.next(after: Date()).map { formatter.string(from: $0) } ?? "never"
                    print(
                        name.padding(toLength: 20, withPad: " ", startingAt: 0)
                            + schedule.description.padding(toLength: 17, withPad: " ", startingAt: 0)
                            + next.padding(toLength: 23, withPad: " ", startingAt: 0)
                            + watermark.padding(toLength: 23, withPad: " ", startingAt: 0) + last)
                }
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a job now over the window since its watermark (minus the lookback), as the schedule would.")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "user_features, segments, segment_metrics, experiment_results, bandits, or all (in that order).") var job: String

        func run() async throws {
            try await ETLCommand.withJobs(options) { jobs, runner, _, _ in
                var failed = false
                let chosen = try ETLCommand.job(named: self.job, in: jobs)
                let progress = ProgressReporter(label: "seam etl run")
                for (index, job) in chosen.enumerated() {
                    progress.step("job \(index + 1) of \(chosen.count), \(job.name.rawValue)")
                    let report = await runner.run(job, trigger: .manual)
                    progress.finish("\(report.status.rawValue), \(report.rows) rows")
                    print("seam etl run: \(report)")
                    failed = failed || report.status != .succeeded
                }
                if failed { throw ExitCode.failure }
            }
        }
    }

    struct Backfill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute a job over [from, to); the watermark stays where it is.",
            discussion: "Times are RFC 3339 (2026-11-20T00:00:00Z) or dates (2026-11-20, midnight UTC).")
        @OptionGroup var options: GlobalOptions
        @Argument(help: "user_features, segments, segment_metrics, experiment_results, bandits, or all (in that order).") var job: String
        @Option(help: "Start of the window (inclusive).") var from: String
        @Option(help: "End of the window (exclusive).") var to: String

        func run() async throws {
            let start = try JoinCommand.Rebuild.parse(from, "--from")
            let end = try JoinCommand.Rebuild.parse(to, "--to")
            guard start < end else { throw ValidationError("--from must be before --to") }
            try await ETLCommand.withJobs(options) { jobs, runner, _, _ in
                var failed = false
                let chosen = try ETLCommand.job(named: self.job, in: jobs)
                let progress = ProgressReporter(label: "seam etl backfill")
                for (index, job) in chosen.enumerated() {
                    progress.step("job \(index + 1) of \(chosen.count), \(job.name.rawValue)")
                    let report = await runner.run(job, trigger: .backfill, window: JobWindow(start: start, end: end))
                    progress.finish("\(report.status.rawValue), \(report.rows) rows")
                    print("seam etl backfill: \(report)")
                    failed = failed || report.status != .succeeded
                }
                if failed { throw ExitCode.failure }
            }
        }
    }
}
