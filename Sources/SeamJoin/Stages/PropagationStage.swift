import SeamPostgres

/// Expands `traceChanged` and `unitChanged` items into `event` items for the tag events
/// that depend on them.
///
/// This runs in a transaction of its own, after the trace or exposure change committed,
/// and looks the events up in the raw `lake.tag_events` table. That order is what makes
/// it safe with several workers: an event stage that read the trace or exposure before
/// the change committed had claimed its event after the event's raw row committed, so the
/// raw row is visible here and the event is queued again; an event whose raw row commits
/// later has its own queue item, claimed after the change was visible.
enum PropagationStage {
    /// Tag events naming a trace are looked for within this distance of the trace's span
    /// time: the trace's own window plus as much again for pages read long after rendering.
    static let eventWindow = "48 hours"

    static func run(kind: QueueKind, horizon: Duration, on c: PostgresConnection) throws -> Int {
        switch kind {
        case .traceChanged:
            return try c.execute(
                """
                INSERT INTO seam_meta.join_queue (kind, bucket, event_id, key1, at, forced)
                SELECT 3, hashtext(coalesce(e.anonymous_id, e.user_id, e.event_id::text)) & 15, e.event_id,
                       coalesce(e.anonymous_id, e.user_id), e.occurred_at, c.forced
                FROM (SELECT trace_id, min(at) AS at, bool_or(forced) AS forced FROM join_claim GROUP BY trace_id) AS c
                CROSS JOIN LATERAL (
                    SELECT event_id, anonymous_id, user_id, occurred_at FROM lake.tag_events e
                    WHERE e.trace_id = c.trace_id
                      AND e.occurred_at BETWEEN c.at - interval '\(eventWindow)' AND c.at + interval '\(eventWindow)'
                    OFFSET 0
                ) AS e
                """)
        case .unitChanged:
            // Only events at or after the first exposure can see it; events older than the
            // horizon are not rejoined unless the change was forced (seam join rebuild).
            return try c.execute(
                """
                INSERT INTO seam_meta.join_queue (kind, bucket, event_id, key1, at, forced)
                SELECT 3, hashtext(coalesce(e.anonymous_id, e.user_id, e.event_id::text)) & 15, e.event_id,
                       coalesce(e.anonymous_id, e.user_id), e.occurred_at, c.forced
                FROM (
                    SELECT key1 AS unit_id,
                           CASE WHEN bool_or(forced) THEN min(at) ELSE greatest(min(at), now() - $1::interval) END AS since,
                           bool_or(forced) AS forced
                    FROM join_claim GROUP BY key1
                ) AS c
                CROSS JOIN LATERAL (
                    SELECT event_id, anonymous_id, user_id, occurred_at FROM lake.tag_events e
                    WHERE e.user_id = c.unit_id AND e.occurred_at >= c.since
                    UNION
                    SELECT event_id, anonymous_id, user_id, occurred_at FROM lake.tag_events e
                    WHERE e.anonymous_id = c.unit_id AND e.occurred_at >= c.since
                    UNION
                    SELECT event_id, anonymous_id, user_id, occurred_at FROM lake.tag_events e
                    WHERE e.session_id = c.unit_id AND e.occurred_at >= c.since
                ) AS e
                """, [.text(horizon.intervalText)])
        default:
            preconditionFailure("not a propagation kind: \(kind)")
        }
    }
}
