import AsyncAlgorithms
import Logging
import SeamModel
import SeamPostgres
import ServiceLifecycle

/// Keeps partitions ahead of time and applies retention, on start and then periodically.
public struct PartitionMaintenance: Service {
    public struct Configuration: Sendable {
        /// Days of partitions kept ready after today (UTC).
        public var daysAhead: Int
        /// Days of raw data kept; older daily partitions are dropped. 0 keeps everything.
        public var retentionDays: Int
        /// Time between maintenance passes.
        public var interval: Duration

        public init(daysAhead: Int = 7, retentionDays: Int = Retention.defaultDays, interval: Duration = .seconds(3600)) {
            self.daysAhead = daysAhead
            self.retentionDays = retentionDays
            self.interval = interval
        }
    }

    private let pool: PostgresPool
    private let configuration: Configuration
    private let logger: Logger

    public init(pool: PostgresPool, configuration: Configuration, logger: Logger = Logger(label: "seam.partitions")) {
        self.pool = pool
        self.configuration = configuration
        self.logger = logger
    }

    /// One pass: create what is missing, drop what expired.
    public func runOnce() async throws {
        let configuration = configuration
        let (created, dropped) = try await pool.withConnection { connection in
            let created = try LakePartitions.ensure(on: connection, daysAhead: configuration.daysAhead)
            let dropped = try LakePartitions.dropExpired(on: connection, retentionDays: configuration.retentionDays)
            return (created, dropped)
        }
        if created > 0 || !dropped.isEmpty {
            logger.info(
                "partition maintenance",
                metadata: ["created": "\(created)", "dropped": "\(dropped.joined(separator: ","))"])
        }
    }

    public func run() async throws {
        await runLoggingErrors()
        for await _ in AsyncTimerSequence(interval: configuration.interval, clock: .continuous).cancelOnGracefulShutdown() {
            await runLoggingErrors()
        }
    }

    private func runLoggingErrors() async {
        do {
            try await runOnce()
        } catch {
            // A failed pass (database restarting, say) is retried at the next interval.
            logger.error("partition maintenance failed", metadata: ["error": "\(error)"])
        }
    }
}
