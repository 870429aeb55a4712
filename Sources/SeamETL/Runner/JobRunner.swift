import Foundation
import Logging
import SeamMetrics
import SeamPostgres

/// Runs one job once: takes the job's lock, records the run in `lake.etl_runs`, runs the
/// job in a transaction and moves its watermark.
///
/// **One run at a time.** The lock is a session-level advisory lock keyed by the job name,
/// so it holds across every Seam process on the database. A run that cannot take it at
/// once is recorded as skipped and returns; it does not wait or queue.
///
/// **Failures.** The job's writes and its watermark commit together, so a failing run
/// leaves the previous results and watermark in place; its error is recorded and the next
/// scheduled run tries the same window again (and more).
public struct JobRunner: Sendable {
    public enum Trigger: String, Sendable {
        case schedule, manual, backfill
    }

    public enum Status: String, Sendable {
        case succeeded, failed, skipped
    }

    public struct Report: Sendable, CustomStringConvertible {
        public var job: JobName
        public var status: Status
        public var window: JobWindow?
        public var rows: Int
        public var seconds: Double
        public var error: String?

        public var description: String {
            var text = "\(job.rawValue): \(status.rawValue)"
            if let window { text += " window \(window)" }
            text += String(format: ", %d rows, %.3f s", rows, seconds)
            if let error { text += " — \(error)" }
            return text
        }
    }

    /// Key space of the advisory locks (first int of the two-int form): "SETL".
    static let lockSpace: Int32 = 0x5345_544C

    let pool: PostgresPool
    let lookbackHours: Double
    let metrics: ETLMetrics
    let logger: Logger

    public init(pool: PostgresPool, lookbackHours: Double, metrics: ETLMetrics = .global, logger: Logger = Logger(label: "seam.etl")) {
        self.pool = pool
        self.lookbackHours = lookbackHours
        self.metrics = metrics
        self.logger = logger
    }

    /// Runs `job` over `window`, or, when nil, over [watermark - lookback, now) (everything
    /// when the job never ran). Backfills leave the watermark alone.
    public func run(_ job: any ETLJob, trigger: Trigger, window: JobWindow? = nil, now: Date = Date()) async -> Report {
        let started = ContinuousClock.now
        let lookback = lookbackHours
        let report: Report
        do {
            report = try await pool.withConnection { connection in
                try Self.runLocked(job, trigger: trigger, window: window, now: now, lookbackHours: lookback, on: connection)
            }
        } catch {
            // The database itself failed (connection, recording): nothing was committed.
            report = Report(job: job.name, status: .failed, window: window, rows: 0, seconds: 0, error: "\(error)")
        }
        var final = report
        final.seconds = (ContinuousClock.now - started).seconds
        metrics.record(final)
        switch final.status {
        case .succeeded: logger.info("etl run succeeded", metadata: ["run": "\(final)"])
        case .skipped: logger.notice("etl run skipped", metadata: ["run": "\(final)"])
        case .failed: logger.error("etl run failed", metadata: ["run": "\(final)"])
        }
        return final
    }

    /// The earliest time a row this run cannot see may carry in `updated_at`: the start of
    /// the oldest other transaction on the database still running (its rows are written
    /// with `clock_timestamp()`, at or after its start), else now. When this login may not see
    /// another session's transaction start (pg_stat_activity hides it without
    /// pg_read_all_stats), `marginHours` before now bounds it instead.
    static func changesCutoff(marginHours: Double, on connection: PostgresConnection) throws -> Date {
        try connection.query(
            """
            SELECT least(clock_timestamp(),
                         min(a.xact_start) FILTER (WHERE a.pid <> pg_backend_pid()),
                         CASE WHEN bool_or(a.state IS NULL AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid())
                              THEN clock_timestamp() - make_interval(secs => $1) END)
            FROM pg_stat_activity AS a WHERE a.datname = current_database()
            """, [.float64(marginHours * 3600)]
        ).scalar(Date.self)
    }

