import Foundation
import Logging
import SeamClock
import SeamMetrics
import SeamPostgres
import SeamSpool
import ServiceLifecycle
import Synchronization

/// Drains the spool into the lake: reads frames from its recorded progress, stores them
/// and the new progress in one transaction, then releases the spool segments it has
/// stored. When PostgreSQL is unavailable it waits and retries; nothing is skipped.
public final class SpoolLoader: Service, Sendable {
    public struct Configuration: Sendable {
        /// Pause between polls when the spool has nothing new.
        public var pollInterval: Duration
        /// Payload bytes per transaction, about.
        public var batchBytes: Int
        /// Pause before retrying after a database error.
        public var retryDelay: Duration
        /// At shutdown, how long the loader keeps draining before it stops.
        public var drainTimeout: Duration
        /// Failures at the same spool position, not caused by a database outage, after which
        /// the batch is stored frame by frame and a frame that still fails goes to
        /// `lake.rejected` with the error (a poison frame must not stop the spool).
        public var poisonAttempts: Int

        public init(
            pollInterval: Duration = .milliseconds(20), batchBytes: Int = 8 << 20, retryDelay: Duration = .seconds(1),
            drainTimeout: Duration = .seconds(10), poisonAttempts: Int = 3
        ) {
            self.pollInterval = pollInterval
            self.batchBytes = batchBytes
            self.retryDelay = retryDelay
            self.drainTimeout = drainTimeout
            self.poisonAttempts = poisonAttempts
        }
    }

    /// Running totals since start.
    public struct Totals: Sendable, Equatable {
        public var batches = 0
        public var spansStored = 0
        public var spanDuplicates = 0
        public var logsStored = 0
        public var logDuplicates = 0
        public var tagEventsStored = 0
        public var tagEventDuplicates = 0
        public var rejected = 0
        public var errors = 0
        /// Frames sent to `lake.rejected` because storing them failed repeatedly.
        public var quarantined = 0
    }

    private let spool: Spool
    private let pool: PostgresPool
    private let configuration: Configuration
    private let writer: LakeWriter
    private let logger: Logger
    private let position = Mutex<SpoolPosition?>(nil)
    private let aheadState = Mutex<Ahead?>(nil)
    private let preparer = BlockingThread(name: "seam-loader-decode")
    private let totalsState = Mutex(Totals())
    /// Consecutive failures (not outages) of the batch starting at a position.
    private let failuresState = Mutex<(position: SpoolPosition, count: Int)?>(nil)

    private let metrics: LoaderMetrics
    /// What the loader waits on between polls and retries, and times its drain with.
    private let clock: any ServiceClock

    /// `pool` should be the loader's own (one connection): loading is sequential by design.
    public init(
        spool: Spool, pool: PostgresPool, configuration: Configuration = .init(), metrics: LoaderMetrics = .global,
        clock: any ServiceClock = SystemClock(), logger: Logger = Logger(label: "seam.loader")
    ) {
        self.clock = clock
        self.metrics = metrics
        self.spool = spool
        self.pool = pool
        self.configuration = configuration
        self.writer = LakeWriter(spoolID: spool.id, logger: logger)
        self.logger = logger
    }

    deinit { preparer.shutdown() }

