import SeamPostgres

/// Carries changes to the tag events that depend on them: a trace's facts to the events
/// naming it (first in the trace stage's own transaction, `propagateTraces`; then as
/// `traceChanged` items for the buckets another worker held), a unit's new exposures to its
/// events' variants (`unitChanged` items).
///
/// **In place where it can.** It first takes every bucket lock of the event stage
/// that no other worker holds (`QueueClaim.lockFreeBuckets`). No other transaction
/// computes the events of those buckets until this one commits, and the statements that
/// follow the locking see every event fact committed before it. For the events of those
/// buckets it rewrites only what the change touched, in `lake.event_facts` itself: the
/// trace columns, or the variants. When a trace's session would resolve an event's session
/// differently (which can renumber its visitor's derived sessions) the event is queued for
/// a full recomputation instead. Events not yet in `lake.event_facts` need nothing: their
/// own queue items are claimed after this transaction (which holds their buckets until it
/// commits) and see the change.
///
/// **Queued where it cannot.** Buckets another worker holds are being computed right now,
/// perhaps from the state before the change. Their events are looked up in the raw
/// `lake.tag_events` and queued: this runs in a transaction of its own, after the trace or
/// exposure change committed, so an event whose raw row is visible here is queued again,
/// and an event whose raw row commits later has its own queue item, claimed after the
/// change was visible. Either way no event keeps facts older than the change.
enum PropagationStage {
    /// The queue bucket of a tag event or event fact `a` (the trigger's: by visitor).
    static func eventBucket(_ a: String) -> String {
        "seam_meta.join_bucket(coalesce(\(a).anonymous_id, \(a).user_id, \(a).event_id::text))"
    }

    /// Propagates the claimed items; returns the event facts rewritten in place.
    static func run(kind: QueueKind, horizon: Duration, on c: PostgresConnection) throws -> Int {
        let held = try QueueClaim.lockFreeBuckets(of: .event, on: c)
        switch kind {
        case .traceChanged:
            let updated = try updateTraceFacts(
                traces: "SELECT trace_id, bool_or(forced) AS forced FROM join_claim GROUP BY trace_id", buckets: held.buckets,
                horizon: horizon, on: c)
            if !held.all { try queueTraceEvents(outside: held.buckets, on: c) }
            return updated
        case .unitChanged:
            let updated = try updateVariants(buckets: held.buckets, horizon: horizon, on: c)
            if !held.all { try queueUnitEvents(outside: held.buckets, horizon: horizon, on: c) }
            return updated
        default:
            preconditionFailure("not a propagation kind: \(kind)")
        }
    }

    /// For the trace stage, in its transaction: carries the changed traces that `traces`
    /// selects (`trace_id`, `at`, `forced`) to the event facts of every event bucket no
    /// other worker holds, in place. When another worker holds some, the traces are also
    /// queued as `traceChanged` items: the events of those buckets are looked for by the
    /// propagation stage in a later transaction, after this change committed (see above for
    /// why that order matters). Returns the event facts rewritten.
    static func propagateTraces(_ traces: String, horizon: Duration, on c: PostgresConnection) throws -> Int {
        let held = try QueueClaim.lockFreeBuckets(of: .event, on: c)
        let updated = try updateTraceFacts(traces: traces, buckets: held.buckets, horizon: horizon, on: c)
        if !held.all {
            try c.execute(
                """
                INSERT INTO seam_meta.join_queue (kind, bucket, trace_id, at, forced)
                SELECT seam_meta.join_kind('trace_changed'), seam_meta.join_bucket(trace_id), trace_id, at, forced
                FROM (\(unescaped: traces)) AS t
                """)
        }
        return updated
    }

