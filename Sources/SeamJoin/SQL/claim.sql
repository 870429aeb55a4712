-- Claims queue items of kind :'kind' in the buckets this transaction locked (:'buckets'),
-- with ids up to :'bound' when given (NULL: any), at most :'max_items' of them and at most
-- :'bucket_items' of each bucket, into the temporary table join_claim; items older than
-- :'horizon' are dropped and counted as late. :keys are the kind's key columns (trace_id;
-- event_id; key1, key2; key1), :key_match their equality between the queue q and the
-- claimed c; :'take_more' says whether the kind's keys collect many items (see below). The
-- last statement returns the items taken (late ones included), the late ones, and whether
-- items were left behind in the buckets (a backlog).
--
-- The stages' statements are many small index lookups whose estimated cost (nested loops
-- over day partitions) is high enough to trigger JIT compilation, which then takes most of
-- their time; and their sorts and hashes are sized by the batch.
SET LOCAL jit = off;
SET LOCAL work_mem = '64MB';
CREATE TEMP TABLE IF NOT EXISTS join_claim (
    kind smallint, trace_id bytea, event_id uuid, key1 text, key2 text,
    at timestamptz, forced boolean, enqueued_at timestamptz
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS join_claim_counts (taken bigint, late bigint, cut boolean) ON COMMIT DELETE ROWS;

-- When the held buckets hold no more than :'max_items' pending items (up to the bound),
-- the claim takes them all in one pass, in no order (whole): a catch-up's claim of a
-- million items took 3.3 s so, 5.3 s picked and ordered as below (by hand, docs/benchmarks.md,
-- "Join catch-up: indexes rebuilt"). Counting stops at one more than :'max_items'.
-- Otherwise it picks the oldest items of each bucket, one more than a bucket's share to
-- know whether it holds more: each bucket is one ordered range of the queue's index, read
-- no further than that. (The oldest items of all held buckets at once cannot come from the
-- index in order: that read and sorted every pending item of the kind for each claim, 75
-- ms a claim at a million-event backlog.) The claim then takes the oldest of those picks,
-- at most :'max_items' (a claim of one item when the worker isolates a key that fails).
-- Each way's test is a one-time filter: the other way reads nothing.
WITH whole AS MATERIALIZED (
    SELECT count(*) <= :'max_items'::bigint AS fits FROM (
        SELECT 1 FROM seam_meta.join_queue
        WHERE kind = :'kind'::smallint AND bucket = ANY(:'buckets'::int[]) AND (:'bound'::bigint IS NULL OR item_id <= :'bound'::bigint)
        LIMIT :'max_items'::bigint + 1
    ) AS pending
), picks AS MATERIALIZED (
    SELECT x.ctid, x.item_id, x.n FROM unnest(:'buckets'::int[]) AS b
    CROSS JOIN LATERAL (
        SELECT ctid, item_id, row_number() OVER (ORDER BY item_id) AS n FROM seam_meta.join_queue
        WHERE kind = :'kind'::smallint AND bucket = b AND (:'bound'::bigint IS NULL OR item_id <= :'bound'::bigint)
        ORDER BY item_id LIMIT :'bucket_items'::bigint + 1
    ) AS x
    WHERE NOT (SELECT fits FROM whole)
), chosen AS MATERIALIZED (
    SELECT ctid FROM picks WHERE n <= :'bucket_items'::bigint ORDER BY item_id LIMIT :'max_items'::bigint
), taken AS (
    DELETE FROM seam_meta.join_queue WHERE ctid = ANY(ARRAY(SELECT ctid FROM chosen))
    RETURNING kind, trace_id, event_id, key1, key2, at, forced, enqueued_at
), claimed AS (
    -- A whole claim copies its items and deletes them (taken_whole) rather than returning
    -- them from the delete, whose returned rows are kept aside first: a million items took
    -- 1.55 s so, 2.4-2.6 s returned (by hand). Every part of one statement reads the same
    -- snapshot, so the copy and the delete see the same items; and no other transaction
    -- deletes items of the buckets this one holds.
    INSERT INTO join_claim
    SELECT * FROM taken
    UNION ALL
    SELECT kind, trace_id, event_id, key1, key2, at, forced, enqueued_at FROM seam_meta.join_queue
    WHERE (SELECT fits FROM whole)
      AND kind = :'kind'::smallint AND bucket = ANY(:'buckets'::int[]) AND (:'bound'::bigint IS NULL OR item_id <= :'bound'::bigint)
    RETURNING 1
), taken_whole AS (
    DELETE FROM seam_meta.join_queue
    WHERE (SELECT fits FROM whole)
      AND kind = :'kind'::smallint AND bucket = ANY(:'buckets'::int[]) AND (:'bound'::bigint IS NULL OR item_id <= :'bound'::bigint)
)
INSERT INTO join_claim_counts
SELECT (SELECT count(*) FROM claimed), 0,
       EXISTS (SELECT 1 FROM picks WHERE n > :'bucket_items'::bigint)
       OR (SELECT count(*) FROM picks) > (SELECT count(*) FROM chosen);

-- The same keys' other pending items in the held buckets are covered by this
-- recomputation too: take them now rather than recompute those keys again later. Only a
-- claim that left items behind can have left any (it took the oldest items of its
-- buckets); and only kinds whose keys collect many items look (sessions, queued by every
-- batch of their events and traces; exposures, by every evaluation; unit changes): for
-- traces and events the search found nothing in a million-event catch-up and cost 6 s.
--
-- By a hash join, whatever the statistics say. The queue's statistics often date from a
-- moment it held no item of this kind (its items come and go by the thousand between two
-- autovacuum visits); the planner then expects one queue row and loops over the claimed
-- keys for every pending item: 20,000 keys times half a million session items, 16 s per
-- claim, 199 s of a 280 s catch-up of a million tag events. Hashed, the statement reads
-- the kind's pending items once (0.44 s for 580,000 of them). A claim that left nothing
-- behind skips it whole: the test becomes a one-time filter above the join.
SET LOCAL enable_nestloop = off;
SET LOCAL enable_mergejoin = off;
WITH more AS (
    DELETE FROM seam_meta.join_queue q
    USING (SELECT DISTINCT :keys FROM join_claim) AS c
    WHERE :'take_more'::boolean AND (SELECT cut FROM join_claim_counts)
      AND q.kind = :'kind'::smallint AND q.bucket = ANY(:'buckets'::int[])
      AND :key_match
    RETURNING q.kind, q.trace_id, q.event_id, q.key1, q.key2, q.at, q.forced, q.enqueued_at
)
INSERT INTO join_claim SELECT * FROM more;
SET LOCAL enable_nestloop TO DEFAULT;
SET LOCAL enable_mergejoin TO DEFAULT;

-- Items older than the horizon are dropped and reported instead of processed.
WITH late AS (DELETE FROM join_claim WHERE NOT forced AND at < now() - :'horizon'::interval RETURNING 1)
UPDATE join_claim_counts SET late = (SELECT count(*) FROM late);

SELECT (SELECT count(*) FROM join_claim) + late, late, cut FROM join_claim_counts;
