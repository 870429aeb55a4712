import SeamPostgres

/// Recomputes `lake.sessions` for the claimed session ids from `lake.event_facts` and
/// `lake.traces`; a session with neither any more is deleted.
enum SessionStage {
    static let columns = """
        session_id, derived, user_id, anonymous_id, started_at, ended_at, duration_seconds, event_count,
        page_views, product_views, add_to_basket, purchases, revenue, first_page, last_page, trace_count,
        server_errors, server_duration_p95_ms, converted, updated_at
        """

    /// What `compute` needs of an event fact `f` (not its properties document).
    static let eventColumns = """
        f.event_id, f.name, f.occurred_at, f.session_id, f.session_source, f.anonymous_id, f.user_id, f.trace_id,
        f.page_url, f.page_path, f.revenue
        """

    /// What `compute` needs of a trace `t`, after the session id.
    static let traceColumns = "t.trace_id, t.start_time, t.end_time, t.duration_ms, t.error_count, t.user_id"

    /// A query whose rows are `lake.sessions` rows (in `columns` order) from the
    /// `lake.event_facts` rows `events` selects (`eventColumns`; every event of each session it includes)
    /// and the session's traces that `traces` selects (`session_id` followed by
    /// `traceColumns`; it may refer to the events as `ev`).
    static func compute(events: String, traces: String) -> String {
        """
        WITH ev AS MATERIALIZED (\(events)
        ), tr AS MATERIALIZED (\(traces)
        ), events AS (
            SELECT session_id,
                   bool_or(session_source = 'derived') AS derived,
                   (array_agg(user_id ORDER BY occurred_at DESC, event_id DESC) FILTER (WHERE user_id IS NOT NULL))[1] AS user_id,
                   (array_agg(anonymous_id ORDER BY occurred_at, event_id) FILTER (WHERE anonymous_id IS NOT NULL))[1] AS anonymous_id,
                   min(occurred_at) AS started_at,
                   max(occurred_at) AS ended_at,
                   count(*) AS event_count,
                   count(*) FILTER (WHERE name = 'page_view') AS page_views,
                   count(*) FILTER (WHERE name = 'product_view') AS product_views,
                   count(*) FILTER (WHERE name = 'add_to_basket') AS add_to_basket,
                   count(*) FILTER (WHERE name = 'purchase') AS purchases,
                   coalesce(sum(revenue), 0) AS revenue,
                   (array_agg(coalesce(page_path, page_url) ORDER BY occurred_at, event_id) FILTER (WHERE name = 'page_view'))[1] AS first_page,
                   (array_agg(coalesce(page_path, page_url) ORDER BY occurred_at DESC, event_id DESC) FILTER (WHERE name = 'page_view'))[1] AS last_page
            FROM ev WHERE session_id IS NOT NULL GROUP BY session_id
        ), traces AS (
            SELECT session_id,
                   count(*) AS trace_count,
                   count(*) FILTER (WHERE error_count > 0) AS server_errors,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms) AS p95,
                   min(start_time) AS started_at,
                   max(end_time) AS ended_at,
                   (array_agg(user_id ORDER BY start_time DESC, trace_id DESC) FILTER (WHERE user_id IS NOT NULL))[1] AS user_id
            FROM tr WHERE session_id IS NOT NULL GROUP BY session_id
        )
        SELECT coalesce(e.session_id, t.session_id), coalesce(e.derived, false), coalesce(e.user_id, t.user_id), e.anonymous_id,
               least(e.started_at, t.started_at), greatest(e.ended_at, t.ended_at),
               extract(epoch FROM greatest(e.ended_at, t.ended_at) - least(e.started_at, t.started_at)),
               coalesce(e.event_count, 0)::integer, coalesce(e.page_views, 0)::integer, coalesce(e.product_views, 0)::integer,
               coalesce(e.add_to_basket, 0)::integer, coalesce(e.purchases, 0)::integer, coalesce(e.revenue, 0), e.first_page,
               e.last_page, coalesce(t.trace_count, 0)::integer, coalesce(t.server_errors, 0)::integer, t.p95,
               coalesce(e.purchases, 0) > 0, clock_timestamp()
        FROM events e FULL JOIN traces t ON t.session_id = e.session_id
        """
    }

    static func run(on c: PostgresConnection) throws -> Int {
        let stored = RowDiff.names(columns)
        let claimed = "SELECT DISTINCT key1 AS session_id FROM join_claim WHERE key1 IS NOT NULL"
        // Index lookups per session and per trace (OFFSET 0 keeps them so): a hash join
        // would read the whole table for every batch.
        let events = """
            SELECT f.* FROM (\(claimed)) AS j
            CROSS JOIN LATERAL (SELECT \(eventColumns) FROM lake.event_facts f WHERE f.session_id = j.session_id OFFSET 0) AS f
            """
        // The traces naming the session, and those its events name: most are both, so only
        // the events' traces not already found by session are looked up one by one.
        let traces = """
            WITH named AS MATERIALIZED (
                SELECT j.session_id, \(traceColumns) FROM (\(claimed)) AS j
                CROSS JOIN LATERAL (SELECT * FROM lake.traces t WHERE t.session_id = j.session_id OFFSET 0) AS t
            )
            SELECT * FROM named
            UNION
            SELECT e.session_id, \(traceColumns) FROM ev e
            CROSS JOIN LATERAL (SELECT * FROM lake.traces t WHERE t.trace_id = e.trace_id OFFSET 0) AS t
            WHERE e.trace_id IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM named n WHERE n.session_id = e.session_id AND n.trace_id = e.trace_id)
            """
        return try c.executeScript(
            """
            CREATE TEMP TABLE IF NOT EXISTS join_new_sessions (LIKE lake.sessions) ON COMMIT DELETE ROWS;
            CREATE TEMP TABLE IF NOT EXISTS join_changed_sessions (session_id text, existed boolean) ON COMMIT DELETE ROWS;

            INSERT INTO join_new_sessions (\(unescaped: columns)) \(unescaped: compute(events: events, traces: traces));

            INSERT INTO join_changed_sessions
            SELECT k.session_id, o.session_id IS NOT NULL FROM (\(unescaped: claimed)) AS k
            LEFT JOIN LATERAL (SELECT * FROM lake.sessions o WHERE o.session_id = k.session_id OFFSET 0) AS o ON true
            LEFT JOIN join_new_sessions n ON n.session_id = k.session_id
            WHERE \(unescaped: RowDiff.differs(stored, "o", "n"));

            DELETE FROM lake.sessions WHERE session_id = ANY(ARRAY(SELECT session_id FROM join_changed_sessions WHERE existed));
            INSERT INTO lake.sessions (\(unescaped: columns))
            SELECT \(unescaped: RowDiff.prefixed(columns, "n"))
            FROM join_new_sessions n JOIN join_changed_sessions c USING (session_id);
            SELECT count(*) FROM join_changed_sessions
            """
        ).scalar(Int.self)
    }
}
