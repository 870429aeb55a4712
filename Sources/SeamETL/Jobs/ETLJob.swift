import Foundation
import SeamPostgres

/// The jobs Seam runs, in dependency order (each reads what the ones before it write).
public enum JobName: String, Sendable, CaseIterable, Hashable {
    case userFeatures = "user_features"
    case segments
    case segmentMetrics = "segment_metrics"
    case experimentResults = "experiment_results"
    case bandits
}

/// What a run recomputes.
///
/// - `changedSince` set (scheduled and manual runs after the first): what the rows stored or
///   changed since then touch (`updated_at` of the join's tables, `stored_at` of decisions
///   and segment assignments), whatever their event time; `start` is then only the previous
///   watermark, for the record.
/// - Otherwise the event-time window [start, end) (backfills); a nil start means all data.
public struct JobWindow: Sendable, Equatable, CustomStringConvertible {
    public var start: Date?
    public var end: Date
    public var changedSince: Date?
    public init(start: Date?, end: Date, changedSince: Date? = nil) {
        self.start = start
        self.end = end
        self.changedSince = changedSince
    }
    /// Whether the run recomputes everything.
    public var isEverything: Bool { start == nil && changedSince == nil }
    public var description: String {
        let formatter = ISO8601DateFormatter()
        if let changedSince { return "changes since \(formatter.string(from: changedSince)), to \(formatter.string(from: end))" }
        return "[\(start.map { formatter.string(from: $0) } ?? "beginning"), \(formatter.string(from: end)))"
    }
}

/// A job: recomputes its output rows for a window inside the transaction it is given, and
/// returns the number of rows it wrote. It must replace exactly the rows of what it
/// recomputes, so that a repeat writes the same rows.
public protocol ETLJob: Sendable {
    var name: JobName { get }
    func run(window: JobWindow, on connection: PostgresConnection) throws -> Int
}

extension ETLJob {
    /// Records `digest` (of the definitions the job computes with) in `seam_meta.etl_state`
    /// and says whether it differs from the previous run's: then everything is recomputed.
    func definitionsChanged(to digest: String, on connection: PostgresConnection) throws -> Bool {
        let previous = try connection.query(
            "SELECT definitions_digest FROM seam_meta.etl_state WHERE job = $1", [.text(name.rawValue)]
        ).first.map { try $0[0].decode(String?.self) } ?? nil
        try connection.execute(
            """
            INSERT INTO seam_meta.etl_state (job, watermark, definitions_digest) VALUES ($1, '-infinity', $2)
            ON CONFLICT (job) DO UPDATE SET definitions_digest = EXCLUDED.definitions_digest
            """, [.text(name.rawValue), .text(digest)])
        return previous != digest
    }
}

extension JobWindow {
    /// The start as a parameter: -infinity when the window starts at the beginning.
    var startParameter: PostgresValue { start.map { .timestamptz($0) } ?? .text("-infinity") }
    var endParameter: PostgresValue { .timestamptz(end) }

    /// A condition selecting the rows (of a table aliased `alias`) that this run looks at:
    /// `updated` (an arrival column) at or after `changedSince`; else `eventEnd >= start AND
    /// eventStart < end` in event time.
    func rows(_ alias: String, updated: String = "updated_at", eventStart: String, eventEnd: String) -> SQLQuery {
        if let changedSince {
            return "\(unescaped: alias).\(unescaped: updated) >= \(PostgresValue.timestamptz(changedSince))::timestamptz"
        }
        return """
            \(unescaped: alias).\(unescaped: eventEnd) >= \(startParameter)::timestamptz \
            AND \(unescaped: alias).\(unescaped: eventStart) < \(endParameter)::timestamptz
            """
    }
}

/// The jobs for a configuration, in dependency order.
public func makeJobs(_ configuration: ETLConfiguration) -> [any ETLJob] {
    [
        UserFeaturesJob(configuration: configuration), SegmentsJob(configuration: configuration),
        SegmentMetricsJob(), ExperimentResultsJob(configuration: configuration), BanditsJob(configuration: configuration),
    ]
}

extension PostgresConnection {
    /// ANALYZE of a job's temporary tables (a list, with column lists where given) from a
    /// sample of 3,000 rows (statistics target 10, for these statements only) instead of
    /// 30,000: their plans need row counts and rough distinct counts, not fine histograms.
    /// `segment_metrics`' two tables of three days' sessions (60,000 and 130,000 rows) took
    /// 105 ms to analyze at the default target and 20 ms at 10.
    func analyzeTemporary(_ tables: SQLQuery) throws {
        try executeScript("SET LOCAL default_statistics_target = 10; ANALYZE " + tables + "; SET LOCAL default_statistics_target TO DEFAULT")
    }
}
