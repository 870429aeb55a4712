-- The identity triggers look the other table's rows up session by session, and a new link
-- finds the exposures of the ids it affects by index: what the loader's transaction does
-- for identity links no longer grows with the lake.
--
-- Every batch the loader stores runs both triggers of 0010: a tag event links its
-- anonymous id to the users of its session's spans, and a span carrying a user links that
-- user to the anonymous ids of its session's tag events. Both were written as joins of the
-- batch (new_rows) with the whole other table, leaving the plan to the planner's estimates.
-- A day's partition starts empty and without statistics, and autovacuum analyzes it at
-- most once a minute: until then the planner took a sequential scan of the day's spans for
-- every batch of tag events, so each batch read every span stored that day so far
-- (docs/benchmarks.md, "Loading: the identity triggers"); with statistics the same join was
-- planned well, so the cost depended on the partition's age. Now the batch's distinct
-- sessions, as one array, are looked up with = ANY through an index: one index scan of each
-- daily partition for the whole batch, and reading a partition whole is the cheaper plan
-- only while it is small, statistics or not (IdentitiesTests.lookupsBySession counts the
-- sequential scans of an unanalyzed day of 20,000 rows). The links found are the same.
--
-- A tag event's lookup wants only the spans of its session that carry a user, usually few
-- or none: through spans_session_idx it would read every span of those sessions. The
-- partial index below holds only those spans (it is written only for them). Building it
-- reads every stored span once. The spans' trigger reads the sessions' tag events through
-- tag_events_session_idx (0001).
CREATE INDEX IF NOT EXISTS spans_session_user_idx ON lake.spans (session_id) INCLUDE (user_id)
    WHERE session_id IS NOT NULL AND user_id IS NOT NULL;

-- The triggers, like record_identities below, run without JIT: their statements run once
-- per stored batch, and an estimate over many daily partitions can pass jit_above_cost
-- (record_identities' did: compiling took 1.89 s), where compiling costs more than the
-- statement.
CREATE OR REPLACE FUNCTION seam_meta.identities_from_tag_events() RETURNS trigger
LANGUAGE plpgsql SET jit = off AS $$
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
        SELECT n.anonymous_id, s.user_id, 'span' AS source, min(n.occurred_at) AS first_seen
        FROM new_rows n
        JOIN (SELECT DISTINCT s.session_id, s.user_id FROM lake.spans s
              WHERE s.session_id = ANY(ARRAY(SELECT DISTINCT session_id FROM new_rows
                                             WHERE anonymous_id IS NOT NULL AND session_id IS NOT NULL))
                AND s.user_id IS NOT NULL) AS s ON s.session_id = n.session_id
        WHERE n.anonymous_id IS NOT NULL
        GROUP BY n.anonymous_id, s.user_id
    ) AS l;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION seam_meta.identities_from_spans() RETURNS trigger
LANGUAGE plpgsql SET jit = off AS $$
BEGIN
    PERFORM seam_meta.lock_identity_sessions(ARRAY(SELECT session_id FROM new_rows WHERE user_id IS NOT NULL));
    PERFORM seam_meta.record_identities(coalesce(jsonb_agg(l), '[]'::jsonb)) FROM (
        SELECT e.anonymous_id, s.user_id, 'span' AS source, min(e.occurred_at) AS first_seen
        FROM (SELECT DISTINCT session_id, user_id FROM new_rows WHERE session_id IS NOT NULL AND user_id IS NOT NULL) AS s
        JOIN (SELECT e.session_id, e.anonymous_id, e.occurred_at FROM lake.tag_events e
              WHERE e.session_id = ANY(ARRAY(SELECT DISTINCT session_id FROM new_rows
                                             WHERE session_id IS NOT NULL AND user_id IS NOT NULL))
                AND e.anonymous_id IS NOT NULL) AS e ON e.session_id = s.session_id
        GROUP BY e.anonymous_id, s.user_id
    ) AS l;
    RETURN NULL;
END;
$$;

-- A new link queues the exposures of the ids it affects again (record_identities, 0010):
-- those whose unit is such an id, found in lake.logs per experiment, and the session units
-- whose session's user is such an id. The latter were found by experiment (the primary
-- key's prefix) and then filtered on the user, reading every exposure of every experiment
-- for each affected id, and the experiments themselves came from a scan of the whole table
-- (SELECT DISTINCT). With 500,000 exposures in 5 experiments, storing 100 identify calls
-- took 22 s of the loader's transaction; without links, 6 ms. Now the experiments are
-- found by skipping through the primary key (one probe per experiment) and the session
-- units by their user, through the partial index below (one probe per id). Same items
-- queued. And without JIT: the planner's estimate for the lookups per id and experiment
-- passes jit_above_cost, and compiling them took 1.9 of the remaining 2 s.
--
-- A PL/pgSQL function is replaced whole, so the function below restates 0010's: the links'
-- upsert, the walk to the ids that reach them and the events' queueing are 0010's text,
-- unchanged; only its last statement (the exposures) and `SET jit = off` are new. An index
-- and `ALTER FUNCTION … SET jit = off` alone would have spared the restatement but kept the
-- scan of every exposure for the experiments' keys in each batch that adds a link.
CREATE INDEX IF NOT EXISTS exposures_session_user_idx ON lake.exposures (user_id) WHERE unit_type = 'session';

