-- Daily partitions for every range-partitioned table in schema lake, and retention.
--
-- Seam calls these at start and hourly (see README "Partitions and retention"); operators
-- can call them from psql too. Seam manages partitions itself rather than through
-- pg_partman so that the lake needs no extension (and no superuser to install one), and
-- new partitioned tables in schema lake are covered without registration.

CREATE FUNCTION lake.ensure_daily_partitions(first_day date, last_day date)
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    parent   record;
    day      date;
    part     text;
    created  integer := 0;
BEGIN
    IF last_day < first_day THEN
        RAISE EXCEPTION 'last_day % is before first_day %', last_day, first_day;
    END IF;
    -- Serializes concurrent callers (several Seam processes) so none fails on a duplicate.
    PERFORM pg_advisory_xact_lock(hashtext('seam.lake.partitions'));
    FOR parent IN
        SELECT c.relname
        FROM pg_partitioned_table p
        JOIN pg_class c ON c.oid = p.partrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'lake' AND p.partstrat = 'r' AND NOT c.relispartition
        ORDER BY c.relname
    LOOP
        day := first_day;
        WHILE day <= last_day LOOP
            part := format('%s_p%s', parent.relname, to_char(day, 'YYYYMMDD'));
            IF to_regclass(format('lake.%I', part)) IS NULL THEN
                EXECUTE format(
                    'CREATE TABLE lake.%I PARTITION OF lake.%I FOR VALUES FROM (%L) TO (%L)',
                    part, parent.relname,
                    (day::timestamp AT TIME ZONE 'UTC'), ((day + 1)::timestamp AT TIME ZONE 'UTC'));
                EXECUTE format(
                    'COMMENT ON TABLE lake.%I IS %L', part,
                    format('Partition of lake.%s for %s (UTC day); created by lake.ensure_daily_partitions, dropped by lake.drop_expired_partitions.',
                           parent.relname, to_char(day, 'YYYY-MM-DD')));
                created := created + 1;
            END IF;
            day := day + 1;
        END LOOP;
    END LOOP;
    RETURN created;
END;
$$;

COMMENT ON FUNCTION lake.ensure_daily_partitions(date, date) IS 'Creates the missing daily partitions <table>_pYYYYMMDD of every range-partitioned lake table for each UTC day from first_day to last_day inclusive; returns how many it created. Safe to call concurrently.';

CREATE FUNCTION lake.drop_expired_partitions(
    retention_days integer,
    today date DEFAULT (now() AT TIME ZONE 'UTC')::date)
RETURNS SETOF text
LANGUAGE plpgsql
AS $$
DECLARE
    child   record;
    cutoff  date;
BEGIN
    IF retention_days IS NULL OR retention_days <= 0 THEN
        RETURN;  -- retention disabled: keep everything
    END IF;
    cutoff := today - retention_days;
    PERFORM pg_advisory_xact_lock(hashtext('seam.lake.partitions'));
    FOR child IN
        SELECT c.relname AS name, to_date(substring(c.relname FROM '_p([0-9]{8})$'), 'YYYYMMDD') AS day
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class p ON p.oid = i.inhparent
        JOIN pg_namespace n ON n.oid = p.relnamespace
        WHERE n.nspname = 'lake' AND c.relname ~ '_p[0-9]{8}$'
        ORDER BY 2, 1
    LOOP
        IF child.day < cutoff THEN
            EXECUTE format('DROP TABLE lake.%I', child.name);
            RETURN NEXT child.name;
        END IF;
    END LOOP;
    DELETE FROM lake.tag_event_ids WHERE occurred_at < (cutoff::timestamp AT TIME ZONE 'UTC');
END;
$$;

COMMENT ON FUNCTION lake.drop_expired_partitions(integer, date) IS 'Drops every daily lake partition whose whole day lies more than retention_days before today (UTC): with retention 30 on 2026-11-21, partitions for 2026-10-21 and earlier go, 2026-10-22 stays. Returns the dropped names. retention_days NULL or <= 0 keeps everything.';
