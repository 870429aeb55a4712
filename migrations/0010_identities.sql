-- Identity links: which anonymous ids stand for which user, captured from the raw rows as
-- they are stored, so that the same rows give the same links in any arrival order.
--
-- A link (anonymous_id -> user_id) comes from
--   * a tag event that carries both ids (Seam's own, a Segment call, a GA4 hit with client_id
--     and user_id; a Segment identify is such an event),
--   * a Segment alias (previous_id -> user_id; the previous id may be an anonymous id or an
--     earlier user id, which makes chains),
--   * a span that carries a user (enduser.id or user.id) and a session id: every anonymous id
--     of the tag events of that session is linked to that user.
-- A link keeps the earliest evidence: first_seen is the least event (or span) time over
-- everything that shows it, and source the kind of that evidence (ties: the least name).
-- Both are aggregates that do not depend on the order rows arrive in.

CREATE TABLE lake.identities (
    anonymous_id  text        NOT NULL,
    user_id       text        NOT NULL CHECK (user_id <> anonymous_id),
    source        text        NOT NULL CHECK (source IN ('identify', 'alias', 'event', 'ga4', 'span')),
    first_seen    timestamptz NOT NULL,
    PRIMARY KEY (anonymous_id, user_id)
);
CREATE INDEX identities_user_idx ON lake.identities (user_id);

COMMENT ON TABLE lake.identities IS 'Links between anonymous ids and user ids, one row per pair, from tag events that carry both (Segment identify, GA4 hits with client_id and user_id), Segment alias calls (previous_id -> user_id), and spans that carry a user id with a session id (linking the anonymous ids of that session''s tag events). Maintained as rows are stored; the same raw rows give the same links in any order. lake.resolve_user(id) gives the user an id stands for.';
COMMENT ON COLUMN lake.identities.anonymous_id IS 'The id that is linked: an anonymous visitor id (cookie, device, GA4 client_id), or for an alias the previous id, which may be an earlier user id.';
COMMENT ON COLUMN lake.identities.user_id IS 'The user it stands for.';
COMMENT ON COLUMN lake.identities.source IS 'The kind of the earliest evidence: identify (Segment identify), alias (Segment alias), event (another tag event with both ids), ga4 (a GA4 hit with client_id and user_id), span (a span with the user and a session of the anonymous id''s events).';
COMMENT ON COLUMN lake.identities.first_seen IS 'Event time (or span start) of the earliest evidence of the link. UTC.';

