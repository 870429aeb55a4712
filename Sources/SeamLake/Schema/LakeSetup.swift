import Foundation
import Logging
import SeamPostgres

/// Brings a database up to the current lake: migrations, roles, partitions.
public struct LakeSetup: Sendable {
    public struct Configuration: Sendable {
        /// Directory of `NNNN_name.sql` files.
        public var migrationsDirectory: URL
        /// Days of partitions created ahead of today.
        public var partitionDaysAhead: Int

        public init(migrationsDirectory: URL, partitionDaysAhead: Int = 7) {
            self.migrationsDirectory = migrationsDirectory
            self.partitionDaysAhead = partitionDaysAhead
        }
    }

    /// What a setup run did.
    public struct Report: Sendable {
        public var migrations: Migrator.Report
        public var roles: LakeRoles.Report
        public var partitionsCreated: Int
        /// The database is a read-only replica (a hot standby): nothing was set up; its lake
        /// was checked to be current (`checkReplica`).
        public var readOnlyReplica = false
    }

    public let configuration: Configuration
    private let logger: Logger

    public init(configuration: Configuration, logger: Logger = Logger(label: "seam.lake")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Key of the session advisory lock that serializes set-up runs on one database: any
    /// number of nodes may start at once on a fresh database; they set it up one at a time
    /// (the first does the work, the others find it done).
    public static let advisoryLockKey: Int64 = 0x5EA4_0002

    /// Applies pending migrations, ensures roles and today's and upcoming partitions.
    ///
    /// Serialized across processes by `advisoryLockKey`. A failure that concurrency alone
    /// can cause (deadlock, serialization failure, a catalog tuple updated concurrently, a
    /// duplicate created by a process that does not take the lock, such as an older
    /// version) is retried a few times.
    public func run(on pool: PostgresPool) async throws -> Report {
        let migrations = try Migration.load(from: configuration.migrationsDirectory)
        if try await pool.query("SELECT pg_is_in_recovery()").scalar(Bool.self) {
            return try await Self.checkReplica(pool, migrations: migrations)
        }
        let migrator = Migrator(migrations: migrations, logger: logger)
        let configuration = configuration
        let logger = logger
        var attempt = 1
        while true {
            do {
                return try await pool.withConnection { connection in
                    try connection.execute("SELECT pg_advisory_lock($1)", [.int64(Self.advisoryLockKey)])
                    defer {
                        if connection.isConnected {
                            _ = try? connection.execute("SELECT pg_advisory_unlock($1)", [.int64(Self.advisoryLockKey)])
                        }
                    }
                    let applied = try migrator.run(on: connection)
                    let roles = try LakeRoles.ensure(on: connection, logger: logger)
                    let created = try LakePartitions.ensure(on: connection, daysAhead: configuration.partitionDaysAhead)
                    return Report(migrations: applied, roles: roles, partitionsCreated: created)
                }
            } catch let error as PostgresError where attempt < 5 && Self.isConcurrencyFailure(error) {
                logger.notice("lake set-up met a concurrent set-up; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                attempt += 1
                try await Task.sleep(for: .milliseconds(100 * attempt))
            }
        }
    }

    /// A read-only replica cannot be set up: the processes on the primary do that, and the
    /// replica follows. It is usable (by the read API and the console) once it has every
    /// migration this build knows; otherwise the error says which are missing.
    static func checkReplica(_ pool: PostgresPool, migrations: [Migration]) async throws -> Report {
        var applied = Set<Int>()
        if try await pool.query("SELECT to_regclass('seam_meta.schema_migrations') IS NOT NULL").scalar(Bool.self) {
            applied = Set(try await pool.query("SELECT version FROM seam_meta.schema_migrations").rows.map { try $0[0].decode(Int.self) })
        }
        let missing = migrations.filter { !applied.contains($0.version) }.map(\.fileName)
        guard missing.isEmpty else {
            throw PostgresError(
                code: .migration,
                message: "the database is a read-only replica and lacks migrations \(missing.joined(separator: ", ")); start a Seam process against the primary first, so that the replica receives them")
        }
        return Report(migrations: .init(applied: [], alreadyApplied: applied.sorted()), roles: .init(), partitionsCreated: 0, readOnlyReplica: true)
    }

    static func isConcurrencyFailure(_ error: PostgresError) -> Bool {
        guard error.code == .server, let state = error.sqlState else { return false }
        return state == "40P01" || state == "40001" || state == "23505" || state == "42P07" || state == "42710"
            || (state == "XX000" && error.message.contains("concurrently"))
    }
}
