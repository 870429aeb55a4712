import SeamPostgres

/// `lake.segment_metrics`: hourly and daily per segment. Replaces every period of the UTC
/// days it recomputes, from the sessions that started in them: the days of sessions stored
/// or changed since the previous run (however old), and the days they left; or, for a
/// backfill, every day from the window's first UTC day to its end (the last period may be
/// partial; the next run replaces it).
///
/// A day's medians and percentiles are not sums, so a day is recomputed whole; its
/// per-session inputs are kept in `seam_meta.segment_metric_sessions`, so that a change
/// costs the changed sessions' lookups and one read of its days' rows.
public struct SegmentMetricsJob: ETLJob {
    public let name = JobName.segmentMetrics

    public init() {}

    /// What the kept per-session inputs mean: a run after a change recomputes everything.
    static let inputsVersion = "session inputs v1"

    public func run(window: JobWindow, on connection: PostgresConnection) throws -> Int {
        let end = window.endParameter
        let everything = try definitionsChanged(to: Self.inputsVersion, on: connection) || window.isEverything
        // After a change only the hours of the changed sessions (now and before) are written
        // again; a day's figures need the whole day.
        let hours: SQLQuery
        // The days' kept rows: after a change, by the day index, = ANY of the few days bound
        // as values, which the planner counts against the column's statistics. With IN it
        // read every kept row; with = ANY(ARRAY(SELECT day FROM sm_days)), an array it could not
        // count, it expected every kept row too and read the whole table twice (once for
        // 'all', once for the segments): by hand at a fifth of seam bench etl's scale, with
        // a late day and the new one, the statement took 409–444 ms with the days bound
        // against 472–566 ms (a bitmap scan of the day's 20,000 rows in 25–30 ms against a
        // sequential read of all 200,000 in 63 ms, twice). At the default scale the read
        // becomes a bitmap scan of 109,000 of 1,000,000 rows, but the statement's sorts and
        // aggregates dominate it there: 2.14 s in one run, against 1.93–2.08 s in three
        // runs before (docs/benchmarks.md). A full or window run reads most days: IN.
        let daysRead: SQLQuery
        if !everything, let since = window.changedSince {
            let changed = try changedDays(since: PostgresValue.timestamptz(since), end: end, on: connection)
            daysRead = "c.day = ANY(\(changed)::timestamptz[])"
            hours = "OR p.period_start IN (SELECT hour FROM sm_hours)"
        } else {
            try windowDays(everything ? JobWindow(start: nil, end: window.end) : window, on: connection)
            hours = "OR true"
            daysRead = "c.day IN (SELECT day FROM sm_days)"
        }
        // The days' sessions from the kept inputs, once for every segment they count in ('all'
        // and their unit's segments), with their hour, sorted by segment, day and hour (on
        // disk, beyond `work_mem`), then a row per trace duration (one, without a duration,
        // for a session that has none), in the same order: the set-returning functions run
        // after the sort, so the grouping below reads its rows in order and sorts nothing.
        // The first row of a session (`first`, true once) carries its figures; every row its
        // duration. So one ordered read gives the sessions' figures and the durations' 95th
        // percentile; the filtered aggregates count, sum and order exactly the rows the two
        // reads of a temporary table did before (a session per row; every duration).
        //
        // Before, the sessions were written to a temporary table in that order, with an index
        // in that order, and read twice from it (the figures; the durations, unnested as they
        // were read). Without the table, its index and the second read, by hand at a fifth of
        // seam bench etl's scale: a full run's 2.5–3.7 s against 3.2–4.6 s, a change's two
        // days 0.66–0.85 against 0.95–1.07 s; the rows were the same.
        let kept: SQLQuery = """
            c.day, date_trunc('hour', c.started_at, 'UTC') AS hour, c.unit_id, c.converted, c.basket, c.purchases, c.revenue,
            c.first_action_seconds, c.durations
            FROM seam_meta.segment_metric_sessions AS c
            """
        let days: SQLQuery = "\(daysRead) AND c.started_at < \(end)::timestamptz"
        // Hours and days in one statement: GROUP BY segment, day, ROLLUP (hour) gives every
        // hour and then its day from one ordered read, where two statements (one per grain)
        // sorted the sessions twice. At a fifth of seam bench etl's scale the two took 4.3 s
        // of a 7 s full run; one 2.2 s.
        //
        // After a change, every hour of a changed day is computed (it costs nothing more
        // than the day) but only the changed hours are written: the others were not deleted.
        return try connection.execute(
            """
            INSERT INTO lake.segment_metrics
            SELECT p.segment, p.grain, p.period_start, p.sessions, p.users,
                   p.converted_sessions, p.converted_sessions::float8 / p.sessions,
                   p.basket_sessions, p.basket_sessions::float8 / p.sessions,
                   p.orders, p.revenue, CASE WHEN p.orders > 0 THEN p.revenue / p.orders END,
                   p.first_action, p.p95
            FROM (
                SELECT s.segment, CASE WHEN grouping(s.hour) = 1 THEN 'day' ELSE 'hour' END AS grain,
                       coalesce(s.hour, s.day) AS period_start,
                       count(*) FILTER (WHERE s.first) AS sessions, count(DISTINCT s.unit_id) FILTER (WHERE s.first) AS users,
                       count(*) FILTER (WHERE s.first AND s.converted) AS converted_sessions,
                       count(*) FILTER (WHERE s.first AND s.basket) AS basket_sessions,
                       sum(s.purchases) FILTER (WHERE s.first) AS orders, sum(s.revenue) FILTER (WHERE s.first) AS revenue,
                       percentile_cont(0.5) WITHIN GROUP (ORDER BY s.first_action_seconds) FILTER (WHERE s.first) AS first_action,
                       percentile_cont(0.95) WITHIN GROUP (ORDER BY s.trace_duration_ms) AS p95
                FROM (
                    SELECT r.*,
                           unnest(CASE WHEN cardinality(r.durations) > 0 THEN r.durations ELSE '{NULL}' END) AS trace_duration_ms,
                           unnest('{true}'::boolean[]) AS first
                    FROM (
                        SELECT 'all'::text AS segment, \(kept) WHERE \(days)
                        UNION ALL
                        SELECT m.segment, \(kept) JOIN lake.segment_members AS m ON m.unit_id = c.unit_id WHERE \(days)
                    ) AS r
                    ORDER BY r.segment, r.day, r.hour
                ) AS s
                GROUP BY s.segment, s.day, ROLLUP (s.hour)
            ) AS p
            WHERE p.grain = 'day' \(hours)
            """)
    }

