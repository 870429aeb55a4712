import Foundation
import SeamPostgres

/// Daily partitions of the lake tables: creation ahead of time and retention.
///
/// Thin wrappers over the SQL functions of migration 0002, which do the work inside the
/// database (so operators can call them from psql as well).
public enum LakePartitions {
    /// Creates the missing partitions from `today - daysBack` to `today + daysAhead` (UTC days)
    /// for every lake table; returns how many were created. `today` defaults to the server's date.
    @discardableResult
    public static func ensure(
        on connection: PostgresConnection, daysAhead: Int, daysBack: Int = 1, today: Date? = nil
    ) throws -> Int {
        let result = try connection.query(
            """
            SELECT lake.ensure_daily_partitions(d - $1::int, d + $2::int)
            FROM (SELECT coalesce($3::timestamptz, now()) AT TIME ZONE 'UTC') AS t(ts), LATERAL (SELECT ts::date) AS x(d)
            """,
            [.int32(Int32(daysBack)), .int32(Int32(daysAhead)), .timestamp(today)])
        return try result.scalar()
    }

    /// Creates the partitions of the given UTC days (days since 1970), one statement per day:
    /// a batch whose rows lie on a few far-apart days creates those days only, never every
    /// day between them (which could lock thousands of tables in one transaction).
    @discardableResult
    public static func ensure(on connection: PostgresConnection, days: Set<Int64>) throws -> Int {
        var created = 0
        for day in days.sorted() {
            let date = Date(timeIntervalSince1970: Double(day) * 86_400)
            created += try connection.query(
                "SELECT lake.ensure_daily_partitions(($1::timestamptz AT TIME ZONE 'UTC')::date, ($1::timestamptz AT TIME ZONE 'UTC')::date)",
                [.timestamptz(date)]
            ).scalar(Int.self)
        }
        return created
    }

    /// The UTC day (since 1970) of `micros` microseconds since 1970.
    public static func day(micros: Int64) -> Int64 { micros >= 0 ? micros / 86_400_000_000 : (micros + 1) / 86_400_000_000 - 1 }

    /// Creates the partitions covering `from...to` (for a loader about to insert rows there).
    @discardableResult
    public static func ensure(on connection: PostgresConnection, covering from: Date, _ to: Date) throws -> Int {
        try connection.query(
            "SELECT lake.ensure_daily_partitions(($1::timestamptz AT TIME ZONE 'UTC')::date, ($2::timestamptz AT TIME ZONE 'UTC')::date)",
            [.timestamptz(from), .timestamptz(to)]
        ).scalar()
    }

    /// Drops partitions whose day lies more than `retentionDays` before `today` (UTC) and
    /// returns their names. `retentionDays <= 0` keeps everything.
    public static func dropExpired(on connection: PostgresConnection, retentionDays: Int, today: Date? = nil) throws -> [String] {
        try connection.query(
            """
            SELECT name FROM lake.drop_expired_partitions(
                $1::int, (coalesce($2::timestamptz, now()) AT TIME ZONE 'UTC')::date) AS dropped(name)
            """,
            [.int32(Int32(retentionDays)), .timestamp(today)]
        ).rows.map { try $0[0].decode(String.self) }
    }

    /// Names of the existing partitions of `table` (e.g. `spans`), oldest first.
    public static func list(on connection: PostgresConnection, table: String) throws -> [String] {
        try connection.query(
            """
            SELECT c.relname FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_class p ON p.oid = i.inhparent
            JOIN pg_namespace n ON n.oid = p.relnamespace
            WHERE n.nspname = 'lake' AND p.relname = $1
            ORDER BY c.relname
            """, [.text(table)]
        ).rows.map { try $0[0].decode(String.self) }
    }
}
