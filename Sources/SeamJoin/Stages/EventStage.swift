import SeamPostgres

/// Recomputes `lake.event_facts` for the claimed tag events, together with every other
/// session-less event of the same visitor on the same UTC day (their derived sessions
/// depend on each other), then queues the sessions the events belonged to before and after.
///
/// Claims are bucketed by visitor (anonymous id, else user id), so one worker holds all
/// of a visitor's events at a time.
enum EventStage {
    static let columns = """
        event_id, name, occurred_at, received_at, session_id, session_source, anonymous_id, user_id, trace_id, page_url,
        page_path, properties, revenue, trace_known, trace_root_service, trace_root_route, trace_duration_ms,
        trace_span_count, trace_error, variants, updated_at
        """

    /// A query whose rows are `lake.event_facts` rows for the tag events `events` selects
    /// (`lake.tag_events` columns; with every session-less event of each visitor and UTC
    /// day it includes), joined to the traces and exposures tables named. `timeout` is the
    /// session timeout (a bound value).
    /// `lookups` joins the traces by index lookups, one per event, and the exposures one per
    /// unit: right for a batch against large tables, where a hash join would read the whole
    /// table every time.
    static func compute(
        events: String, traces: String = "lake.traces", exposures: String = "lake.exposures", lookups: Bool, timeout: Duration
    ) -> SQLQuery {
        """
        WITH base AS MATERIALIZED (
            SELECT e.event_id, e.name, e.occurred_at, e.received_at, e.session_id, e.anonymous_id, e.user_id, e.trace_id,
                   e.page_url, e.page_path, e.properties, coalesce(e.anonymous_id, e.user_id) AS visitor,
                   \(unescaped: traceFacts("t")), t.session_id AS trace_session
            FROM (\(unescaped: events)) AS e
            \(unescaped: lookups
                ? "LEFT JOIN LATERAL (SELECT * FROM \(traces) t WHERE t.trace_id = e.trace_id OFFSET 0) AS t ON true"
                : "LEFT JOIN \(traces) t ON t.trace_id = e.trace_id")
        ), starts AS (
            SELECT event_id, visitor, occurred_at, date_trunc('day', occurred_at, 'UTC') AS day,
                   CASE WHEN lag(occurred_at) OVER w IS NULL OR occurred_at - lag(occurred_at) OVER w > \(timeout)
                        THEN 1 ELSE 0 END AS starts
            FROM base
            WHERE session_id IS NULL AND trace_session IS NULL AND visitor IS NOT NULL
            WINDOW w AS (PARTITION BY visitor, date_trunc('day', occurred_at, 'UTC') ORDER BY occurred_at, event_id)
        ), numbered AS (
            SELECT event_id, visitor, occurred_at, day,
                   sum(starts) OVER (PARTITION BY visitor, day ORDER BY occurred_at, event_id) AS n
            FROM starts
        ), derived AS (
            SELECT event_id,
                   'derived:' || visitor || ':'
                   || to_char(min(occurred_at) OVER (PARTITION BY visitor, day, n) AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS.US')
                   AS session_id
            FROM numbered
        ), \(unescaped: variants(events: "base", exposures: exposures, lookups: lookups))
        SELECT b.event_id, b.name, b.occurred_at, b.received_at,
               coalesce(b.session_id, b.trace_session, d.session_id),
               CASE WHEN b.session_id IS NOT NULL THEN 'client'
                    WHEN b.trace_session IS NOT NULL THEN 'trace'
                    WHEN d.session_id IS NOT NULL THEN 'derived' END,
               b.anonymous_id, b.user_id, b.trace_id, b.page_url, b.page_path, b.properties,
               CASE WHEN b.name = 'purchase' THEN lake.event_revenue(b.properties) END,
               \(unescaped: traceColumns.map { "b.\($0)" }.joined(separator: ", ")),
               coalesce(v.variants, '{}'::jsonb), clock_timestamp()
        FROM base b
        LEFT JOIN derived d ON d.event_id = b.event_id
        LEFT JOIN variants v ON v.event_id = b.event_id
        """
    }

    /// The columns of an event fact that come from its trace.
    static let traceColumns = ["trace_known", "trace_root_service", "trace_root_route", "trace_duration_ms", "trace_span_count", "trace_error"]

    /// `traceColumns` from the trace `t` (false and NULLs when the trace has not arrived).
    static func traceFacts(_ t: String) -> String {
        """
        \(t).trace_id IS NOT NULL AS trace_known, \(t).root_service AS trace_root_service, \(t).root_route AS trace_root_route,
        \(t).duration_ms AS trace_duration_ms, \(t).span_count AS trace_span_count, \(t).error_count > 0 AS trace_error
        """
    }

