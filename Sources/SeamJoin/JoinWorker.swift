import Foundation
import Logging
import SeamPostgres
import ServiceLifecycle

/// The join service: keeps `lake.traces`, `lake.exposures`, `lake.event_facts` and
/// `lake.sessions` a deterministic function of the raw tables.
///
/// **What is new, safely.** Statement triggers on `lake.spans`, `lake.logs` and
/// `lake.tag_events` write the keys each insert touched into `seam_meta.join_queue` in
/// the inserting transaction. A watermark such as "rows with an id above the last one I
/// saw" skips rows: ids are drawn when a transaction inserts, not when it commits, so a
/// transaction holding id 10 can commit after the worker already advanced past id 11.
/// The queue has no cursor: an item becomes visible exactly when the raw rows that
/// produced it commit, in whatever order that happens, and the worker deletes it in the
/// same transaction that writes the derived rows. A crash rolls both back together.
///
/// **Stages.** One pass runs, each in transactions of its own: traces (from spans), trace
/// changes → the tag events naming the trace, exposures (from flag evaluations), unit
/// changes → the unit's tag events, event facts (tag event + trace + variants + session),
/// sessions (from event facts and traces). Each stage queues what depends on the rows it
/// changed, so a span arriving hours late updates its trace, then the events naming it,
/// then their sessions. Every derived row is computed from all the raw rows of its key;
/// the two propagation stages rewrite an event's trace columns or variants in place, with
/// the same expressions the event stage uses (see `PropagationStage`). This makes the
/// result independent of arrival order, batching and duplicates (the raw tables already
/// drop duplicates by natural key).
///
/// **Several workers.** Claims lock (kind, bucket-of-key) pairs for the transaction
/// (`QueueClaim`), so workers split the buckets between them and never recompute one key
/// concurrently; see `PropagationStage` for why the reverse lookups are race-free.
///
/// **Bounded.** A stage claims at most `batchItems` items; the keys and intermediate rows
/// live in temporary tables in PostgreSQL, not in this process.
public struct JoinWorker: Service {
    public let configuration: JoinConfiguration
    private let pool: PostgresPool
    private let metrics: JoinMetrics
    private let logger: Logger

    public init(
        pool: PostgresPool, configuration: JoinConfiguration = .init(), metrics: JoinMetrics = .global,
        logger: Logger = Logger(label: "seam.join")
    ) {
        self.pool = pool
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
    }

    /// What one pass did.
    public struct PassReport: Sendable, Equatable {
        /// Queue items taken from the queue (the late ones included), by kind.
        public var items: [QueueKind: Int] = [:]
        /// Of those, items older than the horizon: reported instead of joined, by kind.
        public var late: [QueueKind: Int] = [:]
        /// Derived rows rewritten because they changed (new, different or gone), by table.
        public var rows: [String: Int] = [:]

        public var totalItems: Int { items.values.reduce(0, +) }
        public var totalLate: Int { late.values.reduce(0, +) }
    }

    /// The stages of a pass, in dependency order.
    static let order: [QueueKind] = [.trace, .traceChanged, .exposure, .unitChanged, .event, .session]

    /// Runs every stage once, in dependency order, each on one claim of at most
    /// `batchItems` items, or more claims while they come back full (work in buckets
    /// another worker holds is left to it).
    public func runPass() async throws -> PassReport {
        var report = PassReport()
        for kind in Self.order {
            // One claim per stage and pass while the join keeps up: under a steady stream a
            // stage always finds new items, and looping on it would keep the later stages
            // (and freshness) waiting. A full claim means a backlog: then the stage drains
            // it first (bounded), so that the later stages see the result once, not each
            // intermediate state.
            for _ in 0..<64 {
                guard let step = try await runStage(kind) else { break }
                report.items[kind, default: 0] += step.items
                report.late[kind, default: 0] += step.late
                if let table = step.table { report.rows[table, default: 0] += step.rows }
                if !step.full { break }
            }
        }
        if report.totalLate > 0 {
            logger.warning(
                "late data not joined (older than the horizon); stored raw, rejoin with seam join rebuild",
                metadata: ["items": "\(report.late.map { "\($0.key.label)=\($0.value)" }.sorted().joined(separator: ","))"])
        }
        return report
    }

    /// Runs passes until the queue holds nothing this worker can claim; returns the sum.
    public func drain() async throws -> PassReport {
        var total = PassReport()
        while true {
            let report = try await runPass()
            for (kind, count) in report.items { total.items[kind, default: 0] += count }
            for (kind, count) in report.late { total.late[kind, default: 0] += count }
            for (table, count) in report.rows { total.rows[table, default: 0] += count }
            if report.totalItems == 0 { return total }
        }
    }

    private struct Step: Sendable {
        var items: Int
        var late: Int
        var table: String?
        var rows: Int
        var full = false
    }

    private func runStage(_ kind: QueueKind) async throws -> Step? {
        let configuration = configuration
        let started = ContinuousClock.now
        let step = try await pool.transaction { c -> Step? in
            guard let claimed = try QueueClaim.claim(kind: kind, limit: configuration.batchItems, horizon: configuration.horizon, on: c)
            else { return nil }
            var step = Step(items: claimed.items, late: claimed.late, table: nil, rows: 0, full: claimed.full)
            switch kind {
            case .trace: (step.table, step.rows) = ("traces", try TraceStage.run(on: c))
            case .exposure: (step.table, step.rows) = ("exposures", try ExposureStage.run(on: c))
            case .event: (step.table, step.rows) = ("event_facts", try EventStage.run(sessionTimeout: configuration.sessionTimeout, on: c))
            case .session: (step.table, step.rows) = ("sessions", try SessionStage.run(on: c))
            case .traceChanged, .unitChanged:
                (step.table, step.rows) = ("event_facts", try PropagationStage.run(kind: kind, horizon: configuration.horizon, on: c))
            }
            return step
        }
        guard let step else { return nil }
        let seconds = (ContinuousClock.now - started).seconds
        logger.debug(
            "join stage",
            metadata: [
                "kind": "\(kind.label)", "items": "\(step.items)", "late": "\(step.late)", "rows": "\(step.rows)",
                "seconds": "\(String(format: "%.3f", seconds))",
            ])
        metrics.stage(kind, seconds: seconds)
        metrics.processed(kind, items: step.items, late: step.late)
        if let table = step.table { metrics.rows(table, step.rows) }
        return step.items > 0 ? step : nil
    }

    public func run() async throws {
        logger.info(
            "join worker started",
            metadata: ["horizon_s": "\(Int(configuration.horizon.seconds))", "session_timeout_s": "\(Int(configuration.sessionTimeout.seconds))"])
        // The lag reads the whole queue: at most once a second, not after every pass.
        var lagReadAt = ContinuousClock.now - .seconds(1)
        while !Task.isShuttingDownGracefully {
            var worked = false
            do {
                let report = try await runPass()
                worked = report.totalItems > 0
                if ContinuousClock.now - lagReadAt >= .seconds(1) {
                    metrics.lag(seconds: try await JoinStatus.read(from: pool).lagSeconds)
                    lagReadAt = ContinuousClock.now
                }
            } catch {
                // The database may be restarting: the claimed items rolled back; retry later.
                metrics.error()
                logger.error("join pass failed; retrying", metadata: ["error": "\(error)"])
            }
            if !worked {
                try? await Task.sleep(for: configuration.pollInterval)
            }
        }
        logger.info("join worker stopped")
    }
}
