-- The spans of the claimed traces (join_claim), within 24 hours of the spans that dirtied
-- them: a lookup touches a few daily partitions rather than all of them. One lookup per
-- trace with :per_key OFFSET 0, a join for a backlog claim (:per_key empty; Lookups.swift).
-- For trace_rows.sql.
SELECT s.* FROM (
        SELECT trace_id, min(at) - interval '24 hours' AS lo, max(at) + interval '24 hours' AS hi
        FROM join_claim GROUP BY trace_id
    ) AS d
    CROSS JOIN LATERAL (
        SELECT s.trace_id, s.span_id, s.parent_span_id, s.service_name, s.name, s.http_route,
               s.http_status_code, s.start_time, s.end_time, s.status_code, s.session_id, s.user_id,
               s.received_at
        FROM lake.spans s WHERE s.trace_id = d.trace_id AND s.start_time BETWEEN d.lo AND d.hi :per_key
    ) AS s
