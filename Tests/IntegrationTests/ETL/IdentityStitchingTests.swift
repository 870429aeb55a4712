import DatabaseSupport
import Foundation
import SeamETL
import SeamJoin
import SeamLake
import SeamPostgres
import Testing

/// Identity stitching end to end: an anonymous visitor browses, is exposed to an experiment,
/// logs in (a Segment identify) and buys on another device as the user. Whenever the
/// identify arrives — before the events, between them, after them — the purchase and the
/// browsing are one user in `lake.event_facts` (with the same variants) and `lake.sessions`,
/// and one unit in the experiment's results.
@Suite("Identity stitching", .requiresPostgres)
struct IdentityStitchingTests {
    enum Row: CaseIterable {
        case exposure, pageView, productView, identify, purchase
    }

    /// `shift`: seconds added to every time (negative: the visit happened that long ago).
    static func insert(_ row: Row, on pool: PostgresPool, shift: Double = 0) async throws {
        let base = ETLScenario.at(shift)
        func event(_ id: String, _ name: String, after: Double, session: String, anonymous: String?, user: String?, call: String?, properties: String) async throws {
            try await pool.execute(
                """
                INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, session_id, anonymous_id, user_id, protocol, call_type,
                                             properties, context)
                VALUES (md5(\(text: id))::uuid, \(text: name), \(text: base)::timestamptz + \(after) * interval '1 second', now(), \(text: session),
                        \(text: anonymous), \(text: user), 'segment', \(text: call), \(text: properties)::jsonb, '{}')
                """)
        }
        switch row {
        case .exposure:
            try await pool.execute(
                """
                INSERT INTO lake.logs (log_id, time, event_name, flag_key, flag_variant, flag_context_id, session_id)
                VALUES (decode(md5('x-anon'), 'hex'), \(text: base)::timestamptz, 'feature_flag.evaluation', 'checkout', 'treatment', 'anon-7', 's-laptop')
                """)
        case .pageView: try await event("pv", "page_view", after: 10, session: "s-laptop", anonymous: "anon-7", user: nil, call: "page", properties: "{}")
        case .productView:
            try await event("pdv", "product_view", after: 20, session: "s-laptop", anonymous: "anon-7", user: nil, call: "track", properties: #"{"category":"shoes"}"#)
        case .identify: try await event("id", "identify", after: 30, session: "s-laptop", anonymous: "anon-7", user: "user-7", call: "identify", properties: "{}")
        case .purchase:
            // On the phone, logged in: the user id only (a server-side Segment track).
            try await event("buy", "purchase", after: 600, session: "s-phone", anonymous: nil, user: "user-7", call: "track", properties: #"{"revenue":80}"#)
        }
    }

    @Test(
        "the identify before, between and after the events: one user in event_facts and sessions, one converted unit in the results",
        arguments: [(0, 0.0), (2, 0), (4, 0), (4, -5 * 86_400.0)])
    func oneUser(identifyAt position: Int, shift: Double) async throws {
        var order: [Row] = [.exposure, .pageView, .productView, .purchase]
        order.insert(.identify, at: position)
        try await TestDatabase.withLake { pool in
            let worker = JoinWorker(pool: pool)
            // The last case happened five days ago (the events are 140 to 164 hours old,
            // whatever the time of day: within the join's 7-day horizon, far beyond the ETL's
            // 48-hour lookback): the identify, arriving last, is taken in by the change-driven
            // runs. (Six days made the events older than the horizon after 04:00 UTC.)
            let runner = JobRunner(pool: pool, lookbackHours: 48)
            if shift != 0 {
                let from = Date(timeIntervalSince1970: Date().timeIntervalSince1970 + shift - 3 * 86_400)
                _ = try await pool.withConnection { try LakePartitions.ensure(on: $0, covering: from, Date()) }
            }
            for row in order {
                try await Self.insert(row, on: pool, shift: shift)
                _ = try await worker.drain()
                // The ETL runs between arrivals too, incrementally: a late link must reach it.
                try await ETLScenario.runAll(runner, now: Date())
            }
            let events = try await pool.query("SELECT name || ':' || coalesce(resolved_user_id, '-') FROM lake.event_facts ORDER BY occurred_at").rows
                .map { try $0[0].decode(String.self) }
            #expect(events == ["page_view:user-7", "product_view:user-7", "identify:user-7", "purchase:user-7"], "identify at \(position)")
            let variants = try await pool.query("SELECT name || ':' || coalesce(variants ->> 'checkout', '-') FROM lake.event_facts ORDER BY occurred_at").rows
                .map { try $0[0].decode(String.self) }
            #expect(
                variants == ["page_view:treatment", "product_view:treatment", "identify:treatment", "purchase:treatment"],
                "the purchase on the phone carries the variant the anonymous browsing was exposed to (identify at \(position))")
            let sessions = try await pool.query("SELECT session_id || ':' || coalesce(resolved_user_id, '-') FROM lake.sessions ORDER BY 1").rows
                .map { try $0[0].decode(String.self) }
            #expect(sessions == ["s-laptop:user-7", "s-phone:user-7"])

            let units = try await pool.query("SELECT unit_id || ':' || variant || ':' || coalesce(resolved_user_id, '-') FROM lake.experiment_units").rows
                .map { try $0[0].decode(String.self) }
            #expect(units == ["anon-7:treatment:user-7"], "the exposed unit stays the unit analysed")
            let conversion = try await pool.query(
                "SELECT value::float8 FROM lake.experiment_unit_metrics WHERE unit_id = 'anon-7' AND metric = 'purchase_conversion'"
            ).scalar(Double?.self)
            #expect(conversion == 1, "the purchase as user-7 counts for the unit exposed anonymously")
            let revenue = try await pool.query(
                "SELECT value::float8 FROM lake.experiment_unit_metrics WHERE unit_id = 'anon-7' AND metric = 'revenue_per_unit'"
            ).scalar(Double?.self)
            #expect(revenue == 80)
            let views = try await pool.query(
                "SELECT value::float8 FROM lake.experiment_unit_metrics WHERE unit_id = 'anon-7' AND metric = 'product_detail_view'"
            ).scalar(Double?.self)
            #expect(views == 1, "the browsing before the login counts once")

            let features = try await pool.query(
                "SELECT unit_id || ':' || unit_type || ':' || sessions || ':' || product_views || ':' || purchases || ':' || array_to_string(flags_seen, ',') FROM lake.user_features"
            ).rows.map { try $0[0].decode(String.self) }
            #expect(features == ["user-7:user:2:1:1:checkout:treatment"], "one user's features: both devices, the browsing, the flag")
        }
    }
}
