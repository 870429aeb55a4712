import SeamPostgres

/// Recomputes `lake.traces` for the claimed trace ids from `lake.spans`; for traces whose
/// facts changed it queues their sessions (before and after) and, in the same transaction,
/// rewrites the trace columns of the event facts naming them
/// (`PropagationStage.propagateTraces`).
enum TraceStage {
    static let columns = """
        trace_id, root_known, root_span_id, root_service, root_name, root_route, root_http_status, start_time, end_time,
        duration_ms, span_count, error_count, services, session_id, user_id, first_seen, last_seen, updated_at
        """

    /// The columns of a span `s` that `compute` reads: selecting only these keeps the
    /// attributes, resource and events documents out of the intermediate rows.
    static let spanColumns = """
        s.trace_id, s.span_id, s.parent_span_id, s.service_name, s.name, s.http_route, s.http_status_code,
        s.start_time, s.end_time, s.status_code, s.session_id, s.user_id, s.received_at
        """

    /// A query whose rows are `lake.traces` rows (in `columns` order) for the spans that
    /// `spans` selects (`spanColumns`; every span of each trace it includes).
    static func compute(spans: String) -> String {
        """
        WITH spans AS MATERIALIZED (\(spans)
        ), roots AS (
            SELECT DISTINCT ON (trace_id) trace_id, span_id, service_name, name, http_route, http_status_code
            FROM spans WHERE parent_span_id IS NULL
            ORDER BY trace_id, start_time, span_id
        ), totals AS (
            SELECT trace_id,
                   min(start_time) AS start_time,
                   max(end_time) AS end_time,
                   count(*) AS span_count,
                   count(*) FILTER (WHERE status_code = 2) AS error_count,
                   coalesce(array_agg(DISTINCT service_name ORDER BY service_name)
                            FILTER (WHERE service_name IS NOT NULL), '{}') AS services,
                   (array_agg(session_id ORDER BY start_time, span_id) FILTER (WHERE session_id IS NOT NULL))[1] AS session_id,
                   (array_agg(user_id ORDER BY start_time, span_id) FILTER (WHERE user_id IS NOT NULL))[1] AS user_id,
                   min(received_at) AS first_seen,
                   max(received_at) AS last_seen
            FROM spans GROUP BY trace_id
        )
        SELECT t.trace_id, r.trace_id IS NOT NULL, r.span_id, r.service_name, r.name, r.http_route, r.http_status_code,
               t.start_time, t.end_time, extract(epoch FROM t.end_time - t.start_time) * 1000, t.span_count::integer,
               t.error_count::integer, t.services, t.session_id, t.user_id, t.first_seen, t.last_seen, clock_timestamp()
        FROM totals t LEFT JOIN roots r ON r.trace_id = t.trace_id
        """
    }

    /// Returns the traces and the event facts rewritten.
    static func run(horizon: Duration, on c: PostgresConnection) throws -> (traces: Int, eventFacts: Int) {
        let stored = RowDiff.names(columns)
        // What sessions and tag events read of a trace; arrival times alone do not matter to them.
        let facts = RowDiff.names(columns, excluding: ["updated_at", "first_seen", "last_seen"])
        // Spans are gathered within 24 hours of the span that dirtied the trace, so that a
        // lookup touches a few daily partitions rather than all of them.
        let traces = try c.executeScript(
            """
            CREATE TEMP TABLE IF NOT EXISTS join_new_traces (LIKE lake.traces) ON COMMIT DELETE ROWS;
            CREATE TEMP TABLE IF NOT EXISTS join_changed_traces (
                trace_id bytea, old_session text, new_session text, at timestamptz, forced boolean, facts_changed boolean,
                existed boolean
            ) ON COMMIT DELETE ROWS;

            INSERT INTO join_new_traces (\(unescaped: columns))
            \(unescaped: compute(spans: """
                SELECT s.* FROM (
                        SELECT trace_id, min(at) - interval '24 hours' AS lo, max(at) + interval '24 hours' AS hi
                        FROM join_claim GROUP BY trace_id
                    ) AS d
                    CROSS JOIN LATERAL (
                        SELECT \(spanColumns) FROM lake.spans s WHERE s.trace_id = d.trace_id AND s.start_time BETWEEN d.lo AND d.hi OFFSET 0
                    ) AS s
                """));

            INSERT INTO join_changed_traces
            SELECT k.trace_id, o.session_id, n.session_id, coalesce(n.start_time, o.start_time), k.forced,
                   \(unescaped: RowDiff.differs(facts, "o", "n")), o.trace_id IS NOT NULL
            FROM (SELECT trace_id, bool_or(forced) AS forced FROM join_claim GROUP BY trace_id) AS k
            LEFT JOIN LATERAL (SELECT * FROM lake.traces o WHERE o.trace_id = k.trace_id OFFSET 0) AS o ON true
            LEFT JOIN join_new_traces n ON n.trace_id = k.trace_id
            WHERE \(unescaped: RowDiff.differs(stored, "o", "n"));

            DELETE FROM lake.traces WHERE trace_id = ANY(ARRAY(SELECT trace_id FROM join_changed_traces WHERE existed));
            INSERT INTO lake.traces (\(unescaped: columns))
            SELECT \(unescaped: RowDiff.prefixed(columns, "n"))
            FROM join_new_traces n JOIN join_changed_traces c USING (trace_id);

            INSERT INTO seam_meta.join_queue (kind, bucket, key1, at, forced)
            SELECT DISTINCT seam_meta.join_kind('session'), seam_meta.join_bucket(s), s, at, forced
            FROM join_changed_traces CROSS JOIN LATERAL (VALUES (old_session), (new_session)) AS v(s)
            WHERE facts_changed AND s IS NOT NULL;
            SELECT count(*) FROM join_changed_traces
            """
        ).scalar(Int.self)
        guard traces > 0 else { return (0, 0) }
        let eventFacts = try PropagationStage.propagateTraces(
            "SELECT trace_id, at, forced FROM join_changed_traces WHERE facts_changed", horizon: horizon, on: c)
        return (traces, eventFacts)
    }
}