-- Upserts links, keeping the earliest evidence of each, then queues the join's
-- recomputation of every tag event whose resolved user may have changed: the events of the
-- ids whose links changed, and of every id that reaches them through links (at most 16
-- steps, as lake.resolve_user walks). The events are found in lake.tag_events, not in
-- lake.event_facts, so that an event the join is computing at this moment (with the links
-- as they were) is queued again too. Events older than 7 days (the join's default horizon)
-- are left to `seam join rebuild`. `stored`: the tag events the calling statement stored,
-- which the join queues already.
CREATE FUNCTION seam_meta.record_identities(links jsonb, stored uuid[] DEFAULT '{}') RETURNS void
LANGUAGE plpgsql AS $$
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
    -- experiment exposures are known for, found in lake.logs for the same reason.
    WITH ids AS (SELECT unnest(affected) AS id),
    experiments AS (SELECT DISTINCT experiment_key FROM lake.exposures)
    INSERT INTO seam_meta.join_queue (kind, bucket, key1, key2, at)
    SELECT seam_meta.join_kind('exposure'), seam_meta.join_bucket(x.experiment_key, u.unit), x.experiment_key, u.unit, u.at
    FROM ids CROSS JOIN experiments x CROSS JOIN LATERAL (
        SELECT coalesce(l.flag_context_id, l.user_id, l.session_id) AS unit, min(l.time) AS at FROM lake.logs l
        WHERE l.flag_key = x.experiment_key AND coalesce(l.flag_context_id, l.user_id, l.session_id) = ids.id
          AND l.flag_variant IS NOT NULL
        GROUP BY 1
        UNION ALL
        SELECT x2.unit_id, x2.first_exposed_at FROM lake.exposures x2
        WHERE x2.experiment_key = x.experiment_key AND x2.unit_type = 'session' AND x2.user_id = ids.id
    ) AS u;
END;
$$;

-- (The events are found through tag_events_anonymous_idx and tag_events_user_idx, 0004.)

-- Links from stored tag events. Links through spans need the session's spans, which another
-- transaction may be storing at the same moment: each session is locked (transaction-scoped
-- advisory lock, in session order so two transactions cannot deadlock) before its spans are
-- read, in a statement of its own, so that it sees what a transaction holding that lock
-- committed. The span trigger takes the same locks.
-- Locks `sessions` for this transaction, in order (see above).
-- (PL/pgSQL's PERFORM runs the whole query: a SQL function could stop at its first row.)
CREATE FUNCTION seam_meta.lock_identity_sessions(sessions text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(24225, hashtext(s)) FROM (SELECT DISTINCT s FROM unnest(sessions) AS u(s) WHERE s IS NOT NULL ORDER BY 1) AS o;
END;
$$;

CREATE FUNCTION seam_meta.identities_from_tag_events() RETURNS trigger
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
        SELECT n.anonymous_id, s.user_id, 'span' AS source, min(n.occurred_at) AS first_seen
        FROM new_rows n JOIN lake.spans s ON s.session_id = n.session_id AND s.user_id IS NOT NULL
        WHERE n.anonymous_id IS NOT NULL
        GROUP BY n.anonymous_id, s.user_id
    ) AS l;
    RETURN NULL;
END;
$$;

CREATE FUNCTION seam_meta.identities_from_spans() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM seam_meta.lock_identity_sessions(ARRAY(SELECT session_id FROM new_rows WHERE user_id IS NOT NULL));
    PERFORM seam_meta.record_identities(coalesce(jsonb_agg(l), '[]'::jsonb)) FROM (
        SELECT e.anonymous_id, s.user_id, 'span' AS source, min(e.occurred_at) AS first_seen
        FROM (SELECT DISTINCT session_id, user_id FROM new_rows WHERE session_id IS NOT NULL AND user_id IS NOT NULL) AS s
        JOIN lake.tag_events e ON e.session_id = s.session_id AND e.anonymous_id IS NOT NULL
        GROUP BY e.anonymous_id, s.user_id
    ) AS l;
    RETURN NULL;
END;
$$;

CREATE TRIGGER tag_events_identities AFTER INSERT ON lake.tag_events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION seam_meta.identities_from_tag_events();
CREATE TRIGGER spans_identities AFTER INSERT ON lake.spans
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION seam_meta.identities_from_spans();

-- The user an id stands for: follow its earliest link (first_seen, then user_id), and from
-- there the next, at most 16 links. A walk that comes back to an id it passed went round a
-- cycle (an alias back to an earlier id): the cycle's latest link (greatest first_seen) is
-- the one ignored, so the walk ends at that link's anonymous_id, whichever id it started
-- from. An id without a link stands for itself.
CREATE FUNCTION lake.resolve_user(id text) RETURNS text
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
    current text := id;
    next text;
    seen timestamptz;
    passed text[] := ARRAY[id];
    -- taken[j]: first_seen of the link from passed[j] to passed[j + 1].
    taken timestamptz[] := ARRAY[]::timestamptz[];
    k integer;
    latest integer;
BEGIN
    IF id IS NULL THEN RETURN NULL; END IF;
    FOR step IN 1..16 LOOP
        next := NULL;
        SELECT i.user_id, i.first_seen INTO next, seen FROM lake.identities i
        WHERE i.anonymous_id = current ORDER BY i.first_seen, i.user_id LIMIT 1;
        EXIT WHEN next IS NULL;
        k := array_position(passed, next);
        IF k IS NOT NULL THEN
            -- The cycle's links: taken[k..], and the closing one (current -> next, seen).
            taken := taken || seen;
            latest := k;
            FOR j IN k..array_length(taken, 1) LOOP
                IF taken[j] >= taken[latest] THEN latest := j; END IF;
            END LOOP;
            RETURN passed[latest];
        END IF;
        passed := passed || next;
        taken := taken || seen;
        current := next;
    END LOOP;
    RETURN current;
END;
$$;

COMMENT ON FUNCTION lake.resolve_user(text) IS 'The user an id (anonymous id or user id) stands for in lake.identities: its earliest link, followed along further links (alias chains) for at most 16 steps; in a cycle of aliases the latest link is ignored; the id itself when it has no link. One anonymous id linked to two users (a shared device) stands for the user it was linked to first; events that carry their own user_id keep it.';

-- The user an event stands for: its own user id's (followed along aliases), else its
-- anonymous id's when that id has a link; NULL for an anonymous visitor never linked.
CREATE FUNCTION lake.event_user(user_id text, anonymous_id text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN user_id IS NOT NULL THEN lake.resolve_user(user_id)
                ELSE nullif(lake.resolve_user(anonymous_id), anonymous_id) END
$$;
COMMENT ON FUNCTION lake.event_user(text, text) IS 'The resolved user of an event or session: lake.resolve_user(user_id) when it has a user id, else lake.resolve_user(anonymous_id) when that anonymous id is linked, else NULL.';

ALTER TABLE lake.event_facts ADD COLUMN resolved_user_id text;
CREATE INDEX event_facts_resolved_user_idx ON lake.event_facts (resolved_user_id, occurred_at) WHERE resolved_user_id IS NOT NULL;
COMMENT ON COLUMN lake.event_facts.resolved_user_id IS 'The user the event stands for (lake.event_user(user_id, anonymous_id)): its own user id followed along aliases, else the user its anonymous id is linked to (lake.identities), else NULL. Recomputed when a link arrives, whatever its order: the browsing before a login counts for the user who logged in.';
ALTER TABLE lake.sessions ADD COLUMN resolved_user_id text;
COMMENT ON COLUMN lake.sessions.resolved_user_id IS 'The user the session stands for: the resolved user of its latest event that has one, else its traces'' user (resolved); NULL when neither is known.';

ALTER TABLE lake.exposures ADD COLUMN resolved_user_id text;
COMMENT ON COLUMN lake.exposures.resolved_user_id IS 'The user the unit stands for: lake.resolve_user(unit_id) (the unit id itself when it has no link), for a session unit that of its user_id. Recomputed when a link arrives.';

CREATE INDEX exposures_resolved_user_idx ON lake.exposures (resolved_user_id) WHERE resolved_user_id IS NOT NULL;
COMMENT ON COLUMN lake.user_features.unit_id IS 'The unit: the user its sessions stand for (lake.sessions.resolved_user_id, from lake.identities), else the user id, else the anonymous visitor id. A visitor''s sessions before a login count for the user who logged in.';

ALTER TABLE lake.experiment_units ADD COLUMN resolved_user_id text;
COMMENT ON COLUMN lake.experiment_units.resolved_user_id IS 'The user the unit stands for (lake.resolve_user(unit_id); the unit id itself when it has no link; NULL for session units). The unit analysed is the unit exposed; its events are those of its own id and of every id that stands for the same user (lake.event_facts.resolved_user_id), within the metric''s window from the unit''s first exposure.';

-- Existing rows: the links they already show.
SELECT seam_meta.record_identities(coalesce(jsonb_agg(l), '[]'::jsonb)) FROM (
    SELECT anonymous_id, user_id, CASE WHEN call_type = 'identify' THEN 'identify' WHEN protocol = 'ga4' THEN 'ga4' ELSE 'event' END AS source,
           min(occurred_at) AS first_seen
    FROM lake.tag_events WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL
    GROUP BY 1, 2, 3
    UNION ALL
    SELECT e.anonymous_id, s.user_id, 'span', min(e.occurred_at)
    FROM lake.tag_events e JOIN lake.spans s ON s.session_id = e.session_id AND s.user_id IS NOT NULL
    WHERE e.anonymous_id IS NOT NULL
    GROUP BY 1, 2
) AS l;
