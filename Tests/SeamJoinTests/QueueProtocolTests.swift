import DatabaseSupport
import Foundation
import SeamPostgres
import TestSupport
import Testing

@testable import SeamJoin

/// The join queue's protocol is defined once in SQL (migration 0008) and named once in
/// Swift (`QueueKind`): these tests hold the two together.
@Suite("Join queue protocol", .requiresPostgres)
struct QueueProtocolTests {
    /// One claim of `kind` in a transaction of its own, as a stage makes it (a day's horizon).
    static func claim(_ kind: QueueKind, limit: Int, on c: PostgresConnection) throws -> QueueClaim.Claimed? {
        try c.transaction { c in try QueueClaim.claim(kind: kind, limit: limit, horizon: .seconds(86_400), on: c) }
    }

    @Test("SQL numbers every kind as Swift does, and the worker's check passes")
    func kindsAgree() async throws {
        try await TestDatabase.withLake { pool in
            try await pool.withConnection { c in
                for kind in QueueKind.allCases {
                    #expect(try c.query("SELECT seam_meta.join_kind(\(text: kind.label))").scalar(Int16.self) == kind.rawValue)
                }
                #expect(try c.query("SELECT seam_meta.join_kind('no such kind') IS NULL").scalar(Bool.self))
                try QueueKind.verify(on: c)
            }
        }
    }

    @Test("a database that numbers a kind differently stops the worker with the reason")
    func mismatchIsCaught() async throws {
        try await TestDatabase.withLake { pool in
            try await pool.withConnection { c in
                try c.executeScript(
                    """
                    CREATE OR REPLACE FUNCTION seam_meta.join_kind(name text) RETURNS smallint LANGUAGE sql IMMUTABLE AS $$
                        SELECT (CASE name WHEN 'trace' THEN 1 WHEN 'exposure' THEN 2 WHEN 'event' THEN 3 WHEN 'session' THEN 4
                                          WHEN 'trace_changed' THEN 6 WHEN 'unit_changed' THEN 7 END)::smallint $$
                    """)
                let error = try #require(throws: QueueKind.Mismatch.self) { try QueueKind.verify(on: c) }
                #expect(error.description.contains("join_kind('session') is 4"))
            }
        }
    }

    @Test("buckets are the ones queued items had before the protocol moved into SQL (0004's formulas)")
    func bucketsUnchanged() async throws {
        var random = SplitMix64(seed: 0x5EA4_0008)
        let keys = (0..<200).map { _ in random.hex(bytes: 1 + Int(random.next(below: 24))) }
        try await TestDatabase.withLake { pool in
            try await pool.withConnection { c in
                #expect(try c.query("SELECT seam_meta.join_buckets()").scalar(Int.self) == 16)
                for key in keys {
                    let row = try #require(
                        try c.query(
                            """
                            SELECT seam_meta.join_bucket(\(text: key)) = hashtext(\(text: key)) & 15,
                                   seam_meta.join_bucket(\(text: key), \(text: key + "u")) = hashtext(\(text: key) || E'\\x1f' || \(text: key + "u")) & 15,
                                   seam_meta.join_bucket(decode(md5(\(text: key)), 'hex')) = get_byte(decode(md5(\(text: key)), 'hex'), 15) & 15,
                                   seam_meta.join_bucket(seam_meta.join_kind('event'), NULL, gen_random_uuid(), \(text: key), NULL)
                                       = seam_meta.join_bucket(\(text: key)),
                                   seam_meta.join_bucket(seam_meta.join_kind('exposure'), NULL, NULL, \(text: key), \(text: "u"))
                                       = seam_meta.join_bucket(\(text: key), \(text: "u"))
                            """
                        ).first)
                    for column in 0..<5 { #expect(try row[column].decode(Bool.self), "key \(key), column \(column)") }
                }
            }
        }
    }

    @Test("items the triggers queue land in the buckets a claim takes")
    func triggersAndClaimsAgree() async throws {
        try await TestDatabase.withLake { pool in
            try await pool.withConnection { c in
                try c.execute(
                    """
                    INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, anonymous_id, properties, context)
                    SELECT gen_random_uuid(), 'page_view', now(), now(), 'visitor-' || i, '{}', '{}' FROM generate_series(1, 50) AS i
                    """)
                let queued = try c.query(
                    "SELECT count(*) FROM seam_meta.join_queue WHERE kind = \(QueueKind.event.rawValue) AND bucket = seam_meta.join_bucket(key1)"
                ).scalar(Int.self)
                #expect(queued == 50)
                #expect(try Self.claim(.event, limit: 1_000, on: c)?.items == 50)
                #expect(try c.query("SELECT count(*) FROM seam_meta.join_queue WHERE kind = \(QueueKind.event.rawValue)").scalar(Int.self) == 0)
            }
        }
    }