    /// Event facts of the held buckets naming a trace that `traces` selects (`trace_id`,
    /// `forced`): trace columns rewritten in place, or the event queued when its session
    /// resolution changes (or it is older than the horizon: the claim reports it). Their
    /// sessions are queued, since a session also reads the times of the traces its events name.
    private static func updateTraceFacts(traces: String, buckets: [Int32], horizon: Duration, on c: PostgresConnection) throws -> Int {
        try c.pipeline([
            """
            CREATE TEMP TABLE IF NOT EXISTS join_dependents (
                event_id uuid PRIMARY KEY, bucket integer, visitor text, session_id text, at timestamptz,
                forced boolean, recompute boolean, trace_known boolean, trace_root_service text, trace_root_route text,
                trace_duration_ms double precision, trace_span_count integer, trace_error boolean
            ) ON COMMIT DELETE ROWS
            """,
            """
            INSERT INTO join_dependents
            SELECT f.event_id, \(unescaped: eventBucket("f")), coalesce(f.anonymous_id, f.user_id), f.session_id, f.occurred_at, c.forced,
                   CASE f.session_source WHEN 'client' THEN false
                                         WHEN 'trace' THEN f.session_id IS DISTINCT FROM t.session_id
                                         ELSE t.session_id IS NOT NULL END
                   OR (NOT c.forced AND f.occurred_at < now() - \(horizon)),
                   \(unescaped: EventStage.traceFacts("t"))
            FROM (\(unescaped: traces)) AS c
            CROSS JOIN LATERAL (
                SELECT event_id, anonymous_id, user_id, session_id, session_source, occurred_at
                FROM lake.event_facts f WHERE f.trace_id = c.trace_id OFFSET 0
            ) AS f
            LEFT JOIN LATERAL (SELECT * FROM lake.traces t WHERE t.trace_id = c.trace_id OFFSET 0) AS t ON true
            WHERE \(unescaped: eventBucket("f")) = ANY(\(buckets))
            ON CONFLICT (event_id) DO NOTHING
            """,
            "ANALYZE join_dependents (event_id, session_id)",
            """
            INSERT INTO seam_meta.join_queue (kind, bucket, event_id, key1, at, forced)
            SELECT seam_meta.join_kind('event'), bucket, event_id, visitor, at, forced FROM join_dependents WHERE recompute
            UNION ALL
            SELECT seam_meta.join_kind('session'), seam_meta.join_bucket(session_id), NULL, session_id, min(at), bool_or(forced)
            FROM join_dependents WHERE NOT recompute AND session_id IS NOT NULL GROUP BY session_id
            """,
            // `= ANY(ARRAY(…))` reaches the rows through the primary key: joined to the
            // temporary table alone, the planner hashes it and reads the whole table.
            """
            WITH updated AS (
                UPDATE lake.event_facts f
                SET \(unescaped: EventStage.traceColumns.map { "\($0) = d.\($0)" }.joined(separator: ", ")), updated_at = clock_timestamp()
                FROM join_dependents d
                WHERE f.event_id = d.event_id AND NOT d.recompute
                  AND f.event_id = ANY(ARRAY(SELECT event_id FROM join_dependents WHERE NOT recompute))
                  AND \(unescaped: RowDiff.differs(EventStage.traceColumns, "f", "d"))
                RETURNING 1
            )
            SELECT count(*) FROM updated
            """,
        ]).last?.scalar(Int.self) ?? 0
    }

