import DatabaseSupport
import Foundation
import SeamPostgres
import Testing

/// `lake.identities` (migration 0010): links captured from tag events and spans as they are
/// stored, the same whatever the order and batching of the rows; `lake.resolve_user`.
@Suite("Identity links", .requiresPostgres)
struct IdentitiesTests {
    /// One raw row of the scenario: a tag event or a span, minutes before now.
    enum Row {
        case event(anonymous: String?, user: String?, session: String?, previous: String?, protocol: String, call: String?, minutesAgo: Int)
        case span(session: String, user: String, minutesAgo: Int)

        func insert(on pool: PostgresPool) async throws {
            switch self {
            case .event(let anonymous, let user, let session, let previous, let proto, let call, let minutesAgo):
                try await pool.execute(
                    """
                    INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, anonymous_id, user_id, session_id, previous_id,
                                                 protocol, call_type, properties, context)
                    VALUES (\(UUID()), 'e', now() - make_interval(mins => \(minutesAgo)::int), now(), \(text: anonymous), \(text: user), \(text: session),
                            \(text: previous), \(text: proto), \(text: call), '{}', '{}')
                    """)
            case .span(let session, let user, let minutesAgo):
                let id = (0..<16).map { _ in UInt8.random(in: 1...255) }
                try await pool.execute(
                    """
                    INSERT INTO lake.spans (trace_id, span_id, name, start_time, end_time, session_id, user_id)
                    VALUES (\(id), \(Array(id.prefix(8))), 'GET /', now() - make_interval(mins => \(minutesAgo)::int),
                            now() - make_interval(mins => \(minutesAgo)::int) + interval '1 second', \(text: session), \(text: user))
                    """)
            }
        }
    }

    static let scenario: [Row] = [
        .event(anonymous: "a1", user: nil, session: "s1", previous: nil, protocol: "seam", call: nil, minutesAgo: 90),
        .event(anonymous: "a1", user: "u1", session: "s1", previous: nil, protocol: "segment", call: "identify", minutesAgo: 80),
        // The same link shown again later, by another kind of event: the earliest evidence stays.
        .event(anonymous: "a1", user: "u1", session: "s1", previous: nil, protocol: "seam", call: nil, minutesAgo: 70),
        .event(anonymous: nil, user: "u1", session: nil, previous: "a2", protocol: "segment", call: "alias", minutesAgo: 60),
        .event(anonymous: "c9", user: "u1", session: nil, previous: nil, protocol: "ga4", call: "event", minutesAgo: 50),
        .event(anonymous: "a3", user: nil, session: "s7", previous: nil, protocol: "seam", call: nil, minutesAgo: 40),
        .span(session: "s7", user: "u2", minutesAgo: 45),
        // A chain: u1 is later known as u9.
        .event(anonymous: nil, user: "u9", session: nil, previous: "u1", protocol: "segment", call: "alias", minutesAgo: 30),
        // A shared device: a1 later logs in as u5.
        .event(anonymous: "a1", user: "u5", session: "s3", previous: nil, protocol: "seam", call: nil, minutesAgo: 20),
        // A cycle: u9 aliased back to a1.
        .event(anonymous: nil, user: "a1", session: nil, previous: "u9", protocol: "segment", call: "alias", minutesAgo: 10),
    ]

    static let expected: [[String]] = [
        ["a1", "u1", "identify", "80"], ["a1", "u5", "event", "20"], ["a2", "u1", "alias", "60"], ["a3", "u2", "span", "40"],
        ["c9", "u1", "ga4", "50"], ["u1", "u9", "alias", "30"], ["u9", "a1", "alias", "10"],
    ]

    static func links(_ pool: PostgresPool) async throws -> [[String]] {
        let rows = try await pool.query(
            """
            SELECT anonymous_id, user_id, source, round(extract(epoch FROM now() - first_seen) / 60)::int::text
            FROM lake.identities ORDER BY 1, 2
            """)
        return try rows.rows.map { row in try (0..<4).map { try row[$0].decode(String.self) } }
    }

