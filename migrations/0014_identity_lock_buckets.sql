-- The identity triggers lock the sessions of the rows they store, so that a span and an
-- event of the same session stored by concurrent transactions still meet (0010). One
-- advisory lock per session made a large insert (a bulk load of 200,000 sessions) run out
-- of lock-table slots ("out of shared memory"). The sessions are now locked by their
-- bucket, one of 256 by hash: at most 256 locks per transaction, in order, so still no
-- deadlock; two sessions in one bucket only wait for each other a little longer.
CREATE OR REPLACE FUNCTION seam_meta.lock_identity_sessions(sessions text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(24225, b)
    FROM (SELECT DISTINCT hashtext(s) & 255 AS b FROM unnest(sessions) AS u(s) WHERE s IS NOT NULL ORDER BY 1) AS o;
END;
$$;
COMMENT ON FUNCTION seam_meta.lock_identity_sessions(text[]) IS 'Takes the transaction-scoped advisory locks of the buckets (hashtext & 255) of these sessions, in order: what the identity triggers of lake.tag_events and lake.spans hold while they link ids by session.';
