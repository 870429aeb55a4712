import Logging
import SeamPostgres

/// The lake's database roles.
///
/// - `lake_reader`: SELECT on every lake table, now and future — for analysts and BI tools
///   (`GRANT lake_reader TO alice`).
/// - `lake_writer`: read and write on every lake table — for additional Seam ingestion
///   logins that do not own the schema.
///
/// Roles belong to the whole server, and creating them takes CREATEROLE, which Seam's login
/// may lack (managed databases). Then Seam carries on and logs the SQL for an administrator.
public enum LakeRoles {
    /// What `ensure` could not do itself.
    public struct Report: Sendable {
        /// Statements that failed for lack of privilege, to be run by an administrator.
        public var pendingSQL: [String] = []
        public var isComplete: Bool { pendingSQL.isEmpty }
    }

    static let roles = ["lake_reader", "lake_writer"]

    static let grants = [
        "GRANT USAGE ON SCHEMA lake TO lake_reader, lake_writer",
        "GRANT SELECT ON ALL TABLES IN SCHEMA lake TO lake_reader",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lake TO lake_writer",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA lake GRANT SELECT ON TABLES TO lake_reader",
        "ALTER DEFAULT PRIVILEGES IN SCHEMA lake GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO lake_writer",
    ]

    /// Creates missing roles and grants their privileges; never throws for lack of privilege.
    public static func ensure(on connection: PostgresConnection, logger: Logger) throws -> Report {
        var report = Report()
        var missingRoles: [String] = []
        for role in roles {
            let exists = try connection.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [.text(role)]).rowCount > 0
            if exists { continue }
            let sql = "CREATE ROLE \(role) NOLOGIN"
            do {
                try connection.executeScript(sql)
            } catch let error as PostgresError where error.sqlState == "42710" || error.isUniqueViolation {
                // Another database's Seam created it at the same moment.
            } catch let error as PostgresError where error.sqlState == "42501" {
                report.pendingSQL.append(sql + ";")
                missingRoles.append(role)
            }
        }
        for grant in grants {
            if missingRoles.contains(where: { grant.contains($0) }) {
                report.pendingSQL.append(grant + ";")
                continue
            }
            do {
                try connection.executeScript(grant)
            } catch let error as PostgresError where error.sqlState == "42501" {
                report.pendingSQL.append(grant + ";")
            }
        }
        if !report.isComplete {
            logger.warning(
                "Seam's database login may not create the lake roles; ask an administrator to run this SQL in the Seam database:\n\(report.pendingSQL.joined(separator: "\n"))")
        }
        return report
    }
}