    @Test("the same rows give the same links in any order: forwards, backwards, spans last, shuffled")
    func orderIndependent() async throws {
        let orders: [[Row]] = [Self.scenario, Self.scenario.reversed(), Self.scenario.filter { if case .event = $0 { true } else { false } }
            + Self.scenario.filter { if case .span = $0 { true } else { false } }]
        for (n, order) in orders.enumerated() {
            try await TestDatabase.withLake { pool in
                for row in order { try await row.insert(on: pool) }
                #expect(try await Self.links(pool) == Self.expected, "order \(n)")
            }
        }
        try await TestDatabase.withLake { pool in
            for row in Self.scenario.shuffled() { try await row.insert(on: pool) }
            #expect(try await Self.links(pool) == Self.expected, "shuffled")
        }
    }

    @Test("resolve_user follows the earliest link, then chains; in a cycle the latest link is ignored; an id without a link is itself")
    func resolution() async throws {
        try await TestDatabase.withLake { pool in
            for row in Self.scenario { try await row.insert(on: pool) }
            func resolve(_ id: String) async throws -> String? {
                try await pool.query("SELECT lake.resolve_user(\(text: id))").scalar(String?.self)
            }
            // a1 -> u1 (first link, not u5) -> u9 -> a1 is a cycle: stop at u9.
            #expect(try await resolve("a1") == "u9")
            #expect(try await resolve("a2") == "u9")
            #expect(try await resolve("c9") == "u9")
            #expect(try await resolve("a3") == "u2")
            #expect(try await resolve("u5") == "u5")
            #expect(try await resolve("nobody") == "nobody")
            #expect(try await pool.query("SELECT lake.resolve_user(NULL)").scalar(String?.self) == nil)
        }
    }

    @Test("a span and a session's event stored by concurrent transactions still link, whichever commits first")
    func concurrentTransactions() async throws {
        for spanFirst in [true, false] {
            try await TestDatabase.withLake { pool in
                let url = pool.configuration.connectionString
                let first = try PostgresConnection(url)
                let event: SQLQuery = """
                    INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, anonymous_id, session_id, properties, context)
                    VALUES (\(UUID()), 'e', now(), now(), 'a-c', 's-c', '{}', '{}')
                    """
                let span: SQLQuery = """
                    INSERT INTO lake.spans (trace_id, span_id, name, start_time, end_time, session_id, user_id)
                    VALUES (\(Array(repeating: UInt8(7), count: 16)), \(Array(repeating: UInt8(7), count: 8)), 'GET /', now(), now(), 's-c', 'u-c')
                    """
                try first.executeScript("BEGIN")
                try first.execute(spanFirst ? span : event)
                // The second transaction's trigger waits for the first's session lock, then
                // sees its row once committed.
                let secondRow = spanFirst ? event : span
                let second = Task {
                    try await pool.withConnection { c in
                        try c.executeScript("BEGIN")
                        try c.execute(secondRow)
                        try c.executeScript("COMMIT")
                    }
                }
                try await Task.sleep(for: .milliseconds(300))
                try first.executeScript("COMMIT")
                try await second.value
                let links = try await pool.query("SELECT anonymous_id, user_id, source FROM lake.identities").rows.map { row in
                    try (0..<3).map { try row[$0].decode(String.self) }
                }
                #expect(links == [["a-c", "u-c", "span"]], "span first: \(spanFirst)")
            }
        }
    }