    public var totals: Totals { totalsState.withLock { $0 } }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let moved = await step()
            if !moved {
                let (clock, interval) = (clock, configuration.pollInterval)
                try? await cancelWhenGracefulShutdown { try await clock.sleep(for: interval) }
            }
        }
        // Shutdown: keep draining what the server acknowledged, for a bounded time.
        let deadline = clock.uptime + configuration.drainTimeout
        while clock.uptime < deadline && !Task.isCancelled {
            if !(await step()) { break }
        }
        if spool.durableEnd > (position.withLock { $0 } ?? spool.start) {
            logger.notice("loader stopped with spooled records left; they load on the next start")
        }
        preparer.shutdown()
    }

    /// Loads one batch; true when it stored something (or should be called again at once).
    @discardableResult
    public func step() async -> Bool {
        do {
            let moved = try await loadBatch()
            failuresState.withLock { $0 = nil }
            return moved
        } catch {
            totalsState.withLock { $0.errors += 1 }
            metrics.loaderError()
            if !error.isDatabaseOutage, let start = position.withLock({ $0 }) {
                let count = failuresState.withLock { state -> Int in
                    let count = state?.position == start ? state!.count + 1 : 1
                    state = (start, count)
                    return count
                }
                if count >= configuration.poisonAttempts {
                    logger.error(
                        "storing the same spool batch failed \(count) times; storing it frame by frame and quarantining what fails",
                        metadata: ["error": "\(error)", "position": "\(start)"])
                    do {
                        try await quarantine(from: start)
                        failuresState.withLock { $0 = nil }
                        return true
                    } catch {
                        logger.error("quarantining failed; retrying", metadata: ["error": "\(error)"])
                    }
                }
            }
            logger.error("loading the spool failed; retrying", metadata: ["error": "\(error)"])
            try? await clock.sleep(for: configuration.retryDelay)
            return false
        }
    }

    /// Stores the batch at `start` one frame at a time; a frame whose storing fails for a
    /// reason other than a database outage goes to `lake.rejected` with the error, in the
    /// same transaction as the progress past it. An outage stops this (and is retried).
    func quarantine(from start: SpoolPosition) async throws {
        let spool = spool
        let writer = writer
        let batchBytes = configuration.batchBytes
        aheadState.withLock { $0 = nil }
        let (entries, end) = try await preparer.run { try spool.read(from: start, maximumBytes: batchBytes) }
        for (index, entry) in entries.enumerated() {
            let next = index + 1 < entries.count ? entries[index + 1].position : end
            let prepared = writer.prepare([entry], next: next)
            do {
                _ = try await pool.withConnection { try writer.write(prepared, on: $0) }
            } catch where !error.isDatabaseOutage {
                _ = try await pool.withConnection { try writer.write(writer.quarantined(entry, next: next, error: error), on: $0) }
                totalsState.withLock { $0.quarantined += 1 }
                metrics.rejected(reason: "quarantined", 1)
            }
            position.withLock { $0 = next }
            try spool.release(before: next)
        }
    }

    /// Loads until the spool is caught up (for tests and tools); returns the batches loaded.
    public func drain() async throws -> Int {
        var batches = 0
        while try await loadBatch() { batches += 1 }
        return batches
    }

    /// A batch being decoded ahead, starting at `from`.
    private struct Ahead: Sendable {
        var from: SpoolPosition
        var task: Task<LakeWriter.Prepared, Error>
    }

    private func prepare(from: SpoolPosition) -> Task<LakeWriter.Prepared, Error> {
        let spool = spool
        let writer = writer
        let batchBytes = configuration.batchBytes
        let thread = preparer
        return Task {
            try await thread.run {
                let (entries, next) = try spool.read(from: from, maximumBytes: batchBytes)
                return writer.prepare(entries, next: next)
            }
        }
    }

    private func loadBatch() async throws -> Bool {
        let writer = writer
        var from = position.withLock { $0 }
        if from == nil {
            from = try await pool.withConnection { try writer.progress(on: $0) } ?? spool.start
            position.withLock { $0 = from }
        }
        let start = from!
        // Decoding runs on its own thread, one batch ahead of the database: while batch k is
        // stored, batch k+1 is read from the spool and decoded.
        let ahead = aheadState.withLock { state -> Ahead? in
            defer { state = nil }
            return state
        }
        let task = ahead?.from == start ? ahead!.task : prepare(from: start)
        let prepared = try await task.value
        metrics.spool(
            unloadedBytes: spool.unreleasedBytes,
            oldestAgeSeconds: prepared.oldestAppendedAt.map { max(0, clock.now().timeIntervalSince($0)) } ?? 0)
        guard !prepared.entries.isEmpty else { return false }
        let following = Ahead(from: prepared.next, task: prepare(from: prepared.next))
        aheadState.withLock { $0 = following }

        let started = ContinuousClock.now
        let outcome = try await pool.withConnection { try writer.write(prepared, on: $0) }
        position.withLock { $0 = prepared.next }
        try spool.release(before: prepared.next)
        metrics.batch(seconds: (ContinuousClock.now - started).seconds)
        metrics.loaded(table: "spans", stored: outcome.spansStored, duplicates: outcome.spansReceived - outcome.spansStored)
        metrics.loaded(table: "logs", stored: outcome.logsStored, duplicates: outcome.logsReceived - outcome.logsStored)
        metrics.loaded(table: "tag_events", stored: outcome.tagEventsStored, duplicates: outcome.tagEventDuplicates)
        metrics.rejected(reason: "database", outcome.rejected)
        totalsState.withLock { totals in
            totals.batches += 1
            totals.spansStored += outcome.spansStored
            totals.spanDuplicates += outcome.spansReceived - outcome.spansStored
            totals.logsStored += outcome.logsStored
            totals.logDuplicates += outcome.logsReceived - outcome.logsStored
            totals.tagEventsStored += outcome.tagEventsStored
            totals.tagEventDuplicates += outcome.tagEventDuplicates
            totals.rejected += outcome.rejected
        }
        return true
    }
}
