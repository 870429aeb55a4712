-- lake.traces rows, in the table's column order, for the spans that :spans selects: the
-- span columns below, every span of each trace it includes. Used by the trace stage (the
-- claimed traces' spans) and by the from-scratch build (every span).
--   psql: \set spans 'SELECT s.trace_id, s.span_id, s.parent_span_id, s.service_name, s.name, s.http_route, s.http_status_code, s.start_time, s.end_time, s.status_code, s.session_id, s.user_id, s.received_at FROM lake.spans s'
WITH spans AS MATERIALIZED (:spans
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
