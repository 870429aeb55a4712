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
        try connection.analyzeTemporary("uf_units")
        // After a change, the units' rows by the primary key (= ANY of the few units): joined
        // with uf_units, the planner read every row of the table (0.20 s for 9,000 of 300,000
        // units at seam bench etl's default scale). A full or window run replaces most rows.
        let units: SQLQuery = window.changedSince != nil
            ? "= ANY(ARRAY(SELECT unit_id FROM uf_units))" : "IN (SELECT unit_id FROM uf_units)"
        try connection.execute("DELETE FROM lake.user_features WHERE unit_id \(units)")
        // The units' sessions, in a table with statistics: as a subquery the planner took the
        // condition on the unit expression to keep half of all sessions, and hashed every
        // event fact twice to join them (2.0 s for 2,000 units at a fifth of seam bench etl's
        // scale, where their 7,940 sessions' events by the session index take 0.3 s). After
        // a change, looked up by the unit index (migration 0021, = ANY of the few units):
        // reading every session for them took 116–162 against 35–39 ms there, by hand. A
        // full or window run reads most sessions: IN, as the planner likes.
        try connection.execute(
            """
            CREATE TEMP TABLE uf_sessions ON COMMIT DROP AS
            SELECT coalesce(s.resolved_user_id, s.user_id, s.anonymous_id) AS unit_id, s.session_id, s.user_id, s.resolved_user_id,
                   s.started_at, s.ended_at, s.event_count, s.page_views, s.product_views, s.add_to_basket, s.purchases, s.revenue,
                   s.updated_at
            FROM lake.sessions AS s
            WHERE coalesce(s.resolved_user_id, s.user_id, s.anonymous_id) \(units)
              AND s.started_at < \(end)::timestamptz
            """)
        try connection.analyzeTemporary("uf_sessions")
        try keepSessionInputs(window, on: connection)
        // After a change the kept inputs and the exposures are looked up by index for the
        // units' sessions and ids: `OFFSET 0` keeps the subquery a lookup per session, and
        // `= ANY` an index scan, where the planner hashed all 200,000 kept rows and all
        // 101,000 exposures for 7,940 sessions and 2,000 units at a fifth of seam bench
        // etl's scale (0.37 against 0.24 s for the statement, by hand). A full or window
        // run hashes them. The exposures of other units that stand for a unit's user are
        // found by the user index (migration 0021) and the resolved-user index.
        let lookups = window.changedSince != nil
        let perSession: SQLQuery = lookups ? "OFFSET 0" : ""
        let byUnit: SQLQuery = lookups ? "WHERE x.unit_id = ANY(ARRAY(SELECT unit_id FROM uf_units))" : ""
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
            kept AS MATERIALIZED (
                SELECT us.unit_id, us.started_at, k.first_action, k.categories
                FROM us CROSS JOIN LATERAL (
                    SELECT * FROM seam_meta.user_feature_sessions AS k WHERE k.session_id = us.session_id \(perSession)
                ) AS k
            ),
            cats AS (
                SELECT k.unit_id, c.category, count(*) AS views
                FROM kept AS k CROSS JOIN LATERAL unnest(k.categories) AS c(category)
                GROUP BY 1, 2
            ),
            cat_agg AS (
                SELECT c.unit_id, array_agg(c.category ORDER BY c.category) AS categories,
                       jsonb_object_agg(c.category, c.views) AS views,
                       jsonb_object_agg(c.category, (c.views + \(alpha)::float8) / (a.product_views + \(alpha)::float8 + \(beta)::float8)) AS preference
                FROM cats AS c JOIN agg AS a USING (unit_id)
                GROUP BY c.unit_id
            ),
            actions AS (
                SELECT unit_id, extract(epoch FROM first_action - started_at)::float8 AS seconds FROM kept WHERE first_action IS NOT NULL
            ),
            action_agg AS (
                SELECT unit_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds) AS median FROM actions GROUP BY unit_id
            ),
            flags AS (
                SELECT unit_id, array_agg(DISTINCT flag ORDER BY flag) AS flags FROM (
                    SELECT u.unit_id, x.experiment_key || ':' || v AS flag
                    FROM lake.exposures AS x JOIN uf_units AS u ON u.unit_id = x.unit_id, unnest(x.variants) AS v \(byUnit)
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

    /// A session's inputs from its events that are not page views: the time of the first,
    /// and the category of each product view that has one (in no particular order: they are
    /// counted). One level of grouping: per session and category first (to keep counts)
    /// cost 5.4 against 2.2 s for every session at a fifth of seam bench etl's scale, where
    /// nearly every product view of a session has a category of its own.
    static func inputs(where condition: SQLQuery) -> SQLQuery {
        """
        SELECT e.session_id, min(e.occurred_at) AS first_action,
               array_agg(e.properties ->> 'category') FILTER (
                   WHERE e.name = 'product_view' AND coalesce(e.properties ->> 'category', '') <> '') AS categories
        FROM lake.event_facts AS e WHERE \(condition) AND e.name <> 'page_view'
        GROUP BY e.session_id
        """
    }

    /// Brings `seam_meta.user_feature_sessions` up to date for uf_sessions. After a change,
    /// only the sessions whose events may differ from what is kept are read, each by the
    /// session index: those stored or changed since, those with an event stored or changed
    /// since (the join sets `updated_at` on both when it moves an event between sessions),
    /// and those without a kept row. Reading every session of the recomputed units instead
    /// took 0.28 of user_features' 0.63 s at a fifth of seam bench etl's scale (7,940
    /// sessions, 2,000 of them changed). Whether a session has a kept row is a lookup by the
    /// primary key (`OFFSET 0` keeps the subquery per row): hashed, it read all 200,000
    /// kept rows there, and the statement took 227 against 86 ms by hand. A full run
    /// rebuilds the table in one pass over the events (which also drops the rows of sessions
    /// a join rebuild removed); a backfill replaces its sessions' rows.
    private func keepSessionInputs(_ window: JobWindow, on connection: PostgresConnection) throws {
        let update: SQLQuery = """
            ON CONFLICT (session_id) DO UPDATE SET
                first_action = EXCLUDED.first_action, categories = EXCLUDED.categories
            """
        if let since = window.changedSince {
            try connection.execute(
                """
                INSERT INTO seam_meta.user_feature_sessions
                SELECT s.session_id, a.first_action, coalesce(a.categories, '{}')
                FROM uf_sessions AS s
                LEFT JOIN LATERAL (\(Self.inputs(where: "e.session_id = s.session_id"))) AS a ON true
                WHERE s.updated_at >= \(PostgresValue.timestamptz(since))::timestamptz
                   OR s.session_id IN (SELECT e.session_id FROM lake.event_facts AS e WHERE e.updated_at >= \(PostgresValue.timestamptz(since))::timestamptz)
                   OR NOT EXISTS (SELECT 1 FROM seam_meta.user_feature_sessions AS k WHERE k.session_id = s.session_id OFFSET 0)
                \(update)
                """)
            return
        }
        if window.isEverything { try connection.execute("TRUNCATE seam_meta.user_feature_sessions") }
        try connection.execute(
            """
            INSERT INTO seam_meta.user_feature_sessions
            SELECT s.session_id, a.first_action, coalesce(a.categories, '{}')
            FROM uf_sessions AS s
            LEFT JOIN (\(Self.inputs(where: "e.session_id IN (SELECT session_id FROM uf_sessions)"))) AS a USING (session_id)
            \(update)
            """)
        if window.isEverything { try connection.execute("ANALYZE seam_meta.user_feature_sessions") }
    }
}