    /// The inputs of a session (`lake.sessions` aliased `s`, with `eventInputs` joined in as
    /// `a`), in the columns of `seam_meta.segment_metric_sessions`.
    static let inputs: SQLQuery = """
        s.session_id, date_trunc('day', s.started_at, 'UTC'), s.started_at, coalesce(s.user_id, s.anonymous_id), s.converted,
        s.add_to_basket > 0, s.purchases, s.revenue, extract(epoch FROM a.first_action - s.started_at)::float8,
        coalesce(a.durations, '{}')
        """

    /// What a session's events (`lake.event_facts` aliased `e`, those that are not page
    /// views or have a trace duration) give its inputs: its first action, and its trace
    /// durations. One read of the events for both: two (one per input) cost 1.48 against
    /// 1.05 s at a fifth of seam bench etl's scale. The durations are kept in no particular
    /// order: the percentile sorts them, and sorting each session's own (a sort per
    /// session in PostgreSQL 15) cost about 0.5 of the 5 s the kept inputs of a full run
    /// took there.
    static let eventInputs: SQLQuery = """
        min(e.occurred_at) FILTER (WHERE e.name <> 'page_view') AS first_action,
        array_agg(e.trace_duration_ms) FILTER (WHERE e.trace_duration_ms IS NOT NULL) AS durations
        """

