-- lake.sessions rows, in the table's column order, from the event facts that :events
-- selects (every event of each session it includes, with their resolved users) and the session's traces that :traces
-- selects (session_id, trace_id, start_time, end_time, duration_ms, error_count, user_id;
-- it may refer to the events as ev).
WITH ev AS MATERIALIZED (:events
), tr AS MATERIALIZED (:traces
), events AS (
    SELECT session_id,
           bool_or(session_source = 'derived') AS derived,
           (array_agg(user_id ORDER BY occurred_at DESC, event_id DESC) FILTER (WHERE user_id IS NOT NULL))[1] AS user_id,
           (array_agg(anonymous_id ORDER BY occurred_at, event_id) FILTER (WHERE anonymous_id IS NOT NULL))[1] AS anonymous_id,
           (array_agg(resolved_user_id ORDER BY occurred_at DESC, event_id DESC) FILTER (WHERE resolved_user_id IS NOT NULL))[1] AS resolved_user_id,
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
       coalesce(e.purchases, 0) > 0, clock_timestamp(), coalesce(e.resolved_user_id, lake.resolve_user(t.user_id))
FROM events e FULL JOIN traces t ON t.session_id = e.session_id
