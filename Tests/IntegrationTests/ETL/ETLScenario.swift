import Foundation
import Logging
import SeamETL
import SeamJoin
import SeamLake
import SeamPostgres
import DatabaseSupport
import Testing

/// A small shop day whose experiment results and segment metrics are known by hand.
///
/// Experiment "checkout" (units are flag contexts = anonymous ids), base time B = 04:00 UTC
/// yesterday; every visitor has one client session "s-<id>" starting at the first event:
///
/// | unit | variant | exposed | events (seconds after exposure) | traces (ms) | device |
/// |---|---|---|---|---|---|
/// | a1 | control | B | page_view 10, product_view(shoes) 15, add_to_basket 60, purchase 100 at 120 | page_view 200 | mobile |
/// | a2 | control | B+1h | page_view 5, product_view(shirts) 30 | | desktop |
/// | a3 | treatment | B+2h | page_view 5, purchase 50 at 300 | page_view 400 | mobile |
/// | a4 | treatment | B+3h | page_view 5, product_view(shoes) 10, add_to_basket 20, purchase 30 at 40 | page_view 100, product_view 300 | desktop |
/// | a5 | treatment | B+3h30 | page_view 5 | | (none) |
/// | a6 | control, then treatment | B+4h | page_view 5 | | mobile |
struct ETLScenario {
    static let base: Date = {
        let midnight = (Date().timeIntervalSince1970 / 86_400).rounded(.down) * 86_400
        return Date(timeIntervalSince1970: midnight - 20 * 3600)
    }()

