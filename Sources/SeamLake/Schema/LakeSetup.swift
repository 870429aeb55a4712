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
    }

    public let configuration: Configuration
    private let logger: Logger

    public init(configuration: Configuration, logger: Logger = Logger(label: "seam.lake")) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Applies pending migrations, ensures roles and today's and upcoming partitions.
    public func run(on pool: PostgresPool) async throws -> Report {
        let migrations = try Migration.load(from: configuration.migrationsDirectory)
        let migrator = Migrator(migrations: migrations, logger: logger)
        let configuration = configuration
        let logger = logger
        return try await pool.withConnection { connection in
            let applied = try migrator.run(on: connection)
            let roles = try LakeRoles.ensure(on: connection, logger: logger)
            let created = try LakePartitions.ensure(on: connection, daysAhead: configuration.partitionDaysAhead)
            return Report(migrations: applied, roles: roles, partitionsCreated: created)
        }
    }
}