    /// Common table expressions ending in `variants (event_id, variants)`: per event of the
    /// CTE `events` (with `event_id`, `occurred_at`, `user_id`, `anonymous_id` and the
    /// client's `session_id`), the variant of each experiment that any of its units was
    /// first exposed to at or before the event; events without one have no row.
    static func variants(events: String, exposures: String = "lake.exposures", lookups: Bool) -> String {
        """
        unit_exposures AS MATERIALIZED (
            -- The exposures of every unit the events name, looked up once per unit.
            SELECT x.unit_id, x.experiment_key, x.variant, x.first_exposed_at
            FROM (SELECT DISTINCT u.unit_id FROM \(events)
                  CROSS JOIN LATERAL (VALUES (user_id), (anonymous_id), (session_id)) AS u(unit_id)
                  WHERE u.unit_id IS NOT NULL) AS k
            \(lookups
                ? "CROSS JOIN LATERAL (SELECT * FROM \(exposures) x WHERE x.unit_id = k.unit_id OFFSET 0) AS x"
                : "JOIN \(exposures) x ON x.unit_id = k.unit_id")
        ), firsts AS (
            -- Per event and experiment, the first exposure of any of its units at or before it.
            SELECT DISTINCT ON (m.event_id, m.experiment_key) m.event_id, m.experiment_key, m.variant
            FROM (
                SELECT e.event_id, e.occurred_at, x.* FROM \(events) e JOIN unit_exposures x ON x.unit_id = e.user_id
                UNION ALL
                SELECT e.event_id, e.occurred_at, x.* FROM \(events) e JOIN unit_exposures x ON x.unit_id = e.anonymous_id
                UNION ALL
                SELECT e.event_id, e.occurred_at, x.* FROM \(events) e JOIN unit_exposures x ON x.unit_id = e.session_id
            ) AS m
            WHERE m.first_exposed_at <= m.occurred_at
            ORDER BY m.event_id, m.experiment_key, m.first_exposed_at, m.unit_id
        ), variants AS MATERIALIZED (
            -- Computed once: inlined, the planner may rescan the aggregate for every event.
            SELECT event_id, jsonb_object_agg(experiment_key, variant) AS variants FROM firsts GROUP BY event_id
        )
        """
    }

    static func run(sessionTimeout: Duration, on c: PostgresConnection) throws -> Int {
        let stored = RowDiff.names(columns)
        return try c.pipeline([
            "CREATE TEMP TABLE IF NOT EXISTS join_facts (LIKE lake.event_facts) ON COMMIT DELETE ROWS",
            // The claimed events, and for derived sessions every session-less event of their
            // visitors that day. Straight from the lookups into the computation: no
            // intermediate table (the estimates come from join_claim's statistics). An event id
            // is stored once (lake.tag_event_ids); DISTINCT ON keeps one row per id regardless.
            """
            INSERT INTO join_facts (\(unescaped: columns))
            \(compute(events: """
                WITH claimed AS MATERIALIZED (
                    SELECT e.* FROM (SELECT DISTINCT event_id, at FROM join_claim) AS c
                    CROSS JOIN LATERAL (
                        SELECT * FROM lake.tag_events e WHERE e.event_id = c.event_id AND e.occurred_at = c.at OFFSET 0
                    ) AS e
                ), siblings AS (
                    SELECT e.* FROM (
                        SELECT DISTINCT coalesce(anonymous_id, user_id) AS visitor, date_trunc('day', occurred_at, 'UTC') AS day
                        FROM claimed WHERE session_id IS NULL AND coalesce(anonymous_id, user_id) IS NOT NULL
                    ) AS g
                    CROSS JOIN LATERAL (
                        SELECT * FROM lake.tag_events e
                        WHERE coalesce(e.anonymous_id, e.user_id) = g.visitor AND e.session_id IS NULL
                          AND e.occurred_at >= g.day AND e.occurred_at < g.day + interval '24 hours'
                        OFFSET 0
                    ) AS e
                    WHERE NOT EXISTS (SELECT 1 FROM claimed c WHERE c.event_id = e.event_id)
                )
                SELECT DISTINCT ON (event_id) * FROM (SELECT * FROM claimed UNION ALL SELECT * FROM siblings) AS u
                ORDER BY event_id, occurred_at
                """, lookups: true, timeout: sessionTimeout))
            """,
            """
            CREATE TEMP TABLE IF NOT EXISTS join_changed_events (
                event_id uuid, old_session text, new_session text, at timestamptz, forced boolean, existed boolean
            ) ON COMMIT DELETE ROWS
            """,
            """
            INSERT INTO join_changed_events
            SELECT k.event_id, o.session_id, n.session_id, coalesce(n.occurred_at, o.occurred_at), k.forced, o.event_id IS NOT NULL
            -- Claimed events, and the others recomputed with them (forced when any claimed item was).
            FROM (SELECT event_id, bool_or(forced) AS forced
                  FROM (SELECT event_id, forced FROM join_claim
                        UNION ALL
                        SELECT f.event_id, coalesce((SELECT bool_or(forced) FROM join_claim), false) FROM join_facts f) AS u
                  GROUP BY event_id) AS k
            LEFT JOIN LATERAL (SELECT * FROM lake.event_facts o WHERE o.event_id = k.event_id OFFSET 0) AS o ON true
            LEFT JOIN join_facts n ON n.event_id = k.event_id
            WHERE \(unescaped: RowDiff.differs(stored, "o", "n"))
            """,
            "DELETE FROM lake.event_facts WHERE event_id = ANY(ARRAY(SELECT event_id FROM join_changed_events WHERE existed))",
            """
            INSERT INTO lake.event_facts (\(unescaped: columns))
            SELECT \(unescaped: RowDiff.prefixed(columns, "n"))
            FROM join_facts n JOIN join_changed_events c USING (event_id)
            """,
            """
            INSERT INTO seam_meta.join_queue (kind, bucket, key1, at, forced)
            SELECT seam_meta.join_kind('session'), seam_meta.join_bucket(s), s, min(at), bool_or(forced)
            FROM join_changed_events CROSS JOIN LATERAL (VALUES (old_session), (new_session)) AS v(s)
            WHERE s IS NOT NULL GROUP BY s
            """,
            "SELECT count(*) FROM join_changed_events",
        ]).last?.scalar(Int.self) ?? 0
    }
}