CREATE OR REPLACE FUNCTION seam_meta.record_identities(links jsonb, stored uuid[] DEFAULT '{}') RETURNS void
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    changed text[];
    affected text[];
BEGIN
    WITH upserted AS (
        INSERT INTO lake.identities AS i (anonymous_id, user_id, source, first_seen)
        SELECT DISTINCT ON (l.anonymous_id, l.user_id) l.anonymous_id, l.user_id, l.source, l.first_seen
        FROM jsonb_to_recordset(links) AS l(anonymous_id text, user_id text, source text, first_seen timestamptz)
        WHERE l.anonymous_id IS NOT NULL AND l.user_id IS NOT NULL AND l.anonymous_id <> l.user_id
        ORDER BY l.anonymous_id, l.user_id, l.first_seen, l.source
        ON CONFLICT (anonymous_id, user_id) DO UPDATE SET first_seen = excluded.first_seen, source = excluded.source
        WHERE (excluded.first_seen, excluded.source) < (i.first_seen, i.source)
        RETURNING i.anonymous_id
    )
    SELECT array_agg(DISTINCT anonymous_id) INTO changed FROM upserted;
    IF changed IS NULL THEN RETURN; END IF;
    -- The changed ids and every id that reaches them through links, as lake.resolve_user walks.
    WITH RECURSIVE reaching(id, depth) AS (
        SELECT unnest(changed), 0
        UNION
        SELECT i.anonymous_id, r.depth + 1 FROM reaching r JOIN lake.identities i ON i.user_id = r.id WHERE r.depth < 16
    )
    SELECT array_agg(DISTINCT id) INTO affected FROM reaching;
    WITH ids AS (SELECT unnest(affected) AS id),
    candidates AS MATERIALIZED (
        SELECT e.* FROM ids CROSS JOIN LATERAL (
            SELECT e.event_id, e.anonymous_id, e.user_id, e.occurred_at FROM lake.tag_events e
            WHERE e.anonymous_id = ids.id AND e.occurred_at >= now() - interval '7 days'
            UNION
            SELECT e.event_id, e.anonymous_id, e.user_id, e.occurred_at FROM lake.tag_events e
            WHERE e.user_id = ids.id AND e.occurred_at >= now() - interval '7 days'
        ) AS e
    ),
    -- EXCEPT hashes both sides: linear in the batch, where <> ALL(stored) would not be.
    others AS (SELECT event_id FROM candidates EXCEPT SELECT unnest(stored))
    INSERT INTO seam_meta.join_queue (kind, bucket, event_id, key1, at)
    SELECT DISTINCT ON (c.event_id) seam_meta.join_kind('event'), seam_meta.join_bucket(coalesce(c.anonymous_id, c.user_id, c.event_id::text)),
           c.event_id, coalesce(c.anonymous_id, c.user_id), c.occurred_at
    FROM candidates c JOIN others o USING (event_id);
    -- The exposures of those ids (as units, or by the user of a session unit), for every
    -- experiment exposures are known for, found in lake.logs for the same reason. The
    -- experiments: one probe of the primary key each, from the smallest key up.
    WITH RECURSIVE experiments(experiment_key) AS (
        SELECT min(experiment_key) FROM lake.exposures
        UNION ALL
        SELECT (SELECT min(x.experiment_key) FROM lake.exposures x WHERE x.experiment_key > e.experiment_key)
        FROM experiments e WHERE e.experiment_key IS NOT NULL
    ),
    ids AS (SELECT unnest(affected) AS id)
    INSERT INTO seam_meta.join_queue (kind, bucket, key1, key2, at)
    SELECT seam_meta.join_kind('exposure'), seam_meta.join_bucket(u.experiment_key, u.unit), u.experiment_key, u.unit, u.at
    FROM (
        SELECT x.experiment_key, l.unit, l.at
        FROM ids CROSS JOIN (SELECT experiment_key FROM experiments WHERE experiment_key IS NOT NULL) AS x
        CROSS JOIN LATERAL (
            SELECT coalesce(l.flag_context_id, l.user_id, l.session_id) AS unit, min(l.time) AS at FROM lake.logs l
            WHERE l.flag_key = x.experiment_key AND coalesce(l.flag_context_id, l.user_id, l.session_id) = ids.id
              AND l.flag_variant IS NOT NULL
            GROUP BY 1
        ) AS l
        UNION ALL
        SELECT x2.experiment_key, x2.unit_id, x2.first_exposed_at
        FROM ids CROSS JOIN LATERAL (
            SELECT x2.experiment_key, x2.unit_id, x2.first_exposed_at FROM lake.exposures x2
            WHERE x2.unit_type = 'session' AND x2.user_id = ids.id OFFSET 0
        ) AS x2
    ) AS u;
END;
$$;
