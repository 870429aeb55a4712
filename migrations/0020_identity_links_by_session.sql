-- The identity triggers look the other table's rows up session by session.
--
-- Every batch the loader stores runs both triggers of 0010: a tag event links its
-- anonymous id to the users of its session's spans, and a span carrying a user links that
-- user to the anonymous ids of its session's tag events. Both were written as joins of the
-- batch (new_rows) with the whole other table, leaving the plan to the planner's estimates.
-- A day's partition starts empty and without statistics, and autovacuum analyzes it at
-- most once a minute: until then the planner took a sequential scan of the day's spans for
-- every batch of tag events, so each batch read every span stored that day so far
-- (docs/benchmarks.md, "Loading: the identity triggers"). Now each distinct session of the
-- batch is looked up by index: a lateral subquery with DISTINCT or GROUP BY cannot be
-- flattened into a join, so its rows come from one index scan per session whatever the
-- statistics say, and the cost follows the batch, not the table. The links found are the
-- same: the earliest event time per (anonymous id, user), as before.
--
-- A tag event's lookup wants only the spans of its session that carry a user, usually few
-- or none: through spans_session_idx it read every span of the session to find them. The
-- partial index below holds only those spans (written only for them), so the lookup costs
-- one probe per session and daily partition. Building it reads every stored span once.
CREATE INDEX IF NOT EXISTS spans_session_user_idx ON lake.spans (session_id) INCLUDE (user_id)
    WHERE session_id IS NOT NULL AND user_id IS NOT NULL;

CREATE OR REPLACE FUNCTION seam_meta.identities_from_tag_events() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    stored uuid[];
BEGIN
    stored := ARRAY(SELECT event_id FROM new_rows);
    PERFORM seam_meta.record_identities(coalesce(jsonb_agg(l), '[]'::jsonb), stored) FROM (
        SELECT anonymous_id, user_id,
               CASE WHEN call_type = 'identify' THEN 'identify' WHEN protocol = 'ga4' THEN 'ga4' ELSE 'event' END AS source,
               occurred_at AS first_seen
        FROM new_rows WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL
        UNION ALL
        SELECT previous_id, user_id, 'alias', occurred_at FROM new_rows WHERE previous_id IS NOT NULL AND user_id IS NOT NULL
    ) AS l;
    PERFORM seam_meta.lock_identity_sessions(ARRAY(SELECT session_id FROM new_rows WHERE anonymous_id IS NOT NULL));
    PERFORM seam_meta.record_identities(coalesce(jsonb_agg(l), '[]'::jsonb), stored) FROM (
        SELECT n.anonymous_id, s.user_id, 'span' AS source, min(n.first_seen) AS first_seen
        FROM (SELECT session_id, anonymous_id, min(occurred_at) AS first_seen FROM new_rows
              WHERE anonymous_id IS NOT NULL AND session_id IS NOT NULL
              GROUP BY session_id, anonymous_id) AS n
        CROSS JOIN LATERAL (
            SELECT DISTINCT s.user_id FROM lake.spans s WHERE s.session_id = n.session_id AND s.user_id IS NOT NULL
        ) AS s
        GROUP BY n.anonymous_id, s.user_id
    ) AS l;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION seam_meta.identities_from_spans() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM seam_meta.lock_identity_sessions(ARRAY(SELECT session_id FROM new_rows WHERE user_id IS NOT NULL));
    PERFORM seam_meta.record_identities(coalesce(jsonb_agg(l), '[]'::jsonb)) FROM (
        SELECT e.anonymous_id, s.user_id, 'span' AS source, min(e.first_seen) AS first_seen
        FROM (SELECT DISTINCT session_id, user_id FROM new_rows WHERE session_id IS NOT NULL AND user_id IS NOT NULL) AS s
        CROSS JOIN LATERAL (
            SELECT e.anonymous_id, min(e.occurred_at) AS first_seen FROM lake.tag_events e
            WHERE e.session_id = s.session_id AND e.anonymous_id IS NOT NULL
            GROUP BY e.anonymous_id
        ) AS e
        GROUP BY e.anonymous_id, s.user_id
    ) AS l;
    RETURN NULL;
END;
$$;
