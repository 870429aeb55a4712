import Foundation
import Logging
import SeamPostgres
import ServiceLifecycle
import Synchronization

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
/// **Stages.** One pass runs, each in transactions of its own: traces (from spans, and in
/// the same transaction the trace columns of the event facts naming them), trace changes
/// left for later → the tag events naming the trace, exposures (from flag evaluations),
/// unit changes → the unit's tag events, event facts (tag event + trace + variants +
/// session), sessions (from event facts and traces). Each stage queues what depends on the
/// rows it changed, so a span arriving hours late updates its trace, then the events naming
/// it, then their sessions. Every derived row is computed from all the raw rows of its key;
/// trace and unit changes rewrite an event's trace columns or variants in place, with the
/// same expressions the event stage uses (see `PropagationStage`). This makes the
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
    private let queueVacuum = QueueVacuum()

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
        /// Derived rows rewritten because they changed (new, different or gone, or rewritten
        /// in place by propagation), by table.
        public var rows: [String: Int] = [:]

        public var totalItems: Int { items.values.reduce(0, +) }
        public var totalLate: Int { late.values.reduce(0, +) }
    }

    /// When the worker last vacuumed the queue. The queue takes and loses thousands of items
    /// a second, and autovacuum visits a database at most once a minute (its naptime): until
    /// then every claim steps over the index entries of items already deleted, which made
    /// the claims a sixth of the join's time. Vacuuming a short queue takes milliseconds.
    final class QueueVacuum: Sendable {
        static let interval: Duration = .seconds(2)
        private let last = Mutex(ContinuousClock.now)

        /// True, once per `interval`.
        func due() -> Bool {
            last.withLock { last in
                guard ContinuousClock.now - last >= Self.interval else { return false }
                last = ContinuousClock.now
                return true
            }
        }
    }

    /// The stages of a pass, in dependency order.
    static let order: [QueueKind] = [.trace, .traceChanged, .exposure, .unitChanged, .event, .session]

    /// Runs every stage once, in dependency order, each on one claim of at most
    /// `batchItems` items, or more claims while they come back full (work in buckets
    /// another worker holds is left to it).
    public func runPass() async throws -> PassReport {
        var report = PassReport()
        if queueVacuum.due() {
            try await pool.withConnection { c in
                // Skipped, with a warning, while another vacuum (autovacuum) holds the table.
                _ = try c.executeScript("SET client_min_messages TO error")
                defer { _ = try? c.executeScript("SET client_min_messages TO warning") }
                _ = try c.executeScript("VACUUM (SKIP_LOCKED) seam_meta.join_queue")
            }
        }
        // Tag events are computed only up to the last event item visible before the trace
        // stage claims: a loader transaction stores an event with its trace's spans, and an
        // event taken in the same pass as its trace but not its spans would be computed
        // without its trace facts, then rewritten when the trace arrives (and its session
        // recomputed twice). Later event items wait for the next pass. An optimization only:
        // correctness never depends on which pass takes an item.
        let eventBound = try await pool.withConnection { try QueueClaim.lastItem(of: .event, on: $0) }
        for kind in Self.order {
            // One claim per stage and pass while the join keeps up: under a steady stream a
            // stage always finds new items, and looping on it would keep the later stages
            // (and freshness) waiting. A full claim means a backlog: then the stage drains
            // it first (bounded), so that the later stages see the result once, not each
            // intermediate state.
            for _ in 0..<64 {
                guard let step = try await runStage(kind, upTo: kind == .event ? eventBound : nil) else { break }
                report.items[kind, default: 0] += step.items
                report.late[kind, default: 0] += step.late
                for (table, rows) in step.rows { report.rows[table, default: 0] += rows }
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
        /// Rows rewritten, by table.
        var rows: [String: Int] = [:]
        var full = false
    }

    /// Runs one claim of `kind` (of items up to `upTo` when given).
    private func runStage(_ kind: QueueKind, upTo bound: Int64?) async throws -> Step? {
        if kind == .event, bound == nil { return nil }
        let configuration = configuration
        let started = ContinuousClock.now
        let step = try await pool.transaction { c -> Step? in
            guard let claimed = try QueueClaim.claim(
                kind: kind, limit: configuration.batchItems, upTo: bound, horizon: configuration.horizon, on: c)
            else { return nil }
            var step = Step(items: claimed.items, late: claimed.late, full: claimed.full)
            switch kind {
            case .trace:
                let rows = try TraceStage.run(horizon: configuration.horizon, on: c)
                step.rows = ["traces": rows.traces, "event_facts": rows.eventFacts]
            case .exposure: step.rows = ["exposures": try ExposureStage.run(on: c)]
            case .event: step.rows = ["event_facts": try EventStage.run(sessionTimeout: configuration.sessionTimeout, on: c)]
            case .session: step.rows = ["sessions": try SessionStage.run(on: c)]
            case .traceChanged, .unitChanged:
                step.rows = ["event_facts": try PropagationStage.run(kind: kind, horizon: configuration.horizon, on: c)]
            }
            return step
        }
        guard let step else { return nil }
        let seconds = (ContinuousClock.now - started).seconds
        logger.debug(
            "join stage",
            metadata: [
                "kind": "\(kind.label)", "items": "\(step.items)", "late": "\(step.late)", "rows": "\(step.rows.values.reduce(0, +))",
                "seconds": "\(String(format: "%.3f", seconds))",
            ])
        metrics.stage(kind, seconds: seconds)
        metrics.processed(kind, items: step.items, late: step.late)
        for (table, rows) in step.rows { metrics.rows(table, rows) }
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