    @Test("a full claim takes its keys' other items by a hash join even when the queue's statistics say it holds none of the kind")
    func moreItemsWhateverTheStatistics() async throws {
        try await TestDatabase.withLake { pool in
            try await pool.withConnection { c in
                // Statistics from a moment the queue held only trace items; then 120,000 session
                // items, three for each of 40,000 sessions, interleaved as the trace stage queues
                // them. (The planner loops only for claims of thousands: 20,000 here, the default.)
                try c.executeScript(
                    """
                    ALTER TABLE seam_meta.join_queue SET (autovacuum_enabled = off);
                    INSERT INTO seam_meta.join_queue (kind, bucket, trace_id, at)
                    SELECT 1, seam_meta.join_bucket(t), t, now() FROM (SELECT decode(md5(i::text), 'hex') FROM generate_series(1, 5000) AS i) AS g(t);
                    ANALYZE seam_meta.join_queue;
                    DELETE FROM seam_meta.join_queue;
                    INSERT INTO seam_meta.join_queue (kind, bucket, key1, at)
                    SELECT 5, seam_meta.join_bucket('session-' || (i % 40000)), 'session-' || (i % 40000), now() FROM generate_series(0, 119999) AS i;
                    """)
                let buckets = (0..<16).map(Int32.init)
                let statements = try QueueClaim.statements(kind: .session, buckets: buckets, limit: 20_000, upTo: nil, horizon: .seconds(86_400))
                let more = try #require(statements.firstIndex { $0.sql.contains("WITH more AS") })
                // The statements before it, then its plan; rolled back, so the items stay queued.
                try c.executeScript("BEGIN")
                _ = try c.pipeline(Array(statements[..<more]))
                let plan = try c.query(SQLQuery("EXPLAIN " + statements[more].sql, binds: statements[more].binds)).rows
                    .map { try $0[0].decode(String.self) }.joined(separator: "\n")
                try c.executeScript("ROLLBACK")
                #expect(plan.contains("Hash Join"), "\(plan)")
                #expect(!plan.contains("Nested Loop"), "\(plan)")
                // The claim: 20,000 items name 20,000 sessions; their 40,000 other items come along.
                let claimed = try c.transaction { c in
                    let claimed = try QueueClaim.claim(kind: .session, limit: 20_000, horizon: .seconds(86_400), on: c)
                    // The stages' lookups after the claim plan with nested loops again.
                    #expect(try c.query("SHOW enable_nestloop").scalar(String.self) == "on")
                    #expect(try c.query("SHOW enable_mergejoin").scalar(String.self) == "on")
                    return claimed
                }
                #expect(claimed?.items == 60_000)
                #expect(claimed?.full == true)
                #expect(try c.query("SELECT count(DISTINCT key1) FROM seam_meta.join_queue WHERE kind = 5").scalar(Int.self) == 20_000)
                #expect(try c.query("SELECT count(*) FROM seam_meta.join_queue WHERE kind = 5").scalar(Int.self) == 60_000)
            }
        }
    }

    /// 64 sessions with one item each, over the 16 buckets.
    static func queueSessions(on c: PostgresConnection) throws {
        try c.execute(
            """
            INSERT INTO seam_meta.join_queue (kind, bucket, key1, at)
            SELECT 5, seam_meta.join_bucket('s-' || i), 's-' || i, now() FROM generate_series(1, 64) AS i
            """)
    }

    @Test("a claim takes at most its limit, spread over the buckets, and says whether it left items behind")
    func claimLimits() async throws {
        try await TestDatabase.withLake { pool in
            try await pool.withConnection { c in
                try Self.queueSessions(on: c)
                #expect(try c.query("SELECT count(DISTINCT bucket) FROM seam_meta.join_queue").scalar(Int.self) > 8)
                func claim(_ limit: Int) throws -> QueueClaim.Claimed? { try Self.claim(.session, limit: limit, on: c) }
                // One item, as when the worker isolates a key that fails, though 16 buckets are held.
                let one = try #require(try claim(1))
                #expect(one.items == 1 && one.full)
                let ten = try #require(try claim(10))
                #expect(ten.items == 10 && ten.full)
                // The rest, and nothing left behind.
                let rest = try #require(try claim(1_000))
                #expect(rest.items == 53 && !rest.full)
                #expect(try claim(1_000) == nil)
            }
        }
    }

    @Test("a claim allowed to grow takes up to its larger limit when its buckets hold more than its own, else its own")
    func claimGrowth() async throws {
        try await TestDatabase.withLake { pool in
            try await pool.withConnection { c in
                try Self.queueSessions(on: c)
                func claim(_ limit: Int, growTo: Int?) throws -> QueueClaim.Claimed? {
                    try c.transaction { c in
                        try QueueClaim.claim(kind: .session, limit: limit, growTo: growTo, horizon: .seconds(86_400), on: c)
                    }
                }
                // 64 waiting, more than 10: the claim grows to 40 (and leaves 24 behind).
                let grown = try #require(try claim(10, growTo: 40))
                #expect(grown.limit == 40 && grown.items == 40 && grown.full)
                // Without growTo, or with one no larger, it stays at its limit.
                let plain = try #require(try claim(10, growTo: nil))
                #expect(plain.limit == 10 && plain.items == 10 && plain.full)
                let same = try #require(try claim(5, growTo: 5))
                #expect(same.limit == 5 && same.items == 5)
                // 9 waiting, no more than 9: no backlog, no growth.
                let rest = try #require(try claim(9, growTo: 1_000))
                #expect(rest.limit == 9 && rest.items == 9 && !rest.full)
                #expect(try claim(10, growTo: 1_000) == nil)
            }
        }
    }
}
