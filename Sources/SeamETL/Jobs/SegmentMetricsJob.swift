import SeamPostgres

/// `lake.segment_metrics`: hourly and daily per segment. Replaces every period of the UTC
/// days it recomputes, from the sessions that started in them: the days of sessions stored
/// or changed since the previous run (however old), or, for a backfill or the first run,
/// every day from the window's first UTC day to its end (the last period may be partial;
/// the next run replaces it). A day's medians and percentiles are not sums, so a day is
/// recomputed whole.
public struct SegmentMetricsJob: ETLJob {
    public let name = JobName.segmentMetrics

    public init() {}

    public func run(window: JobWindow, on connection: PostgresConnection) throws -> Int {
        let end = window.endParameter
        if let since = window.changedSince {
            try connection.execute(
                """
                CREATE TEMP TABLE sm_days ON COMMIT DROP AS
                WITH changed AS (
                    SELECT s.session_id, s.started_at FROM lake.sessions AS s
                    WHERE s.updated_at >= \(PostgresValue.timestamptz(since))::timestamptz AND s.started_at < \(end)::timestamptz
                )
                -- The day a changed session is in now, and the day it was counted in before.
                SELECT date_trunc('day', started_at, 'UTC') AS day FROM changed
                UNION SELECT c.day FROM seam_meta.segment_metric_sessions AS c WHERE c.session_id IN (SELECT session_id FROM changed)
                """)
            try connection.execute(
                """
                DELETE FROM lake.segment_metrics
                WHERE date_trunc('day', period_start, 'UTC') IN (SELECT day FROM sm_days) AND period_start < \(end)::timestamptz
                """)
        } else {
            try connection.execute(
                """
                CREATE TEMP TABLE sm_days ON COMMIT DROP AS
                SELECT DISTINCT date_trunc('day', s.started_at, 'UTC') AS day FROM lake.sessions AS s
                WHERE s.started_at >= date_trunc('day', \(window.startParameter)::timestamptz, 'UTC') AND s.started_at < \(end)::timestamptz
                """)
            try connection.execute(
                """
                DELETE FROM lake.segment_metrics
                WHERE period_start >= date_trunc('day', \(window.startParameter)::timestamptz, 'UTC') AND period_start < \(end)::timestamptz
                """)
        }
        // A few days (changes): each session's events by index lookups. Many days: one pass
        // over the events of those days (a hash join beats a million lookups). A session's
        // events are at or after its start, so none before the first day.
        let few = window.changedSince != nil
        let firstAction: SQLQuery = few
            ? """
                LEFT JOIN LATERAL (
                    SELECT min(e.occurred_at) AS first_action FROM lake.event_facts AS e
                    WHERE e.session_id = s.session_id AND e.name <> 'page_view'
                ) AS a ON true
                """
            : """
                LEFT JOIN (
                    SELECT e.session_id, min(e.occurred_at) AS first_action FROM lake.event_facts AS e
                    WHERE e.name <> 'page_view' AND e.occurred_at >= (SELECT min(day) FROM sm_days)
                    GROUP BY e.session_id
                ) AS a USING (session_id)
                """
        try connection.execute(
            """
            CREATE TEMP TABLE sm_sessions ON COMMIT DROP AS
            SELECT s.session_id, s.started_at, coalesce(s.user_id, s.anonymous_id) AS unit_id, s.converted,
                   s.add_to_basket > 0 AS basket, s.purchases, s.revenue,
                   extract(epoch FROM a.first_action - s.started_at)::float8 AS first_action_seconds
            FROM sm_days AS d
            JOIN lake.sessions AS s ON s.started_at >= d.day AND s.started_at < d.day + interval '24 hours'
            \(firstAction)
            WHERE s.started_at < \(end)::timestamptz
            """)
        try connection.execute("DELETE FROM seam_meta.segment_metric_sessions WHERE day IN (SELECT day FROM sm_days)")
        try connection.execute(
            """
            INSERT INTO seam_meta.segment_metric_sessions SELECT session_id, date_trunc('day', started_at, 'UTC') FROM sm_sessions
            ON CONFLICT (session_id) DO UPDATE SET day = EXCLUDED.day
            """)
        try connection.execute(
            """
            CREATE TEMP TABLE sm_members ON COMMIT DROP AS
            SELECT 'all'::text AS segment, session_id FROM sm_sessions
            UNION ALL
            SELECT m.segment, s.session_id FROM sm_sessions AS s JOIN lake.segment_members AS m ON m.unit_id = s.unit_id
            """)
        try connection.execute(
            few
                ? """
                    CREATE TEMP TABLE sm_durations ON COMMIT DROP AS
                    SELECT s.session_id, s.started_at, e.trace_duration_ms
                    FROM sm_sessions AS s
                    CROSS JOIN LATERAL (
                        SELECT e.trace_duration_ms FROM lake.event_facts AS e
                        WHERE e.session_id = s.session_id AND e.trace_duration_ms IS NOT NULL
                    ) AS e
                    """
                : """
                    CREATE TEMP TABLE sm_durations ON COMMIT DROP AS
                    SELECT s.session_id, s.started_at, e.trace_duration_ms
                    FROM sm_sessions AS s JOIN lake.event_facts AS e USING (session_id)
                    WHERE e.trace_duration_ms IS NOT NULL
                    """)
        try connection.executeScript("ANALYZE sm_sessions; ANALYZE sm_members; ANALYZE sm_durations")
        var rows = 0
        for grain in ["hour", "day"] {
            rows += try connection.execute(
                """
                INSERT INTO lake.segment_metrics
                WITH periods AS (
                    SELECT m.segment, date_trunc($1, s.started_at, 'UTC') AS period_start,
                           count(*) AS sessions, count(DISTINCT s.unit_id) AS users,
                           count(*) FILTER (WHERE s.converted) AS converted_sessions,
                           count(*) FILTER (WHERE s.basket) AS basket_sessions,
                           sum(s.purchases) AS orders, sum(s.revenue) AS revenue,
                           percentile_cont(0.5) WITHIN GROUP (ORDER BY s.first_action_seconds) AS first_action
                    FROM sm_members AS m JOIN sm_sessions AS s USING (session_id)
                    GROUP BY 1, 2
                ),
                durations AS (
                    SELECT m.segment, date_trunc($1, d.started_at, 'UTC') AS period_start,
                           percentile_cont(0.95) WITHIN GROUP (ORDER BY d.trace_duration_ms) AS p95
                    FROM sm_members AS m JOIN sm_durations AS d USING (session_id)
                    GROUP BY 1, 2
                )
                SELECT p.segment, $1, p.period_start, p.sessions, p.users,
                       p.converted_sessions, p.converted_sessions::float8 / p.sessions,
                       p.basket_sessions, p.basket_sessions::float8 / p.sessions,
                       p.orders, p.revenue, CASE WHEN p.orders > 0 THEN p.revenue / p.orders END,
                       p.first_action, d.p95
                FROM periods AS p LEFT JOIN durations AS d USING (segment, period_start)
                """, [.text(grain)])
        }
        return rows
    }
}
