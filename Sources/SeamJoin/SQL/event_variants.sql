-- Common table expressions ending in variants (event_id, variants): per event of :events
-- (a table or CTE with event_id, occurred_at, user_id, anonymous_id, the client's
-- session_id and resolved_user_id), the variant of each experiment that any of its units
-- was first exposed to at or before the event; events without one have no row. An event's
-- units are its own ids (user, anonymous, client session) and, when it stands for a user,
-- every exposed unit that stands for the same user (lake.exposures.resolved_user_id): the
-- purchase made as the user on another device carries the variant its anonymous browsing
-- was exposed to. :exposure_join joins the ids k to the exposures x of that unit, and
-- :user_exposure_join to the exposures x whose unit stands for that user (one index lookup
-- per id, or a hash join for a whole table).
unit_exposures AS MATERIALIZED (
    -- The exposures of every unit the events name, looked up once per unit. A union of three
    -- scans: a lateral triple of values per event took a nested loop and, for a backlog
    -- claim (nested loops off), a sort of every id (4 s under EXPLAIN ANALYZE at a million-event
    -- catch-up).
    SELECT x.unit_id, x.experiment_key, x.variant, x.first_exposed_at
    FROM (SELECT user_id AS unit_id FROM :events WHERE user_id IS NOT NULL
          UNION SELECT anonymous_id FROM :events WHERE anonymous_id IS NOT NULL
          UNION SELECT session_id FROM :events WHERE session_id IS NOT NULL) AS k
    :exposure_join
), user_exposures AS MATERIALIZED (
    -- The exposures of every unit that stands for a user the events stand for.
    SELECT k.unit_id AS resolved_user_id, x.unit_id, x.experiment_key, x.variant, x.first_exposed_at
    FROM (SELECT DISTINCT resolved_user_id AS unit_id FROM :events WHERE resolved_user_id IS NOT NULL) AS k
    :user_exposure_join
), firsts AS (
    -- Per event and experiment, the first exposure of any of its units at or before it.
    SELECT DISTINCT ON (m.event_id, m.experiment_key) m.event_id, m.experiment_key, m.variant
    FROM (
        SELECT e.event_id, e.occurred_at, x.* FROM :events e JOIN unit_exposures x ON x.unit_id = e.user_id
        UNION ALL
        SELECT e.event_id, e.occurred_at, x.* FROM :events e JOIN unit_exposures x ON x.unit_id = e.anonymous_id
        UNION ALL
        SELECT e.event_id, e.occurred_at, x.* FROM :events e JOIN unit_exposures x ON x.unit_id = e.session_id
        UNION ALL
        SELECT e.event_id, e.occurred_at, x.unit_id, x.experiment_key, x.variant, x.first_exposed_at
        FROM :events e JOIN user_exposures x ON x.resolved_user_id = e.resolved_user_id
    ) AS m
    WHERE m.first_exposed_at <= m.occurred_at
    ORDER BY m.event_id, m.experiment_key, m.first_exposed_at, m.unit_id
), variants AS MATERIALIZED (
    -- Computed once: inlined, the planner may rescan the aggregate for every event.
    SELECT event_id, jsonb_object_agg(experiment_key, variant) AS variants FROM firsts GROUP BY event_id
)
