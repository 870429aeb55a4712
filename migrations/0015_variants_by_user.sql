-- An event's variants now follow identity links: besides the units named by the event's own
-- ids, every exposed unit that stands for the same user as the event counts (issue 14). The
-- purchase made as the user on a phone carries the variant the same user's anonymous
-- browsing on a laptop was exposed to.
COMMENT ON COLUMN lake.event_facts.variants IS 'Experiments the event''s units had been exposed to at or before occurred_at, as {"experiment_key": "variant"} (the first-exposure variant). The event''s units are its user_id, anonymous_id and client session_id, and, when the event stands for a user (resolved_user_id), every exposed unit that stands for the same user (lake.exposures.resolved_user_id); when several match one experiment, the earliest exposure wins (then the least unit id).';

-- Events already joined get the new rule where it changes something: the users that linked
-- units stand for are queued as changed units, so the join rewrites their events' variants
-- (within its horizon; older events with `seam join rebuild`).
INSERT INTO seam_meta.join_queue (kind, bucket, key1, at, forced)
SELECT seam_meta.join_kind('unit_changed'), seam_meta.join_bucket(resolved_user_id), resolved_user_id, min(first_exposed_at), false
FROM lake.exposures
WHERE resolved_user_id IS NOT NULL AND resolved_user_id <> unit_id
GROUP BY resolved_user_id;
