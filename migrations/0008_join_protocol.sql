-- The join queue's protocol, defined once: the number of each kind of item and the bucket
-- a key falls in. The raw-table triggers, the join stages and `seam join rebuild` all use
-- these functions; Swift's `QueueKind` names the same numbers, and the join worker checks
-- at start that they agree (a disagreement would strand queue items).
--
-- The functions are immutable SQL: the planner inlines them and folds a constant name to
-- its number, so using them costs nothing over the literals they replace. Buckets are
-- unchanged from 0004 (get_byte(trace_id, 15) & 15, hashtext(key) & 15), so items queued
-- before this migration stay in their buckets.

CREATE FUNCTION seam_meta.join_kind(name text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (CASE name
        WHEN 'trace' THEN 1          -- recompute lake.traces for trace_id
        WHEN 'exposure' THEN 2       -- recompute lake.exposures for experiment key1, unit key2
        WHEN 'event' THEN 3          -- recompute lake.event_facts for event_id (key1: its visitor)
        WHEN 'session' THEN 5        -- recompute lake.sessions for session key1
        WHEN 'trace_changed' THEN 6  -- trace_id changed: carry it to the tag events naming it
        WHEN 'unit_changed' THEN 7   -- unit key1 has new exposures from `at` on: carry them to its events
    END)::smallint
$$;

-- Buckets per kind: workers lock (kind, bucket) pairs. A power of two (keys are masked).
CREATE FUNCTION seam_meta.join_buckets() RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT 16 $$;

CREATE FUNCTION seam_meta.join_bucket(trace_id bytea) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (get_byte(trace_id, 15) & (seam_meta.join_buckets() - 1))::smallint $$;

CREATE FUNCTION seam_meta.join_bucket(key text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (hashtext(key) & (seam_meta.join_buckets() - 1))::smallint $$;

CREATE FUNCTION seam_meta.join_bucket(key1 text, key2 text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT seam_meta.join_bucket(key1 || E'\x1f' || key2) $$;

-- The bucket of any queue item, from its kind and key (for items re-queued as they are).
CREATE FUNCTION seam_meta.join_bucket(kind smallint, trace_id bytea, event_id uuid, key1 text, key2 text) RETURNS smallint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN trace_id IS NOT NULL THEN seam_meta.join_bucket(trace_id)
                WHEN kind = seam_meta.join_kind('exposure') THEN seam_meta.join_bucket(key1, key2)
                WHEN kind = seam_meta.join_kind('event') THEN seam_meta.join_bucket(coalesce(key1, event_id::text))
                ELSE seam_meta.join_bucket(key1) END
$$;

CREATE OR REPLACE FUNCTION seam_meta.join_enqueue_spans() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seam_meta.join_queue (kind, bucket, trace_id, at)
    SELECT seam_meta.join_kind('trace'), seam_meta.join_bucket(trace_id), trace_id, min(start_time) FROM new_rows GROUP BY trace_id;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION seam_meta.join_enqueue_logs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seam_meta.join_queue (kind, bucket, key1, key2, at)
    SELECT seam_meta.join_kind('exposure'), seam_meta.join_bucket(flag_key, unit), flag_key, unit, min(time)
    FROM (SELECT flag_key, coalesce(flag_context_id, user_id, session_id) AS unit, time
          FROM new_rows WHERE flag_key IS NOT NULL AND flag_variant IS NOT NULL) AS r
    WHERE unit IS NOT NULL
    GROUP BY flag_key, unit;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION seam_meta.join_enqueue_tag_events() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO seam_meta.join_queue (kind, bucket, event_id, key1, at)
    SELECT seam_meta.join_kind('event'), seam_meta.join_bucket(coalesce(anonymous_id, user_id, event_id::text)), event_id,
           coalesce(anonymous_id, user_id), occurred_at
    FROM new_rows;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION seam_meta.join_kind(text) IS 'The number of a join queue kind by name (trace, exposure, event, session, trace_changed, unit_changed); NULL for an unknown name, which join_queue.kind refuses.';
COMMENT ON FUNCTION seam_meta.join_buckets() IS 'Buckets per join queue kind; workers lock (kind, bucket) pairs.';
COMMENT ON FUNCTION seam_meta.join_bucket(bytea) IS 'Join queue bucket of a trace id.';
COMMENT ON FUNCTION seam_meta.join_bucket(text) IS 'Join queue bucket of a session, unit or visitor key.';
COMMENT ON FUNCTION seam_meta.join_bucket(text, text) IS 'Join queue bucket of an experiment x unit pair.';
COMMENT ON FUNCTION seam_meta.join_bucket(smallint, bytea, uuid, text, text) IS 'Join queue bucket of any item from its kind and key columns.';
COMMENT ON COLUMN seam_meta.join_queue.kind IS 'What to recompute: seam_meta.join_kind(name) of trace, exposure, event, session, trace_changed or unit_changed.';
COMMENT ON COLUMN seam_meta.join_queue.bucket IS 'seam_meta.join_bucket of the key: workers lock (kind, bucket) pairs, so no two recompute the same key at once.';