    static func runLocked(
        _ job: any ETLJob, trigger: Trigger, window explicit: JobWindow?, now: Date, lookbackHours: Double,
        on connection: PostgresConnection
    ) throws -> Report {
        let name = PostgresValue.text(job.name.rawValue)
        let locked = try connection.query(
            "SELECT pg_try_advisory_lock($1, hashtext($2))", [.int32(lockSpace), name]
        ).scalar(Bool.self)
        guard locked else {
            let window = explicit ?? JobWindow(start: nil, end: now)
            try connection.execute(
                """
                INSERT INTO lake.etl_runs (job, trigger, window_start, window_end, started_at, finished_at, status, error)
                VALUES ($1, $2, $3, $4, $5, $5, 'skipped', 'another run of this job holds its lock')
                """, [name, .text(trigger.rawValue), window.start.map { .timestamptz($0) } ?? .null, .timestamptz(window.end), .timestamptz(now)])
            return Report(job: job.name, status: .skipped, window: nil, rows: 0, seconds: 0, error: "another run of this job holds its lock")
        }
        defer { _ = try? connection.query("SELECT pg_advisory_unlock($1, hashtext($2))", [.int32(lockSpace), name]) }
        // This process holds the job's lock, so a run still marked running died with its process.
        try connection.execute(
            """
            UPDATE lake.etl_runs SET status = 'abandoned', finished_at = clock_timestamp(),
                   error = 'the process running it ended before it finished'
            WHERE job = $1 AND status = 'running'
            """, [name])
        let window: JobWindow
        if let explicit {
            window = explicit
        } else {
            let state = try connection.query(
                "SELECT CASE WHEN watermark > '-infinity' THEN watermark END, changes_since FROM seam_meta.etl_state WHERE job = $1", [name]
            ).first
            let watermark = try state?[0].decode(Date?.self) ?? nil
            let changesSince = try state?[1].decode(Date?.self) ?? nil
            if watermark != nil, let changesSince {
                window = JobWindow(start: watermark, end: now, changedSince: changesSince)
            } else {
                // The first run (everything), or the first since changes were followed: the
                // event-time window with the late-data lookback.
                window = JobWindow(start: watermark.map { $0.addingTimeInterval(-lookbackHours * 3600) }, end: now)
            }
        }
        let runID = try connection.query(
            """
            INSERT INTO lake.etl_runs (job, trigger, window_start, window_end, started_at, status)
            VALUES ($1, $2, $3, $4, clock_timestamp(), 'running') RETURNING run_id
            """, [name, .text(trigger.rawValue), window.start.map { .timestamptz($0) } ?? .null, .timestamptz(window.end)]
        ).scalar(Int64.self)
        do {
            let rows = try connection.transaction { connection -> Int in
                // Before reading anything: where the changes the next run must look at begin.
                let cutoff = try Self.changesCutoff(marginHours: lookbackHours, on: connection)
                // No JIT compilation. The planner's estimates for the jobs' correlated
                // subqueries pass jit_above_cost, and compiling cost more than it saved
                // (auto_explain, seam bench etl at a fifth of the scale): in a change-driven
                // run 103 of the 120 ms of each experiment's unit query; in a full run 1.33 to
                // 1.47 s of each experiment's 1.6 to 1.8 s unit query, 7.4 s of the 31 s run.
                try connection.execute("SET LOCAL jit = off")
                let rows = try job.run(window: window, on: connection)
                if trigger != .backfill {
                    try connection.execute(
                        """
                        INSERT INTO seam_meta.etl_state (job, watermark, changes_since) VALUES ($1, $2, $3)
                        ON CONFLICT (job) DO UPDATE SET watermark = greatest(etl_state.watermark, EXCLUDED.watermark),
                            changes_since = EXCLUDED.changes_since, updated_at = now()
                        """, [name, .timestamptz(window.end), .timestamptz(cutoff)])
                }
                return rows
            }
            try connection.execute(
                "UPDATE lake.etl_runs SET status = 'succeeded', finished_at = clock_timestamp(), rows_written = $2 WHERE run_id = $1",
                [.int64(runID), .int64(Int64(rows))])
            return Report(job: job.name, status: .succeeded, window: window, rows: rows, seconds: 0, error: nil)
        } catch {
            let message = (error as? PostgresError)?.description ?? "\(error)"
            try connection.execute(
                "UPDATE lake.etl_runs SET status = 'failed', finished_at = clock_timestamp(), error = $2 WHERE run_id = $1",
                [.int64(runID), .text(message)])
            return Report(job: job.name, status: .failed, window: window, rows: 0, seconds: 0, error: message)
        }
    }
}
