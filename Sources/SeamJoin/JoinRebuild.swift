import Foundation
import SeamPostgres

/// `seam join rebuild --from … --to …`: queues every key with raw or derived data in a
/// time range as forced work (processed whatever its age), for a worker to recompute.
///
/// Keys come from the raw tables (so late data older than the horizon is joined) and from
/// the derived tables (so derived rows whose raw rows are gone are removed).
public enum JoinRebuild {
    /// Items queued, by kind.
    public static func enqueue(from: Date, to: Date, on c: PostgresConnection) throws -> [QueueKind: Int] {
        guard from < to else {
            throw JoinError(code: .emptyRange, message: "rebuild range is empty: --from must be before --to")
        }
        let range: [PostgresValue] = [.timestamptz(from), .timestamptz(to)]
        var counts: [QueueKind: Int] = [:]
        // Keys set aside because they failed to compute are retried, whatever their time.
        for row in try c.query(
            """
            WITH back AS (DELETE FROM seam_meta.join_set_aside RETURNING *),
            queued AS (
                INSERT INTO seam_meta.join_queue (kind, bucket, trace_id, event_id, key1, key2, at, forced)
                SELECT kind, seam_meta.join_bucket(kind, trace_id, event_id, key1, key2), trace_id, event_id, key1, key2, at, true
                FROM back
                RETURNING kind
            )
            SELECT kind, count(*) FROM queued GROUP BY kind
            """
        ).rows {
            if let kind = QueueKind(rawValue: try row[0].decode(Int16.self)) { counts[kind, default: 0] += try row[1].decode(Int.self) }
        }
        counts[.trace] = try c.execute(
            """
            INSERT INTO seam_meta.join_queue (kind, bucket, trace_id, at, forced)
            SELECT seam_meta.join_kind('trace'), seam_meta.join_bucket(trace_id), trace_id, min(at), true FROM (
                SELECT trace_id, start_time AS at FROM lake.spans WHERE start_time >= $1 AND start_time < $2
                UNION ALL
                SELECT trace_id, start_time FROM lake.traces WHERE start_time >= $1 AND start_time < $2
            ) AS k GROUP BY trace_id
            """, range)
        counts[.exposure] = try c.execute(
            """
            INSERT INTO seam_meta.join_queue (kind, bucket, key1, key2, at, forced)
            SELECT seam_meta.join_kind('exposure'), seam_meta.join_bucket(experiment_key, unit_id), experiment_key, unit_id, min(at), true FROM (
                SELECT flag_key AS experiment_key, coalesce(flag_context_id, user_id, session_id) AS unit_id, time AS at
                FROM lake.logs
                WHERE time >= $1 AND time < $2 AND flag_key IS NOT NULL AND flag_variant IS NOT NULL
                UNION ALL
                SELECT experiment_key, unit_id, first_exposed_at FROM lake.exposures
                WHERE first_exposed_at >= $1 AND first_exposed_at < $2
            ) AS k WHERE unit_id IS NOT NULL GROUP BY experiment_key, unit_id
            """, range)
        counts[.event] = try c.execute(
            """
            INSERT INTO seam_meta.join_queue (kind, bucket, event_id, key1, at, forced)
            SELECT seam_meta.join_kind('event'), seam_meta.join_bucket(coalesce(visitor, event_id::text)), event_id, visitor, at, true FROM (
                SELECT event_id, coalesce(anonymous_id, user_id) AS visitor, occurred_at AS at FROM lake.tag_events
                WHERE occurred_at >= $1 AND occurred_at < $2
                UNION
                SELECT event_id, coalesce(anonymous_id, user_id), occurred_at FROM lake.event_facts
                WHERE occurred_at >= $1 AND occurred_at < $2
            ) AS k
            """, range)
        counts[.session] = try c.execute(
            """
            INSERT INTO seam_meta.join_queue (kind, bucket, key1, at, forced)
            SELECT seam_meta.join_kind('session'), seam_meta.join_bucket(session_id), session_id, started_at, true FROM lake.sessions
            WHERE started_at >= $1 AND started_at < $2
            """, range)
        return counts
    }
}