    /// Migration 0020. A day's partition has no statistics until autovacuum analyzes it, and
    /// the triggers' joins with the whole other table were then planned as a scan of the day
    /// for every stored batch. The batch's sessions are now looked up through an index.
    @Test("the triggers look the batch's sessions up by index, not by reading the other table's day (unanalyzed) whole")
    func lookupsBySession() async throws {
        try await TestDatabase.withLake { pool in
            // 20,000 spans and 20,000 tag events in 2,000 sessions of today, never analyzed
            // (autovacuum off for today's partitions: with statistics, a table this small may
            // rightly be read whole); the spans of sessions 300-399 carry a user, the others none.
            try await pool.execute(
                """
                DO $$
                DECLARE day text := to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD');
                BEGIN
                    EXECUTE format('ALTER TABLE lake.%I SET (autovacuum_enabled = off)', 'spans_p' || day);
                    EXECUTE format('ALTER TABLE lake.%I SET (autovacuum_enabled = off)', 'tag_events_p' || day);
                END $$
                """)
            try await pool.execute(
                """
                INSERT INTO lake.spans (trace_id, span_id, name, start_time, end_time, session_id, user_id)
                SELECT decode(lpad(to_hex(g), 32, '0'), 'hex'), decode(lpad(to_hex(g), 16, '0'), 'hex'), 'GET /', now(), now(),
                       's-' || g % 2000, CASE WHEN g % 2000 BETWEEN 300 AND 399 THEN 'u-' || g % 2000 END
                FROM generate_series(1, 20000) AS g
                """)
            try await pool.execute(
                """
                INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, anonymous_id, session_id, properties, context)
                SELECT gen_random_uuid(), 'e', now(), now(), 'a-' || g % 2000, 's-' || g % 2000, '{}', '{}'
                FROM generate_series(1, 20000) AS g
                """)
            let days = try await pool.query(
                """
                SELECT (SELECT DISTINCT tableoid::regclass::text FROM lake.spans),
                       (SELECT DISTINCT tableoid::regclass::text FROM lake.tag_events)
                """)
            let (spansDay, eventsDay) = (try days.rows[0][0].decode(String.self), try days.rows[0][1].decode(String.self))
            // In one transaction: tag events of new visitors in sessions 300-399 (linked to their
            // spans' users), and spans with users in sessions 500-599 (linked to their events).
            // pg_stat_xact_user_tables also counts what earlier transactions of the connection did
            // and have not yet reported: the counts before and after are compared. A connection of
            // its own: PL/pgSQL keeps a trigger statement's plan for the connection's life, and a
            // pooled connection may hold one made while today's tables were still empty (by the
            // inserts above), when reading them whole was the cheapest plan.
            let scans = try { () throws -> [Int] in
                let c = try PostgresConnection(pool.configuration.connectionString)
                func seqScans() throws -> [Int] {
                    let row = try c.query(
                        """
                        SELECT coalesce(sum(seq_scan) FILTER (WHERE relid = \(text: spansDay)::regclass), 0)::int,
                               coalesce(sum(seq_scan) FILTER (WHERE relid = \(text: eventsDay)::regclass), 0)::int
                        FROM pg_stat_xact_user_tables
                        """
                    ).rows[0]
                    return [try row[0].decode(Int.self), try row[1].decode(Int.self)]
                }
                try c.executeScript("BEGIN")
                let before = try seqScans()
                _ = try c.execute(
                    """
                    INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, anonymous_id, session_id, properties, context)
                    SELECT gen_random_uuid(), 'e', now(), now(), 'b-' || g, 's-' || g, '{}', '{}' FROM generate_series(300, 399) AS g
                    """)
                _ = try c.execute(
                    """
                    INSERT INTO lake.spans (trace_id, span_id, name, start_time, end_time, session_id, user_id)
                    SELECT decode(lpad(to_hex(100000 + g), 32, '0'), 'hex'), decode(lpad(to_hex(g), 16, '0'), 'hex'), 'GET /', now(), now(),
                           's-' || g, 'u-' || g
                    FROM generate_series(500, 599) AS g
                    """)
                let after = try seqScans()
                try c.executeScript("COMMIT")
                return [after[0] - before[0], after[1] - before[1]]
            }()
            #expect(scans == [0, 0], "sequential scans of today's spans and tag events")
            let links = try await pool.query(
                """
                SELECT count(*) FILTER (WHERE anonymous_id = 'b-' || substr(user_id, 3)),
                       count(*) FILTER (WHERE anonymous_id = 'a-' || substr(user_id, 3) AND substr(user_id, 3)::int BETWEEN 500 AND 599),
                       count(*)
                FROM lake.identities WHERE source = 'span'
                """)
            // b-300..399 to u-300..399; a-500..599 to u-500..599; and the 100 links a-300..399 to
            // u-300..399 the first inserts made.
            #expect(try (0..<3).map { try links.rows[0][$0].decode(Int.self) } == [100, 100, 300])
        }
    }

