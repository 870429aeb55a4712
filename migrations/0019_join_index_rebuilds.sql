-- Backlog claims that rebuild a derived table's indexes instead of maintaining them.
--
-- A backlog claim of the join (a catch-up after an outage or a burst, or the first start
-- over an imported lake) can add as many rows to lake.event_facts or lake.traces as the
-- table already holds, or more. Inserting them one index entry at a time, into eight
-- indexes for the event facts, cost 27 s of a 128 s catch-up of a million tag events;
-- building the same indexes from the finished table costs a fraction of it
-- (docs/benchmarks.md, "Join catch-up: indexes rebuilt"). So such a claim drops the
-- table's indexes, writes its rows, and builds them again, all in its transaction: a crash
-- or a failure rolls the drop back with everything else.
--
-- The price is a lock: from the drop to the commit no one else reads or writes the table
-- (readers wait; they do not fail). So the stage asks for it only when the table holds at
-- most twice as many rows as it adds (most of the derived data is missing anyway: building
-- indexes cost 4-7 us a row of the table, maintaining them 17-27 us a row added), waits at
-- most lock_timeout_ms for it (another transaction using the table keeps it: the claim
-- then maintains the indexes as usual), and only the table's owner (Seam's own login)
-- may drop its indexes: other logins always take the usual path.

-- The definitions of the indexes a transaction dropped, to build them again before it
-- commits (join_restore_indexes). Empty outside such a transaction.
CREATE TABLE seam_meta.join_suspended_indexes (
    table_name  regclass    NOT NULL,
    position    integer     NOT NULL,
    definition  text        NOT NULL,
    PRIMARY KEY (table_name, position)
);
COMMENT ON TABLE seam_meta.join_suspended_indexes IS 'Indexes of a derived table dropped by the join transaction that is rewriting most of it, with the statements that build them again before it commits; empty outside that transaction.';

-- Drops the indexes of table t (its primary key and unique constraints included) when it
-- holds at most twice `adding` rows, the caller owns it, no foreign key refers to it and
-- its exclusive lock comes within lock_timeout_ms; records how to build them again.
-- Returns whether it did. Counts at most 2 * adding + 1 rows: the cost of the test is
-- bounded by the claim, not by the table.
CREATE FUNCTION seam_meta.join_suspend_indexes(t regclass, adding bigint, lock_timeout_ms integer)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    present bigint;
    previous text := current_setting('lock_timeout');
    r record;
    n integer := 0;
BEGIN
    IF adding <= 0 THEN
        RETURN false;
    END IF;
    IF NOT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = t), 'USAGE') THEN
        RETURN false;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = t)
       OR EXISTS (SELECT 1 FROM seam_meta.join_suspended_indexes WHERE table_name = t) THEN
        RETURN false;
    END IF;
    EXECUTE format('SELECT count(*) FROM (SELECT 1 FROM %s LIMIT $1) AS r', t) INTO present USING 2 * adding + 1;
    IF present > 2 * adding THEN
        RETURN false;
    END IF;
    BEGIN
        PERFORM set_config('lock_timeout', lock_timeout_ms || 'ms', true);
        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', t);
        PERFORM set_config('lock_timeout', previous, true);
    EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
        -- The subtransaction's setting is rolled back with it.
        RETURN false;
    END;
    FOR r IN
        SELECT i.indexrelid, c.oid AS constraint_oid, c.conname
        FROM pg_index i
        LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = t AND c.contype IN ('p', 'u', 'x')
        WHERE i.indrelid = t
        ORDER BY i.indexrelid
    LOOP
        n := n + 1;
        IF r.constraint_oid IS NOT NULL THEN
            INSERT INTO seam_meta.join_suspended_indexes
            VALUES (t, n, format('ALTER TABLE %s ADD CONSTRAINT %I %s', t, r.conname, pg_get_constraintdef(r.constraint_oid)));
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', t, r.conname);
        ELSE
            INSERT INTO seam_meta.join_suspended_indexes VALUES (t, n, pg_get_indexdef(r.indexrelid));
            EXECUTE format('DROP INDEX %s', r.indexrelid::regclass);
        END IF;
    END LOOP;
    RETURN true;
END;
$$;
COMMENT ON FUNCTION seam_meta.join_suspend_indexes(regclass, bigint, integer) IS 'For a join backlog claim: drops the indexes of a derived table that holds at most twice as many rows as the claim adds (see migration 0019); join_restore_indexes builds them again.';

-- Builds again the indexes join_suspend_indexes dropped from t in this transaction;
-- returns how many (0 when none were dropped).
CREATE FUNCTION seam_meta.join_restore_indexes(t regclass)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    FOR r IN DELETE FROM seam_meta.join_suspended_indexes WHERE table_name = t RETURNING position, definition LOOP
        EXECUTE r.definition;
        n := n + 1;
    END LOOP;
    RETURN n;
END;
$$;
COMMENT ON FUNCTION seam_meta.join_restore_indexes(regclass) IS 'Builds again the indexes seam_meta.join_suspend_indexes dropped from a derived table in this transaction; returns how many.';
