import SeamPostgres

/// `lake.user_features`: per unit — the user a session stands for (`resolved_user_id`, from
/// `lake.identities`), else its user id, else its anonymous id — recomputed from all of the
/// unit's sessions whenever the unit had a session or an exposure in the window. A visitor's
/// browsing before a login counts for the user who logged in; the anonymous id's own row
/// goes when its sessions come to stand for the user.
public struct UserFeaturesJob: ETLJob {
    public let name = JobName.userFeatures
    let priorAlpha: Double
    let priorBeta: Double

    public init(configuration: ETLConfiguration) {
        priorAlpha = configuration.priorAlpha
        priorBeta = configuration.priorBeta
    }

    /// Units with a new or changed session or exposure (a backfill: one in the window).
    static func touchedUnits(_ window: JobWindow) -> SQLQuery {
        """
        SELECT u.unit_id FROM lake.sessions AS s,
               -- The unit the session stands for, and every id it may have stood for before a
               -- link (their rows are removed unless a session still stands for them).
               LATERAL (VALUES (coalesce(s.resolved_user_id, s.user_id, s.anonymous_id)), (s.user_id), (s.anonymous_id)) AS u(unit_id)
        WHERE \(window.rows("s", eventStart: "started_at", eventEnd: "ended_at")) AND u.unit_id IS NOT NULL
        UNION
        SELECT u.unit_id FROM lake.exposures AS x,
               LATERAL (VALUES (coalesce(x.resolved_user_id, x.user_id, x.unit_id)), (x.unit_id)) AS u(unit_id)
        WHERE \(window.rows("x", eventStart: "first_exposed_at", eventEnd: "last_exposed_at")) AND x.unit_type <> 'session'
        \(removed(window))
        """
    }

    /// After a change, the units of the exposures the join removed since (their flags go).
    static func removed(_ window: JobWindow) -> SQLQuery {
        guard let since = window.changedSince else { return "" }
        return """
            UNION
            SELECT u.unit_id FROM seam_meta.exposure_removals AS r,
                   LATERAL (VALUES (coalesce(r.resolved_user_id, r.user_id, r.unit_id)), (r.unit_id)) AS u(unit_id)
            WHERE r.removed_at >= \(PostgresValue.timestamptz(since))::timestamptz AND r.unit_type <> 'session'
            """
    }

