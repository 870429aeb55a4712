-- Every span of lake.spans, with the columns trace_rows.sql reads (the from-scratch build).
SELECT s.trace_id, s.span_id, s.parent_span_id, s.service_name, s.name, s.http_route, s.http_status_code,
       s.start_time, s.end_time, s.status_code, s.session_id, s.user_id, s.received_at
FROM lake.spans s