    /// Migration 0020. A new link queues the exposures of the ids it affects; they were
    /// found by reading every exposure of every experiment (22 s for 100 identify calls over
    /// 500,000 exposures, in the loader's transaction).
    @Test("a late link queues its ids' exposures again through indexes, not by reading lake.exposures whole")
    func linkedExposures() async throws {
        try await TestDatabase.withLake { pool in
            // 20,000 exposures in 5 experiments, half of them session units whose session had
            // one of 1,000 users; the unit user-8 evaluated in each experiment.
            try await pool.execute(
                """
                INSERT INTO lake.exposures (experiment_key, unit_id, unit_type, variant, first_exposed_at, last_exposed_at,
                                            user_id, evaluation_count, variants, multiple_variants)
                SELECT 'exp-' || g % 5, 'unit-' || g, CASE WHEN g % 2 = 0 THEN 'session' ELSE 'user' END, 'control', now(), now(),
                       'user-' || g % 1000, 1, '{control}', false
                FROM generate_series(1, 20000) AS g
                """)
            try await pool.execute(
                """
                INSERT INTO lake.logs (log_id, time, observed_time, flag_key, flag_variant, flag_context_id, attributes, resource, received_at)
                SELECT decode(md5('evaluation ' || g), 'hex'), now(), now(), 'exp-' || g, 'control', 'user-8', '{}', '{}', now()
                FROM generate_series(0, 4) AS g
                """)
            try await pool.execute("DELETE FROM seam_meta.join_queue")
            let (scans, queued) = try await pool.withConnection { c -> (Int, [String]) in
                func seqScans() throws -> Int {
                    try c.query("SELECT coalesce(sum(seq_scan), 0)::int FROM pg_stat_xact_user_tables WHERE relid = 'lake.exposures'::regclass")
                        .scalar(Int.self)
                }
                try c.executeScript("BEGIN")
                let before = try seqScans()
                // user-8 is later known as u-new: the exposures that resolve through user-8 change.
                _ = try c.execute(
                    """
                    INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, user_id, previous_id, protocol, call_type, properties, context)
                    VALUES (gen_random_uuid(), 'alias', now(), now(), 'u-new', 'user-8', 'segment', 'alias', '{}', '{}')
                    """)
                let after = try seqScans()
                let queued = try c.query(
                    "SELECT key1 || ' ' || key2 FROM seam_meta.join_queue WHERE kind = seam_meta.join_kind('exposure') ORDER BY 1"
                ).rows.map { try $0[0].decode(String.self) }
                try c.executeScript("COMMIT")
                return (after - before, queued)
            }
            #expect(scans == 0, "sequential scans of lake.exposures")
            let expected = try await pool.query(
                """
                SELECT experiment_key || ' ' || unit_id FROM lake.exposures WHERE unit_type = 'session' AND user_id = 'user-8'
                UNION ALL SELECT 'exp-' || g || ' user-8' FROM generate_series(0, 4) AS g
                ORDER BY 1
                """
            ).rows.map { try $0[0].decode(String.self) }
            #expect(expected.count == 25)
            #expect(queued == expected)
            // Once per stored batch: never JIT-compiled (compiling the statement above took 1.9 s).
            let withoutJIT = try await pool.query(
                """
                SELECT proname FROM pg_proc
                WHERE pronamespace = 'seam_meta'::regnamespace AND 'jit=off' = ANY(proconfig)
                  AND proname IN ('record_identities', 'identities_from_tag_events', 'identities_from_spans')
                ORDER BY 1
                """
            ).rows.map { try $0[0].decode(String.self) }
            #expect(withoutJIT == ["identities_from_spans", "identities_from_tag_events", "record_identities"])
        }
    }
}
