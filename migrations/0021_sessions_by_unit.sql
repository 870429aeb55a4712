-- What a change-driven user_features run looks up for the units it recomputes, by index.
--
-- 1. lake.sessions by the unit a session stands for: the user it resolved to, else its
--    user id, else its anonymous id (the unit of lake.user_features). The run recomputes
--    the units whose sessions or exposures changed from all of their sessions, and found
--    them by reading every session: at a fifth of seam bench etl's scale 116-162 ms against
--    35-39 ms through this index, for the 7,940 sessions of 2,000 units (0.4-0.5 s of a
--    2.2 s run at the default scale).
-- 2. lake.exposures by user id, where there is one. The units' flags include the
--    exposures of other units that stand for the same user; those were found by hashing
--    every exposure (28 of the run's 270 ms for its features there, with no user ids at
--    all). A session's exposures had such an index already (0020, for the identity
--    triggers); this one covers every unit type.
--
-- The join pays one more index entry per session row it writes, and per exposure with a
-- user id. lake.sessions carries an index on updated_at, which every write changes, so no
-- update of a session was a heap-only one before. A backlog claim that rebuilds a table's
-- indexes (0019) rebuilds these with the rest.
CREATE INDEX IF NOT EXISTS sessions_unit_idx ON lake.sessions ((coalesce(resolved_user_id, user_id, anonymous_id)));
CREATE INDEX IF NOT EXISTS exposures_user_idx ON lake.exposures (user_id) WHERE user_id IS NOT NULL;
