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

        public init(pendingSQL: [String] = []) { self.pendingSQL = pendingSQL }
    }

    /// The roles' names; `standard` everywhere but in tests.
    public struct Names: Sendable {
        public var reader: String
        public var writer: String
        public init(reader: String, writer: String) {
            self.reader = reader
            self.writer = writer
        }
        public static let standard = Names(reader: "lake_reader", writer: "lake_writer")
    }

    static func grants(_ names: Names) -> [(role: String, sql: SQLQuery)] {
        [
            (names.reader, "GRANT USAGE ON SCHEMA lake TO \(identifier: names.reader)"),
            (names.writer, "GRANT USAGE ON SCHEMA lake TO \(identifier: names.writer)"),
            (names.reader, "GRANT SELECT ON ALL TABLES IN SCHEMA lake TO \(identifier: names.reader)"),
            (names.writer, "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA lake TO \(identifier: names.writer)"),
            (names.reader, "ALTER DEFAULT PRIVILEGES IN SCHEMA lake GRANT SELECT ON TABLES TO \(identifier: names.reader)"),
            (names.writer, "ALTER DEFAULT PRIVILEGES IN SCHEMA lake GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO \(identifier: names.writer)"),
        ]
    }

    /// The loader, the join and the ETL coordinate with advisory locks; a login that could
    /// take them (an analyst as `lake_reader`) could stall all three. In Seam's database
    /// only Seam's own login and `lake_writer` may call the advisory lock functions.
    /// Revoking from PUBLIC needs a superuser; without one the SQL is reported like the roles.
    static func advisoryLockdown(_ names: Names) -> [SQLQuery] {
        [
            """
            DO $$
            DECLARE f regprocedure;
            BEGIN
                FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE n.nspname = 'pg_catalog' AND p.proname LIKE 'pg%advisory%' LOOP
                    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
                    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I, %I', f, current_user, \(unescaped: SQLQuery.literal(names.writer)));
                END LOOP;
            END $$
            """
        ]
    }

    /// Creates missing roles and grants their privileges; never throws for lack of privilege.
    public static func ensure(on connection: PostgresConnection, names: Names = .standard, logger: Logger) throws -> Report {
        var report = Report()
        var missingRoles: [String] = []
        for role in [names.reader, names.writer] {
            let exists = try connection.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [.text(role)]).rowCount > 0
            if exists { continue }
            let sql: SQLQuery = "CREATE ROLE \(identifier: role) NOLOGIN"
            do {
                try connection.executeScript(sql)
            } catch let error as PostgresError where error.sqlState == "42710" || error.isUniqueViolation {
                // Another database's Seam created it at the same moment.
            } catch let error as PostgresError where error.sqlState == "42501" {
                report.pendingSQL.append(sql.sql + ";")
                missingRoles.append(role)
            }
        }
        // The grants, then the advisory lockdown (which names lake_writer): each run, or
        // reported for an administrator when its role is missing or the login lacks privilege.
        let statements = grants(names) + advisoryLockdown(names).map { (names.writer, $0) }
        for (role, sql) in statements {
            if missingRoles.contains(role) {
                report.pendingSQL.append(sql.sql + ";")
                continue
            }
            do {
                try connection.executeScript(sql)
            } catch let error as PostgresError where error.sqlState == "42501" {
                report.pendingSQL.append(sql.sql + ";")
            }
        }
        if !report.isComplete {
            logger.warning(
                "Seam's database login may not create the lake roles; ask an administrator to run this SQL in the Seam database:\n\(report.pendingSQL.joined(separator: "\n"))")
        }
        return report
    }
}