    /// `sm_days` and `sm_hours` after a change: the days and hours of the sessions stored or
    /// changed since `since` (their row, or one of their events), and those they counted in
    /// before; the kept inputs of those sessions recomputed by index lookups. Returns the
    /// days, as text for `::timestamptz[]` (this connection's time zone writes and reads it).
    private func changedDays(since: PostgresValue, end: PostgresValue, on connection: PostgresConnection) throws -> [String] {
        try connection.execute(
            """
            CREATE TEMP TABLE sm_changed ON COMMIT DROP AS
            SELECT s.session_id FROM lake.sessions AS s WHERE s.updated_at >= \(since)::timestamptz
            UNION SELECT e.session_id FROM lake.event_facts AS e WHERE e.updated_at >= \(since)::timestamptz AND e.session_id IS NOT NULL
            """)
        // The hours are looked up once and the days taken from them: a kept row's day is the
        // UTC day of its start, and a UTC hour lies in one UTC day. Looking both up took
        // 0.09 s each after seam bench etl's change at its default scale.
        try connection.execute(
            """
            CREATE TEMP TABLE sm_hours ON COMMIT DROP AS
            SELECT date_trunc('hour', s.started_at, 'UTC') AS hour FROM lake.sessions AS s
            WHERE s.session_id IN (SELECT session_id FROM sm_changed) AND s.started_at < \(end)::timestamptz
            UNION SELECT date_trunc('hour', c.started_at, 'UTC') FROM seam_meta.segment_metric_sessions AS c
            WHERE c.session_id IN (SELECT session_id FROM sm_changed)
            """)
        try connection.execute(
            "CREATE TEMP TABLE sm_days ON COMMIT DROP AS SELECT DISTINCT date_trunc('day', hour, 'UTC') AS day FROM sm_hours")
        let days = try connection.query("SELECT day::text FROM sm_days ORDER BY day").rows.map { try $0[0].decode(String.self) }
        try connection.execute(
            "DELETE FROM seam_meta.segment_metric_sessions WHERE session_id IN (SELECT session_id FROM sm_changed)")
        // Sessions of those days that are gone (a join rebuild that drew them differently).
        // What is left of the days' kept rows is of unchanged sessions, which started on the
        // day kept (a session whose start moved was changed, and its row deleted above):
        // so the days' sessions, read by ranges of the start index, are all that may stay.
        // A set difference of the two: a lookup per kept row cost more (57 against 35 ms at
        // a fifth of seam bench etl's scale). Days are UTC days, 24 hours long. The days'
        // kept rows by = ANY of the days bound as values, as in run (by an array of a
        // subquery: 75–88 against 86–100 ms for IN, by hand at a fifth of seam bench etl's
        // scale).
        try connection.execute(
            """
            DELETE FROM seam_meta.segment_metric_sessions AS c
            USING (
                SELECT k.session_id FROM seam_meta.segment_metric_sessions AS k WHERE k.day = ANY(\(days)::timestamptz[])
                EXCEPT
                SELECT s.session_id FROM sm_days AS d JOIN lake.sessions AS s
                    ON s.started_at >= d.day AND s.started_at < d.day + interval '24 hours'
            ) AS gone
            WHERE c.session_id = gone.session_id
            """)
        try connection.execute(
            """
            INSERT INTO seam_meta.segment_metric_sessions
            SELECT \(Self.inputs)
            FROM lake.sessions AS s
            LEFT JOIN LATERAL (
                SELECT \(Self.eventInputs) FROM lake.event_facts AS e
                WHERE e.session_id = s.session_id AND (e.name <> 'page_view' OR e.trace_duration_ms IS NOT NULL)
            ) AS a ON true
            WHERE s.session_id IN (SELECT session_id FROM sm_changed) AND s.started_at < \(end)::timestamptz
            """)
        try connection.execute(
            """
            DELETE FROM lake.segment_metrics
            WHERE ((grain = 'day' AND period_start IN (SELECT day FROM sm_days)) OR (grain = 'hour' AND period_start IN (SELECT hour FROM sm_hours)))
              AND period_start < \(end)::timestamptz
            """)
        return days
    }

    /// `sm_days` for an event-time window (all data when it starts at the beginning): every
    /// day from its first, with the kept inputs of their sessions rebuilt in one pass over
    /// their events (a hash join beats a lookup per session at this size).
    private func windowDays(_ window: JobWindow, on connection: PostgresConnection) throws {
        let (start, end) = (window.startParameter, window.endParameter)
        try connection.execute(
            """
            CREATE TEMP TABLE sm_days ON COMMIT DROP AS
            SELECT DISTINCT date_trunc('day', s.started_at, 'UTC') AS day FROM lake.sessions AS s
            WHERE s.started_at >= date_trunc('day', \(start)::timestamptz, 'UTC') AND s.started_at < \(end)::timestamptz
            """)
        // Exactly the rows the insert below rewrites (a backfill's window may end mid-day):
        // those in the window, and those of its sessions kept from outside it (a session
        // whose start moved into the window). Then a plain insert: one that resolved
        // conflicts (ON CONFLICT … DO UPDATE) took 2.7 against 1.4–1.8 s for 200,000 sessions
        // by hand at a fifth of seam bench etl's scale. Only this job writes these rows, and
        // its runs do not overlap (JobRunner).
        try connection.execute(
            """
            DELETE FROM seam_meta.segment_metric_sessions
            WHERE started_at >= date_trunc('day', \(start)::timestamptz, 'UTC') AND started_at < \(end)::timestamptz
            """)
        try connection.execute(
            """
            DELETE FROM seam_meta.segment_metric_sessions AS c USING lake.sessions AS s
            WHERE s.session_id = c.session_id
              AND s.started_at >= date_trunc('day', \(start)::timestamptz, 'UTC') AND s.started_at < \(end)::timestamptz
              AND (c.started_at < date_trunc('day', \(start)::timestamptz, 'UTC') OR c.started_at >= \(end)::timestamptz)
            """)
        // A session's events are at or after its start: none before the first day.
        try connection.execute(
            """
            INSERT INTO seam_meta.segment_metric_sessions
            SELECT \(Self.inputs)
            FROM lake.sessions AS s
            LEFT JOIN (
                SELECT e.session_id, \(Self.eventInputs) FROM lake.event_facts AS e
                WHERE (e.name <> 'page_view' OR e.trace_duration_ms IS NOT NULL)
                  AND e.occurred_at >= date_trunc('day', \(start)::timestamptz, 'UTC')
                GROUP BY e.session_id
            ) AS a USING (session_id)
            WHERE s.started_at >= date_trunc('day', \(start)::timestamptz, 'UTC') AND s.started_at < \(end)::timestamptz
            """)
        try connection.execute(
            """
            DELETE FROM lake.segment_metrics
            WHERE period_start >= date_trunc('day', \(start)::timestamptz, 'UTC') AND period_start < \(end)::timestamptz
            """)
    }
}
