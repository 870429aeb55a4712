import Foundation
import Logging
import SeamClock
import SeamMetrics
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
/// **Bounded.** A stage claims at most `batchItems` items, or `backlogItems` once a claim
/// left items behind; the keys and intermediate rows live in temporary tables in
/// PostgreSQL, not in this process.
///
/// **Backlogs.** A claim of `batchItems` looks its keys' rows up one by one in the lake's
/// indexes, which is right while the join keeps up; after an outage or a burst the same
/// lookups, a million of them, cost two to three times what reading the tables once does.
/// So a stage whose claim came back full claims `backlogItems` next and runs the same SQL
/// as hash joins (`Lookups.hashed`).
public struct JoinWorker: Service {
    public let configuration: JoinConfiguration
    private let pool: PostgresPool
    private let metrics: JoinMetrics
    private let logger: Logger
    private let queueVacuum = QueueVacuum()
    private let isolation = Isolation()
    /// What the worker waits on between polls and times its lag readings with.
    private let clock: any ServiceClock

    public init(
        pool: PostgresPool, configuration: JoinConfiguration = .init(), metrics: JoinMetrics = .global,
        clock: any ServiceClock = SystemClock(), logger: Logger = Logger(label: "seam.join")
    ) {
        self.clock = clock
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
        /// Items set aside because their key failed to compute alone, by kind.
        public var setAside: [QueueKind: Int] = [:]
        /// Backlog claims read by hash joins rather than key by key (`Lookups.hashed`), by kind.
        public var hashedClaims: [QueueKind: Int] = [:]
        /// Claims that rebuilt a table's indexes after writing it rather than maintaining
        /// them (`IndexRebuild`, migration 0019), by table.
        public var indexRebuilds: [String: Int] = [:]
        /// Of those, claims that found the table empty and wrote their rows straight into it
        /// (`IndexRebuild.intoEmpty`), by table.
        public var intoEmpty: [String: Int] = [:]

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

    /// Poison keys. A stage whose transaction fails for a reason other than a database
    /// outage is retried on smaller claims (a quarter each time) until the claims are one
    /// key each; a key that still fails alone is moved to `seam_meta.join_set_aside` with
    /// its error, and everything else keeps flowing. The claim size returns to normal once
    /// the smaller claims have covered as many items as the failed claim held.
    final class Isolation: Sendable {
        struct State {
            /// Current claim limit of the kind.
            var limit: Int
            /// Items still to process at reduced claims before the normal limit returns.
            var remaining: Int
        }

        private let states = Mutex<[QueueKind: State]>([:])

        func limit(_ kind: QueueKind, normal: Int) -> Int { states.withLock { $0[kind]?.limit ?? normal } }

        /// A claim of `kind` at `limit` failed: claim less.
        func failed(_ kind: QueueKind, limit: Int, normal: Int) {
            states.withLock { states in
                let remaining = max(states[kind]?.remaining ?? 0, limit)
                states[kind] = State(limit: max(1, limit / 4), remaining: remaining)
            }
        }

        /// A claim of `kind` processed `items` (or set them aside).
        func processed(_ kind: QueueKind, items: Int) {
            states.withLock { states in
                guard var state = states[kind] else { return }
                state.remaining -= max(1, items)
                states[kind] = state.remaining > 0 ? state : nil
            }
        }

        func isIsolating(_ kind: QueueKind) -> Bool { states.withLock { $0[kind] != nil } }
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
            // (and freshness) waiting. A backlog (the stage's buckets hold more items than an
            // ordinary claim takes: its first claim grows to a backlog claim; or a claim left
            // items behind) is drained first (bounded), so that the later stages see the
            // result once, not each intermediate state, and in backlog claims, which hash
            // whole tables against the claim instead of looking keys up one by one (`Lookups`).
            var backlog = false
            for _ in 0..<64 {
                let isolating = isolation.isIsolating(kind)
                let backlogClaims = !isolating && configuration.backlogItems > configuration.batchItems
                let limit = backlog && backlogClaims ? configuration.backlogItems : isolation.limit(kind, normal: configuration.batchItems)
                let step: Step?
                do {
                    step = try await runStage(
                        kind, upTo: kind == .event ? eventBound : nil, limit: limit,
                        growTo: !backlog && backlogClaims ? configuration.backlogItems : nil)
                } catch where !error.isDatabaseOutage && limit > 1 {
                    isolation.failed(kind, limit: limit, normal: configuration.batchItems)
                    metrics.error()
                    logger.warning(
                        "join stage failed; retrying on smaller claims to find the key that fails",
                        metadata: ["kind": "\(kind.label)", "items": "\(limit)", "error": "\(error)"])
                    continue
                }
                guard let step else { break }
                report.items[kind, default: 0] += step.items
                report.late[kind, default: 0] += step.late
                report.setAside[kind, default: 0] += step.setAside
                if step.hashed { report.hashedClaims[kind, default: 0] += 1 }
                if let table = step.rebuiltIndexesOf { report.indexRebuilds[table, default: 0] += 1 }
                if let table = step.intoEmpty { report.intoEmpty[table, default: 0] += 1 }
                for (table, rows) in step.rows { report.rows[table, default: 0] += rows }
                if isolation.isIsolating(kind) {
                    // Small claims until the failed claim's items are covered.
                    isolation.processed(kind, items: step.items)
                    continue
                }
                if !step.full { break }
                backlog = true
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
    /// `afterPass` hears the sum so far after each pass (progress of `seam join rebuild`).
    public func drain(afterPass: ((PassReport) -> Void)? = nil) async throws -> PassReport {
        var total = PassReport()
        while true {
            let report = try await runPass()
            for (kind, count) in report.items { total.items[kind, default: 0] += count }
            for (kind, count) in report.late { total.late[kind, default: 0] += count }
            for (table, count) in report.rows { total.rows[table, default: 0] += count }
            for (kind, count) in report.setAside { total.setAside[kind, default: 0] += count }
            for (kind, count) in report.hashedClaims { total.hashedClaims[kind, default: 0] += count }
            for (table, count) in report.indexRebuilds { total.indexRebuilds[table, default: 0] += count }
            for (table, count) in report.intoEmpty { total.intoEmpty[table, default: 0] += count }
            afterPass?(total)
            if report.totalItems == 0 { return total }
        }
    }

    private struct Step: Sendable {
        var items: Int
        var late: Int
        /// Rows rewritten, by table.
        var rows: [String: Int] = [:]
        var full = false
        /// Items moved to `seam_meta.join_set_aside`.
        var setAside = 0
        /// Whether the claim was read by hash joins (`Lookups.hashed`).
        var hashed = false
        /// The table whose indexes the claim rebuilt rather than maintained, if any.
        var rebuiltIndexesOf: String?
        /// The table the claim wrote straight into, empty, if any.
        var intoEmpty: String?
    }

    /// Runs one claim of `kind` of at most `limit` items (up to item `upTo` when given), or
    /// of `growTo` when its buckets hold more than `limit` (`QueueClaim.claim`). A claim of
    /// more than `join.batch_items` (a backlog claim) large enough against the lake
    /// (`Lookups.forBacklog`) reads its keys' rows by hash joins; any other looks them up
    /// key by key. A claim of one key (`limit` 1) that fails for a reason other than an
    /// outage sets its items aside with the error instead of failing.
    private func runStage(_ kind: QueueKind, upTo bound: Int64?, limit: Int, growTo: Int?) async throws -> Step? {
        if kind == .event, bound == nil { return nil }
        let configuration = configuration
        let started = ContinuousClock.now
        let logger = logger
        let step = try await pool.transaction { c -> Step? in
            guard let claimed = try QueueClaim.claim(
                kind: kind, limit: limit, growTo: growTo, upTo: bound, horizon: configuration.horizon, on: c)
            else { return nil }
            let lookups =
                claimed.limit > configuration.batchItems
                ? try Lookups.forBacklog(of: kind, items: claimed.items, batchItems: configuration.batchItems, on: c) : .perKey
            var step = Step(items: claimed.items, late: claimed.late, full: claimed.full, hashed: lookups == .hashed)
            let rebuild = IndexRebuild(lookups: lookups, wait: configuration.indexRebuildWait)
            func compute() throws {
                switch kind {
                case .trace:
                    let rows = try TraceStage.run(horizon: configuration.horizon, lookups: lookups, rebuild: rebuild, on: c)
                    step.rows = ["traces": rows.traces, "event_facts": rows.eventFacts]
                    if rows.rebuiltIndexes > 0 { step.rebuiltIndexesOf = "traces" }
                    if rows.intoEmpty { step.intoEmpty = "traces" }
                case .exposure: step.rows = ["exposures": try ExposureStage.run(lookups: lookups, on: c)]
                case .event:
                    let rows = try EventStage.run(sessionTimeout: configuration.sessionTimeout, lookups: lookups, rebuild: rebuild, on: c)
                    step.rows = ["event_facts": rows.events]
                    if rows.rebuiltIndexes > 0 { step.rebuiltIndexesOf = "event_facts" }
                    if rows.intoEmpty { step.intoEmpty = "event_facts" }
                case .session: step.rows = ["sessions": try SessionStage.run(lookups: lookups, on: c)]
                case .traceChanged, .unitChanged:
                    step.rows = ["event_facts": try PropagationStage.run(kind: kind, horizon: configuration.horizon, on: c)]
                }
            }
            guard limit == 1 else {
                try compute()
                return step
            }
            try c.executeScript("SAVEPOINT seam_join_key")
            do {
                try compute()
                try c.executeScript("RELEASE SAVEPOINT seam_join_key")
            } catch where !error.isDatabaseOutage {
                try c.executeScript("ROLLBACK TO SAVEPOINT seam_join_key")
                step.setAside = try c.execute(
                    """
                    INSERT INTO seam_meta.join_set_aside (kind, trace_id, event_id, key1, key2, at, error)
                    SELECT kind, trace_id, event_id, key1, key2, at, $1 FROM join_claim
                    """, [.text("\(error)")])
                step.rows = [:]
                logger.error(
                    "join key set aside: it fails to compute; seam join rebuild retries it",
                    metadata: ["kind": "\(kind.label)", "error": "\(error)"])
            }
            return step
        }
        guard let step else { return nil }
        if step.setAside > 0 { metrics.setAside(kind, step.setAside) }
        if step.hashed { metrics.hashedClaim(kind) }
        if let table = step.rebuiltIndexesOf { metrics.indexRebuild(table) }
        let seconds = (ContinuousClock.now - started).seconds
        logger.debug(
            "join stage",
            metadata: [
                "kind": "\(kind.label)", "items": "\(step.items)", "late": "\(step.late)", "rows": "\(step.rows.values.reduce(0, +))",
                "lookups": "\(step.hashed ? "hashed" : "per_key")", "indexes_rebuilt": "\(step.rebuiltIndexesOf ?? "none")",
                "into_empty": "\(step.intoEmpty ?? "none")",
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
        // The queue's kinds as SQL numbers them must be this binary's (checked once; a
        // database that is not up yet is waited for).
        while !Task.isShuttingDownGracefully {
            do {
                try await pool.withConnection { try QueueKind.verify(on: $0) }
                break
            } catch let error as QueueKind.Mismatch {
                logger.critical("join worker cannot start", metadata: ["error": "\(error)"])
                throw error
            } catch {
                logger.error("cannot reach the database to start the join worker; retrying", metadata: ["error": "\(error)"])
                await pause()
            }
        }
        // The lag reads the whole queue: at most once a second, not after every pass.
        var lagReadAt = clock.uptime - .seconds(1)
        while !Task.isShuttingDownGracefully {
            var worked = false
            do {
                let report = try await runPass()
                worked = report.totalItems > 0
                if clock.uptime - lagReadAt >= .seconds(1) {
                    metrics.lag(seconds: try await JoinStatus.read(from: pool).lagSeconds)
                    lagReadAt = clock.uptime
                }
            } catch {
                // The database may be restarting: the claimed items rolled back; retry later.
                metrics.error()
                logger.error("join pass failed; retrying", metadata: ["error": "\(error)"])
            }
            if !worked { await pause() }
        }
        logger.info("join worker stopped")
    }

    /// Waits one poll interval, or until graceful shutdown begins.
    private func pause() async {
        let clock = clock
        let interval = configuration.pollInterval
        try? await cancelWhenGracefulShutdown { try await clock.sleep(for: interval) }
    }
}

extension JoinWorker.PassReport {
    /// One line for people: items by kind, rows written by table, late and set-aside items.
    public var summary: String {
        let items = items.filter { $0.value > 0 }.map { "\($0.key.label)=\($0.value)" }.sorted().joined(separator: " ")
        let rows = rows.filter { $0.value > 0 }.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        var text = "items: \(items.isEmpty ? "none" : items); rows written: \(rows.isEmpty ? "none" : rows)"
        if totalLate > 0 { text += "; late (older than the horizon, not joined): \(totalLate)" }
        let setAside = setAside.values.reduce(0, +)
        if setAside > 0 { text += "; set aside (their keys fail to compute; see seam_meta.join_set_aside): \(setAside)" }
        let hashed = hashedClaims.filter { $0.value > 0 }.map { "\($0.key.label)=\($0.value)" }.sorted().joined(separator: " ")
        if !hashed.isEmpty { text += "; backlog claims read by hash joins: \(hashed)" }
        let rebuilds = indexRebuilds.filter { $0.value > 0 }.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        if !rebuilds.isEmpty { text += "; claims that rebuilt a table's indexes: \(rebuilds)" }
        let empty = intoEmpty.filter { $0.value > 0 }.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        if !empty.isEmpty { text += " (of which written straight into the empty table: \(empty))" }
        return text
    }
}
