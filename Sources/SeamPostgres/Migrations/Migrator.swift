import Logging

/// Applies versioned migrations to a database, once each, in order.
///
/// - Each migration runs in its own transaction together with its entry in
///   `seam_meta.schema_migrations`, so it is applied entirely or not at all.
/// - Each entry keeps the SHA-256 of the file; a file changed or removed after it was
///   applied stops the run with a message saying which and what to do.
/// - A session advisory lock serializes concurrent runs (several `seam migrate` or
///   `seam serve` starting together): the second waits, then finds nothing left to do.
///
/// Migration files must not contain `BEGIN`/`COMMIT`: the migrator owns the transaction.
public struct Migrator: Sendable {
    public struct Configuration: Sendable {
        /// Key of the advisory lock that serializes migration runs on one database.
        public var advisoryLockKey: Int64
        public init(advisoryLockKey: Int64 = 0x5EA4_0001) {
            self.advisoryLockKey = advisoryLockKey
        }
    }

    /// What a run did.
    public struct Report: Sendable, Equatable {
        /// Versions applied by this run, in order.
        public var applied: [Int]
        /// Versions that were already applied before this run.
        public var alreadyApplied: [Int]

        public init(applied: [Int], alreadyApplied: [Int]) {
            self.applied = applied
            self.alreadyApplied = alreadyApplied
        }
    }

    public let migrations: [Migration]
    public let configuration: Configuration
    private let logger: Logger

    public init(migrations: [Migration], configuration: Configuration = .init(), logger: Logger = Logger(label: "seam.migrate")) {
        self.migrations = migrations.sorted { $0.version < $1.version }
        self.configuration = configuration
        self.logger = logger
    }

    /// Applies every pending migration using one connection of `pool`.
    public func run(on pool: PostgresPool) async throws -> Report {
        try await pool.withConnection { try self.run(on: $0) }
    }

    /// Applies every pending migration on `connection` (blocking).
    public func run(on connection: PostgresConnection) throws -> Report {
        try connection.execute("SELECT pg_advisory_lock($1)", [.int64(configuration.advisoryLockKey)])
        defer {
            if connection.isConnected {
                _ = try? connection.execute("SELECT pg_advisory_unlock($1)", [.int64(configuration.advisoryLockKey)])
            }
        }
        try connection.executeScript(
            """
            CREATE SCHEMA IF NOT EXISTS seam_meta;
            CREATE TABLE IF NOT EXISTS seam_meta.schema_migrations (
                version     integer PRIMARY KEY,
                name        text NOT NULL,
                checksum    text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now(),
                duration_ms double precision NOT NULL
            );
            COMMENT ON TABLE seam_meta.schema_migrations IS 'Migrations applied to this database by seam migrate: one row per migrations/NNNN_name.sql file.';
            """)

        let checksums = try checksums(on: connection)
        let history = try connection.query("SELECT version, name, checksum FROM seam_meta.schema_migrations ORDER BY version")
        var applied = Set<Int>()
        for row in history.rows {
            let version: Int = try row[0].decode()
            let name: String = try row[1].decode()
            let recorded: String = try row[2].decode()
            guard let index = migrations.firstIndex(where: { $0.version == version }) else {
                let file = String(format: "%04d_%@.sql", version, name)
                throw PostgresError(
                    code: .migration,
                    message: "migration \(file) is applied to this database but its file is missing from the migrations directory. Released migrations are never deleted: restore the file, or run a Seam build that has it.")
            }
            guard checksums[index] == recorded else {
                throw PostgresError(
                    code: .migration,
                    message: "migration \(migrations[index].fileName) changed after it was applied (recorded sha256 \(recorded.prefix(12))…, file has \(checksums[index].prefix(12))…). Released migrations are never edited: restore the original text and put the change in a new migration.")
            }
            applied.insert(version)
        }

        var report = Report(applied: [], alreadyApplied: applied.sorted())
        for (index, migration) in migrations.enumerated() where !applied.contains(migration.version) {
            let started = ContinuousClock.now
            do {
                try connection.transaction { connection in
                    try connection.executeScript(SQLQuery(migration.sql))
                    let elapsed = ContinuousClock.now - started
                    let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
                    try connection.execute(
                        "INSERT INTO seam_meta.schema_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)",
                        [.int64(Int64(migration.version)), .text(migration.name), .text(checksums[index]), .float64(milliseconds)])
                }
            } catch var error as PostgresError {
                error.message = "migration \(migration.fileName) failed: \(error.message)"
                throw error
            }
            logger.info("applied migration", metadata: ["migration": "\(migration.fileName)"])
            report.applied.append(migration.version)
        }
        return report
    }

    /// SHA-256 of each file's text, computed by the server (no crypto dependency needed).
    private func checksums(on connection: PostgresConnection) throws -> [String] {
        try migrations.map { migration in
            try connection.query("SELECT encode(sha256($1), 'hex')", [.bytea(Array(migration.sql.utf8))]).scalar()
        }
    }
}
