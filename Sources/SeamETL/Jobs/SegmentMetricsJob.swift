import SeamPostgres

/// `lake.segment_metrics`: hourly and daily per segment. Replaces every period from the
/// start of the window's first UTC day to the window's end, from the sessions that started
/// in it (the last period may be partial; the next run replaces it).
public struct SegmentMetricsJob: ETLJob {
    public let name = JobName.segmentMetrics

    public init() {}

    public func run(window: JobWindow, on connection: PostgresConnection) throws -> Int {
        let bounds = [window.startParameter, window.endParameter]
        try connection.execute(
            """
            DELETE FROM lake.segment_metrics
            WHERE period_start >= date_trunc('day', $1::timestamptz, 'UTC') AND period_start < $2::timestamptz
            """, bounds)
        try connection.execute(
            """
            CREATE TEMP TABLE sm_sessions ON COMMIT DROP AS
            SELECT s.session_id, s.started_at, coalesce(s.user_id, s.anonymous_id) AS unit_id, s.converted,
                   s.add_to_basket > 0 AS basket, s.purchases, s.revenue,
                   extract(epoch FROM a.first_action - s.started_at)::float8 AS first_action_seconds
            FROM lake.sessions AS s
            LEFT JOIN (
                SELECT session_id, min(occurred_at) AS first_action FROM lake.event_facts
                WHERE name <> 'page_view' AND occurred_at >= date_trunc('day', $1::timestamptz, 'UTC')
                GROUP BY session_id
            ) AS a USING (session_id)
            WHERE s.started_at >= date_trunc('day', $1::timestamptz, 'UTC') AND s.started_at < $2::timestamptz
            """, bounds)
        try connection.execute(
            """
            CREATE TEMP TABLE sm_members ON COMMIT DROP AS
            SELECT 'all'::text AS segment, session_id FROM sm_sessions
            UNION ALL
            SELECT m.segment, s.session_id FROM sm_sessions AS s JOIN lake.segment_members AS m ON m.unit_id = s.unit_id
            """)
        try connection.execute(
            """
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
