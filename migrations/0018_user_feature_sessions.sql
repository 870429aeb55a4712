-- What user_features reads of each session's events, kept per session so that a
-- change-driven run reads the events of the changed sessions only, not of every session of
-- every unit it recomputes. Filled as sessions are recomputed: a session without a row here
-- is read from its events by the next run that needs it.
CREATE TABLE seam_meta.user_feature_sessions (
    session_id      text        PRIMARY KEY,
    first_action    timestamptz,
    categories      text[]      NOT NULL
);
COMMENT ON TABLE seam_meta.user_feature_sessions IS 'Per session: the time of its first event that is not a page view, and the category of each of its product views that has one (in no particular order), kept by the user_features job.';