    /// Event facts of the held buckets whose unit (user, anonymous or client session id)
    /// has changed exposures: variants recomputed and rewritten in place where they differ.
    /// Only events at or after the change can see it; events older than the horizon are not
    /// rejoined unless the change was forced (`seam join rebuild`).
    private static func updateVariants(buckets: [Int32], horizon: Duration, on c: PostgresConnection) throws -> Int {
        try c.pipeline([
            """
            CREATE TEMP TABLE IF NOT EXISTS join_unit_events (
                event_id uuid PRIMARY KEY, occurred_at timestamptz, user_id text, anonymous_id text, session_id text
            ) ON COMMIT DELETE ROWS
            """,
            "CREATE TEMP TABLE IF NOT EXISTS join_unit_variants (event_id uuid PRIMARY KEY, variants jsonb) ON COMMIT DELETE ROWS",
            """
            INSERT INTO join_unit_events
            SELECT f.event_id, f.occurred_at, f.user_id, f.anonymous_id, CASE WHEN f.session_source = 'client' THEN f.session_id END
            FROM (\(unitsSince(horizon: horizon))) AS c
            CROSS JOIN LATERAL (
                SELECT event_id, occurred_at, user_id, anonymous_id, session_id, session_source FROM lake.event_facts f
                WHERE f.user_id = c.unit_id AND f.occurred_at >= c.since
                UNION ALL
                SELECT event_id, occurred_at, user_id, anonymous_id, session_id, session_source FROM lake.event_facts f
                WHERE f.anonymous_id = c.unit_id AND f.occurred_at >= c.since
                UNION ALL
                SELECT event_id, occurred_at, user_id, anonymous_id, session_id, session_source FROM lake.event_facts f
                WHERE f.session_id = c.unit_id AND f.session_source = 'client' AND f.occurred_at >= c.since
            ) AS f
            WHERE \(unescaped: eventBucket("f")) = ANY(\(buckets))
            ON CONFLICT (event_id) DO NOTHING
            """,
            "ANALYZE join_unit_events (event_id, user_id, anonymous_id, session_id)",
            """
            WITH \(unescaped: EventStage.variants(events: "join_unit_events", lookups: true))
            INSERT INTO join_unit_variants SELECT event_id, variants FROM variants
            """,
            """
            WITH updated AS (
                UPDATE lake.event_facts f SET variants = coalesce(v.variants, '{}'::jsonb), updated_at = clock_timestamp()
                FROM join_unit_events e LEFT JOIN join_unit_variants v ON v.event_id = e.event_id
                WHERE f.event_id = e.event_id AND f.event_id = ANY(ARRAY(SELECT event_id FROM join_unit_events))
                  AND f.variants IS DISTINCT FROM coalesce(v.variants, '{}'::jsonb)
                RETURNING 1
            )
            SELECT count(*) FROM updated
            """,
        ]).last?.scalar(Int.self) ?? 0
    }

    /// The claimed units and the time from which their events can see the change.
    private static func unitsSince(horizon: Duration) -> SQLQuery {
        """
        SELECT key1 AS unit_id,
               CASE WHEN bool_or(forced) THEN min(at) ELSE greatest(min(at), now() - \(horizon)) END AS since,
               bool_or(forced) AS forced
        FROM join_claim GROUP BY key1
        """
    }

    /// Queues the tag events naming a changed trace whose buckets another worker holds.
    /// They are looked for in `lake.tag_events` within 48 hours of the trace's span time:
    /// the trace's own window plus as much again for pages read long after rendering.
    private static func queueTraceEvents(outside buckets: [Int32], on c: PostgresConnection) throws {
        try c.execute(
            """
            INSERT INTO seam_meta.join_queue (kind, bucket, event_id, key1, at, forced)
            SELECT seam_meta.join_kind('event'), \(unescaped: eventBucket("e")), e.event_id, coalesce(e.anonymous_id, e.user_id),
                   e.occurred_at, c.forced
            FROM (SELECT trace_id, min(at) AS at, bool_or(forced) AS forced FROM join_claim GROUP BY trace_id) AS c
            CROSS JOIN LATERAL (
                SELECT event_id, anonymous_id, user_id, occurred_at FROM lake.tag_events e
                WHERE e.trace_id = c.trace_id
                  AND e.occurred_at BETWEEN c.at - interval '48 hours' AND c.at + interval '48 hours'
                OFFSET 0
            ) AS e
            WHERE NOT \(unescaped: eventBucket("e")) = ANY(\(buckets))
            """)
    }

    /// Queues the tag events of a unit with changed exposures whose buckets another worker holds.
    private static func queueUnitEvents(outside buckets: [Int32], horizon: Duration, on c: PostgresConnection) throws {
        try c.execute(
            """
            INSERT INTO seam_meta.join_queue (kind, bucket, event_id, key1, at, forced)
            SELECT seam_meta.join_kind('event'), \(unescaped: eventBucket("e")), e.event_id, coalesce(e.anonymous_id, e.user_id),
                   e.occurred_at, c.forced
            FROM (\(unitsSince(horizon: horizon))) AS c
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
            WHERE NOT \(unescaped: eventBucket("e")) = ANY(\(buckets))
            """)
    }
}