    static func at(_ seconds: Double) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: base.addingTimeInterval(seconds))
    }

    struct Visitor {
        var id: String
        var variants: [String]
        var exposed: Double
        var events: [(name: String, after: Double, properties: String, traceMs: Double?)]
        var device: String?
    }

    static let visitors: [Visitor] = [
        Visitor(
            id: "a1", variants: ["control"], exposed: 0,
            events: [
                ("page_view", 10, "{}", 200), ("product_view", 15, #"{"category":"shoes"}"#, nil), ("add_to_basket", 60, "{}", nil),
                ("purchase", 120, #"{"revenue":100}"#, nil),
            ], device: "mobile"),
        Visitor(
            id: "a2", variants: ["control"], exposed: 3600,
            events: [("page_view", 5, "{}", nil), ("product_view", 30, #"{"category":"shirts"}"#, nil)], device: "desktop"),
        Visitor(
            id: "a3", variants: ["treatment"], exposed: 7200,
            events: [("page_view", 5, "{}", 400), ("purchase", 300, #"{"revenue":50}"#, nil)], device: "mobile"),
        Visitor(
            id: "a4", variants: ["treatment"], exposed: 10800,
            events: [
                ("page_view", 5, "{}", 100), ("product_view", 10, #"{"category":"shoes"}"#, 300), ("add_to_basket", 20, "{}", nil),
                ("purchase", 40, #"{"revenue":30}"#, nil),
            ], device: "desktop"),
        Visitor(id: "a5", variants: ["treatment"], exposed: 12600, events: [("page_view", 5, "{}", nil)], device: nil),
        Visitor(id: "a6", variants: ["control", "treatment"], exposed: 14400, events: [("page_view", 5, "{}", nil)], device: "mobile"),
    ]

    /// Inserts the raw rows of `visitors` and runs the join until its queue is empty.
    static func load(_ visitors: [Visitor], into pool: PostgresPool) async throws {
        var eventNumber = 0
        for visitor in visitors {
            for (index, variant) in visitor.variants.enumerated() {
                let time = at(visitor.exposed + Double(index) * 60)
                try await pool.execute(
                    """
                    INSERT INTO lake.logs (log_id, time, event_name, flag_key, flag_variant, flag_context_id, session_id)
                    VALUES (decode(md5($1), 'hex'), $2::timestamptz, 'feature_flag.evaluation', 'checkout', $3, $4, $5)
                    """, [.text("\(visitor.id)-\(index)"), .text(time), .text(variant), .text(visitor.id), .text("s-\(visitor.id)")])
            }
            for event in visitor.events {
                eventNumber += 1
                let time = visitor.exposed + event.after
                var traceID: PostgresValue = .null
                if let ms = event.traceMs {
                    let trace = String(format: "%032x", 0xABC000 + eventNumber)
                    traceID = .text(trace)
                    try await pool.execute(
                        """
                        INSERT INTO lake.spans (trace_id, span_id, name, kind, service_name, start_time, end_time, status_code, session_id, http_route, received_at)
                        VALUES (decode($1, 'hex'), decode(substr(md5($1), 1, 16), 'hex'), 'GET', 2, 'web', $2::timestamptz,
                                $2::timestamptz + $3 * interval '1 millisecond', 0, $4, '/page', now())
                        """, [traceID, .text(at(time - 0.5)), .float64(ms), .text("s-\(visitor.id)")])
                }
                let context = visitor.device.map { #"{"device":"\#($0)"}"# } ?? "{}"
                try await pool.execute(
                    """
                    INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, session_id, anonymous_id, trace_id, page_path, properties, context)
                    VALUES (md5($1)::uuid, $2, $3::timestamptz, now(), $4, $5, decode($6, 'hex'), '/p', $7::jsonb, $8::jsonb)
                    """,
                    [
                        // Unique across loads (a visitor's events lie at different times): an
                        // event id is stored once (lake.tag_event_ids), and a second raw row
                        // with a stored id is something ingestion never writes.
                        .text("\(visitor.id)@\(time)"), .text(event.name), .text(at(time)), .text("s-\(visitor.id)"),
                        .text(visitor.id), traceID, .text(event.properties), .text(context),
                    ])
            }
        }
        _ = try await JoinWorker(pool: pool).drain()
    }

    /// The configuration of the tests: one rule segment, the checkout experiment with both dimensions.
    static var configuration: ETLConfiguration {
        var configuration = ETLConfiguration(lookbackHours: 48)
        configuration.segments = [.init(name: "big_spenders", description: "Revenue of 50 or more", predicate: "revenue >= 50")]
        configuration.experiments = [
            .init(
                key: "checkout", control: "control", weights: ["control": 1, "treatment": 1],
                primaryMetrics: ["purchase_conversion"], guardrailMetrics: ["server_duration"],
                secondaryMetrics: ["add_to_basket", "product_detail_view", "revenue_per_unit", "time_to_first_action", "personalization_reward"],
                dimensions: [.segment, .device])
        ]
        return configuration
    }

    /// The test configuration plus a metric capped at a percentile and CUPED over one day.
    static var extendedConfiguration: ETLConfiguration {
        var configuration = configuration
        configuration.define(
            .init(name: "revenue_capped", kind: .mean, selector: .init(events: ["purchase"], value: .revenue), cap: .percentile(0.75)))
        configuration.experiments[0].secondaryMetrics.append("revenue_capped")
        configuration.experiments[0].cupedDays = 1
        return configuration
    }

    /// Runs every job once (in order) and expects each to succeed.
    @discardableResult
    static func runAll(
        _ runner: JobRunner, _ configuration: ETLConfiguration = configuration, trigger: JobRunner.Trigger = .manual,
        window: JobWindow? = nil, now: Date
    ) async throws -> [JobRunner.Report] {
        var reports: [JobRunner.Report] = []
        for job in makeJobs(configuration) {
            let report = await runner.run(job, trigger: trigger, window: window, now: now)
            #expect(report.status == .succeeded, "\(report)")
            reports.append(report)
        }
        return reports
    }

    /// Every ETL output row as JSON text, leaving out the columns that record when it was
    /// computed (`ignoring`): equal snapshots mean equal tables.
    static func snapshot(_ pool: PostgresPool, ignoring: [String] = []) async throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        let drop = ignoring.map { " - '\($0)'" }.joined()
        for table in [
            "user_features", "segment_members", "segment_metrics", "experiment_units", "experiment_unit_metrics", "experiments",
            "experiment_results",
        ] {
            result[table] = try await pool.query("SELECT (to_jsonb(t)\(unescaped: drop))::text AS j FROM lake.\(unescaped: table) AS t ORDER BY 1").rows.map {
                try $0[0].decode(String.self)
            }
        }
        // The sums kept by exposure day for the console's cumulative lift, maintained by the
        // same additions and subtractions as the reported ones.
        result["experiment_sums by exposure_day"] = try await pool.query(
            "SELECT to_jsonb(t)::text FROM seam_meta.experiment_sums AS t WHERE dimension = 'exposure_day' ORDER BY 1"
        ).rows.map { try $0[0].decode(String.self) }
        return result
    }
}