    public func run(window: JobWindow, on connection: PostgresConnection) throws -> Int {
        let (end, alpha, beta) = (window.endParameter, PostgresValue.float64(priorAlpha), PostgresValue.float64(priorBeta))
        try connection.execute("CREATE TEMP TABLE uf_units ON COMMIT DROP AS \(Self.touchedUnits(window))")
        try connection.execute("ANALYZE uf_units")
        try connection.execute("DELETE FROM lake.user_features WHERE unit_id IN (SELECT unit_id FROM uf_units)")
        // The units' sessions, in a table with statistics: as a subquery the planner took the
        // condition on the unit expression to keep half of all sessions, and hashed every
        // event fact twice to join them (2.0 s for 2,000 units at a fifth of seam bench etl's
        // scale, where their 7,940 sessions' events by the session index take 0.3 s).
        try connection.execute(
            """
            CREATE TEMP TABLE uf_sessions ON COMMIT DROP AS
            SELECT coalesce(s.resolved_user_id, s.user_id, s.anonymous_id) AS unit_id, s.session_id, s.user_id, s.resolved_user_id,
                   s.started_at, s.ended_at, s.event_count, s.page_views, s.product_views, s.add_to_basket, s.purchases, s.revenue
            FROM lake.sessions AS s
            WHERE coalesce(s.resolved_user_id, s.user_id, s.anonymous_id) IN (SELECT unit_id FROM uf_units)
              AND s.started_at < \(end)::timestamptz
            """)
        try connection.execute("ANALYZE uf_sessions")
        // The sessions' events that are not page views, read once for the categories and the
        // first actions. After a change each session's events are looked up by the session
        // index: `OFFSET 0` keeps the subquery a lookup per session whatever the estimates
        // (with correct ones the planner still hashed every event fact for those 7,940
        // sessions: 1.9 s, against 0.47 s for the whole statement by lookups). A full or
        // window run hashes them, one pass over the events (5.8–6.0 s either way, by hand).
        let perSession: SQLQuery = window.changedSince == nil ? "" : "OFFSET 0"
        return try connection.execute(
            """
            INSERT INTO lake.user_features
            WITH us AS (SELECT * FROM uf_sessions),
            agg AS (
                SELECT unit_id, bool_or(user_id IS NOT NULL OR resolved_user_id IS NOT NULL) AS is_user, min(started_at) AS first_seen, max(ended_at) AS last_seen,
                       count(*) AS sessions, sum(event_count) AS events, sum(page_views) AS page_views,
                       sum(product_views) AS product_views, sum(add_to_basket) AS add_to_basket, sum(purchases) AS purchases,
                       sum(revenue) AS revenue
                FROM us GROUP BY unit_id
            ),
            ev AS MATERIALIZED (
                SELECT us.unit_id, us.session_id, us.started_at, e.occurred_at, e.category
                FROM us CROSS JOIN LATERAL (
                    SELECT e.occurred_at, CASE WHEN e.name = 'product_view' THEN nullif(e.properties ->> 'category', '') END AS category
                    FROM lake.event_facts AS e WHERE e.session_id = us.session_id AND e.name <> 'page_view' \(perSession)
                ) AS e
            ),
            cats AS (
                SELECT unit_id, category, count(*) AS views FROM ev WHERE category IS NOT NULL GROUP BY 1, 2
            ),
            cat_agg AS (
                SELECT c.unit_id, array_agg(c.category ORDER BY c.category) AS categories,
                       jsonb_object_agg(c.category, c.views) AS views,
                       jsonb_object_agg(c.category, (c.views + \(alpha)::float8) / (a.product_views + \(alpha)::float8 + \(beta)::float8)) AS preference
                FROM cats AS c JOIN agg AS a USING (unit_id)
                GROUP BY c.unit_id
            ),
            actions AS (
                SELECT unit_id, extract(epoch FROM min(occurred_at) - started_at)::float8 AS seconds
                FROM ev GROUP BY unit_id, session_id, started_at
            ),
            action_agg AS (
                SELECT unit_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS median FROM actions GROUP BY unit_id
            ),
            flags AS (
                SELECT unit_id, array_agg(DISTINCT flag ORDER BY flag) AS flags FROM (
                    SELECT u.unit_id, x.experiment_key || ':' || v AS flag
                    FROM uf_units AS u JOIN lake.exposures AS x ON x.unit_id = u.unit_id, unnest(x.variants) AS v
                    UNION ALL
                    SELECT u.unit_id, x.experiment_key || ':' || v
                    FROM uf_units AS u JOIN lake.exposures AS x ON x.user_id = u.unit_id, unnest(x.variants) AS v
                    UNION ALL
                    SELECT u.unit_id, x.experiment_key || ':' || v
                    FROM uf_units AS u JOIN lake.exposures AS x ON x.resolved_user_id = u.unit_id, unnest(x.variants) AS v
                ) AS f GROUP BY unit_id
            )
            SELECT a.unit_id, CASE WHEN a.is_user THEN 'user' ELSE 'anonymous' END, a.first_seen, a.last_seen,
                   a.sessions, a.events, a.page_views, a.product_views, a.add_to_basket, a.purchases, a.revenue,
                   greatest(0, extract(epoch FROM \(end)::timestamptz - a.last_seen)::float8 / 86400),
                   a.sessions / greatest(1, extract(epoch FROM \(end)::timestamptz - a.first_seen)::float8 / 604800),
                   coalesce(c.categories, '{}'), coalesce(c.views, '{}'), coalesce(c.preference, '{}'),
                   coalesce(f.flags, '{}'), t.median, \(end)::timestamptz
            FROM agg AS a
            LEFT JOIN cat_agg AS c USING (unit_id)
            LEFT JOIN action_agg AS t USING (unit_id)
            LEFT JOIN flags AS f USING (unit_id)
            """)
    }
}
