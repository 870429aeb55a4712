import SeamPostgres

/// Claims queue items of one kind for the current transaction.
///
/// Items are hashed by key into buckets (`seam_meta.join_bucket`, `seam_meta.join_buckets()`). A worker takes a transaction-scoped advisory
/// lock on (kind, bucket) with `pg_try_advisory_xact_lock` for every bucket that has
/// work, skips buckets another worker holds, and moves at most `limit` items of the
/// buckets it got into the temporary table `join_claim`, deleting them from the queue. The
/// locks are held until the transaction that writes the results commits, so no two
/// workers ever recompute the same key at once; and because the statements that read the
/// raw and derived tables run after the lock was granted, under READ COMMITTED they see
/// everything the previous holder committed. A crash rolls the deletion back: the items
/// are claimed again.
enum QueueClaim {
    /// Claims of at least this many items refresh the statistics of `join_claim`, which the
    /// stages' plans start from: a backlog's batches need them (plans made for a few rows
    /// are slow for thousands). Smaller claims skip it, as it took milliseconds every
    /// claim: the planner scales the last statistics to the table's current size.
    static let analyzeFrom = 1_000
    /// First key of the (kind, bucket) advisory locks: "SeJo".
    static let lockClass: Int32 = 0x5365_4A6F

    struct Claimed {
        /// Items taken from the queue (the late ones included).
        var items: Int
        /// Items older than the horizon, dropped and reported instead of processed.
        var late: Int
        /// True when the claim left items of its buckets behind: more were waiting (a backlog).
        var full: Bool
        /// The most items the claim could take: its `limit`, or `growTo` when it grew.
        var limit: Int
    }

    /// The advisory lock key of `kind`'s buckets.
    static func lockKey(_ kind: QueueKind) -> Int32 { lockClass &+ Int32(kind.rawValue) }

    /// Buckets locked by this transaction, and whether that is every bucket of the kind.
    struct Held {
        var buckets: [Int32]
        var all: Bool
    }

    /// Takes, for the current transaction, every bucket lock of `kind` that no other
    /// transaction holds; returns those buckets. Holding them is what a claim of `kind`
    /// holds: no other worker computes rows of those buckets until this transaction ends.
    static func lockFreeBuckets(of kind: QueueKind, on c: PostgresConnection) throws -> Held {
        let rows = try c.query(
            """
            SELECT b::integer, n FROM seam_meta.join_buckets() AS n, generate_series(0, n - 1) AS b
            WHERE pg_try_advisory_xact_lock(\(lockKey(kind)), b)
            """
        ).rows
        let buckets = rows.compactMap { try? $0[0].decode(Int32.self) }
        let total = (try? rows.first?[1].decode(Int.self)) ?? nil
        return Held(buckets: buckets, all: total == buckets.count)
    }

    /// The id of the newest item of `kind` visible now (one index descent per bucket), or
    /// nil when there is none.
    static func lastItem(of kind: QueueKind, on c: PostgresConnection) throws -> Int64? {
        try c.query(
            """
            SELECT max(q.item_id) FROM generate_series(0, seam_meta.join_buckets() - 1) AS b
            CROSS JOIN LATERAL (
                SELECT item_id FROM seam_meta.join_queue WHERE kind = \(kind.rawValue) AND bucket = b ORDER BY item_id DESC LIMIT 1
            ) AS q
            """
        ).rows.first?[0].decode(Int64?.self) ?? nil
    }

    /// The statements of `SQL/claim.sql` for a claim of `kind` in `buckets`.
    static func statements(kind: QueueKind, buckets: [Int32], limit: Int, upTo bound: Int64?, horizon: Duration) throws -> [SQLQuery] {
        let keys = kind.keyColumns
        // Each held bucket's share of the claim, rounded up: a backlog's items spread evenly
        // over the buckets (they are hashed keys), so a claim still takes about `limit`.
        let perBucket = (limit + max(1, buckets.count) - 1) / max(1, buckets.count)
        return try JoinSQL.claim.statements([
            "kind": .value(.int16(kind.rawValue)), "buckets": .value(.int32Array(buckets)),
            "bound": .value(bound.map(PostgresValue.int64) ?? .null), "max_items": .value(.int64(Int64(limit))),
            "bucket_items": .value(.int64(Int64(perBucket))), "take_more": .value(.bool(kind.keysCollectItems)),
            "horizon": .value(.interval(horizon)),
            "keys": .fragment(SQLQuery(keys.joined(separator: ", "))),
            "key_match": .fragment(SQLQuery(keys.map { "q.\($0) = c.\($0)" }.joined(separator: " AND "))),
        ])
    }

    /// Claims items of `kind` (with ids up to `bound` when given: later ones wait);
    /// returns nil when no bucket with work could be locked. With `growTo`, a claim whose
    /// held buckets hold more than `limit` pending items (a backlog) takes up to `growTo`
    /// instead: a stage that would otherwise take one ordinary claim and find out only then
    /// (at a million-event catch-up, 20,000 sessions looked up key by key took 2.5 s, a
    /// tenth of what the rest cost in one hashed claim).
    static func claim(
        kind: QueueKind, limit: Int, growTo: Int? = nil, upTo bound: Int64? = nil, horizon: Duration, on c: PostgresConnection
    ) throws -> Claimed? {
        // One round trip: the buckets with work whose lock this transaction got (CASE makes
        // PostgreSQL try the lock only where there is work), and with `growTo` their pending
        // items counted up to one more than `limit` (an index-only range scan).
        let peek = growTo.map { $0 > limit && limit < Int.max ? limit + 1 : 0 } ?? 0
        let rows = try c.query(
            """
            WITH held AS MATERIALIZED (
                SELECT b::integer AS b FROM generate_series(0, seam_meta.join_buckets() - 1) AS b
                WHERE CASE WHEN EXISTS (SELECT 1 FROM seam_meta.join_queue q
                                        WHERE q.kind = \(kind.rawValue) AND q.bucket = b AND (\(bound)::bigint IS NULL OR q.item_id <= \(bound)))
                           THEN pg_try_advisory_xact_lock(\(lockKey(kind)), b) ELSE false END
            )
            SELECT b, (SELECT count(*) FROM (
                          SELECT 1 FROM seam_meta.join_queue q
                          WHERE q.kind = \(kind.rawValue) AND q.bucket IN (SELECT b FROM held)
                            AND (\(bound)::bigint IS NULL OR q.item_id <= \(bound))
                          LIMIT \(peek)) AS p)
            FROM held
            """
        ).rows
        let held = rows.compactMap { try? $0[0].decode(Int32.self) }
        guard !held.isEmpty else { return nil }
        let pending = (try? rows.first?[1].decode(Int.self)) ?? 0
        let limit = growTo.flatMap { $0 > limit && pending > limit ? $0 : nil } ?? limit
        // One round trip for the rest (a pipeline of SQL/claim.sql). Round trips matter:
        // under load the worker and its backend each wait for a core at every one.
        let results = try c.pipeline(try statements(kind: kind, buckets: held, limit: limit, upTo: bound, horizon: horizon))
        guard let counts = results.last, counts.rowCount == 1 else { return nil }
        let items = try counts[0][0].decode(Int.self), late = try counts[0][1].decode(Int.self)
        if items >= analyzeFrom {
            try c.executeScript("ANALYZE join_claim (\(unescaped: kind.keyColumns.joined(separator: ", ")))")
        }
        return Claimed(items: items, late: late, full: try counts[0][2].decode(Bool.self), limit: limit)
    }
}
