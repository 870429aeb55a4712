import Foundation
import Logging
@testable import SeamETL
import SeamJoin
import SeamLake
import SeamPostgres
import DatabaseSupport
import Testing

@Suite("ETL jobs", .requiresPostgres)
struct ETLTests {
    /// A fresh lake with the scenario loaded and joined.
    func withScenario(_ body: (PostgresPool) async throws -> Void) async throws {
        try await TestDatabase.withLake { pool in
            try await ETLScenario.load(ETLScenario.visitors, into: pool)
            try await body(pool)
        }
    }

    static let now = ETLScenario.base.addingTimeInterval(86_400)

    /// The scenario with the extended configuration (a percentile-capped metric and CUPED, so
    /// that those paths are incremental too), every job run once in full.
    func withComputedScenario(
        _ body: (PostgresPool, JobRunner, ETLConfiguration) async throws -> Void
    ) async throws {
        try await withScenario { pool in
            let runner = JobRunner(pool: pool, lookbackHours: 48)
            let configuration = ETLScenario.extendedConfiguration
            try await ETLScenario.runAll(runner, configuration, now: Self.now)
            try await body(pool, runner, configuration)
        }
    }

    /// Columns that depend on when a run happens, not on the data.
    static let timeDependent = ["as_of", "recency_days", "frequency_per_week", "computed_through"]

    func row(_ pool: PostgresPool, metric: String, variant: String, dimension: String = "", value: String = "") async throws -> PostgresRow {
        let result = try await pool.query(
            """
            SELECT units, sum, sum_squares, denominator_sum, mean, variance, absolute_diff, p_value, p_value_holm, p_value_bh,
                   degrees_of_freedom, is_control, metric_role, lower_is_better, relative_lift, absolute_ci_low, absolute_ci_high
            FROM lake.experiment_results
            WHERE experiment_key = 'checkout' AND metric = $1 AND variant = $2 AND dimension = $3 AND dimension_value = $4
            """, [.text(metric), .text(variant), .text(dimension), .text(value)])
        return try #require(result.first, "no row for \(metric) \(variant) \(dimension)=\(value)")
    }

    @Test("experiment results of the hand-computed scenario")
    func handComputedExperimentResults() async throws {
        try await withScenario { pool in
            let runner = JobRunner(pool: pool, lookbackHours: 48)
            try await ETLScenario.runAll(runner, now: Self.now)

            // (metric, control units/sum/sum², treatment units/sum/sum²), computed by hand from the table in ETLScenario.
            let expected: [(String, [Double], [Double])] = [
                ("purchase_conversion", [2, 1, 1], [3, 2, 2]),
                ("add_to_basket", [2, 1, 1], [3, 1, 1]),
                ("product_detail_view", [2, 2, 2], [3, 1, 1]),
                ("revenue_per_unit", [2, 100, 10_000], [3, 80, 3400]),
                ("time_to_first_action", [2, 45, 15 * 15 + 30 * 30], [2, 310, 300 * 300 + 10 * 10]),
                ("personalization_reward", [2, 3, 9], [3, 3, 9]),
                ("server_duration", [2, 200, 40_000], [3, 800, 400 * 400 + 400 * 400]),
            ]
            for (metric, control, treatment) in expected {
                for (variant, figures) in [("control", control), ("treatment", treatment)] {
                    let r = try await row(pool, metric: metric, variant: variant)
                    #expect(try r.decode(Double.self, "units") == figures[0], "\(metric) \(variant) units")
                    #expect(try r.decode(Double.self, "sum") == figures[1], "\(metric) \(variant) sum")
                    #expect(try r.decode(Double.self, "sum_squares") == figures[2], "\(metric) \(variant) sum of squares")
                }
            }
            // Welch from the same figures: purchase conversion 1/2 vs 2/3, with gbstats'
            // proportion variance p(1 - p) (2/9 and 1/4, not the sample variances 1/3 and 1/2).
            let conversion = try await row(pool, metric: "purchase_conversion", variant: "treatment")
            let welch = try Engines.frequentist(
                control: VariantMoments(n: 2, mean: 0.5, variance: 0.25), treatment: VariantMoments(n: 3, mean: 2.0 / 3, variance: 2.0 / 9),
                type: .absolute, alpha: 0.05)
            #expect(abs(try conversion.decode(Double.self, "absolute_diff") - 1.0 / 6) < 1e-12)
            #expect(abs(try conversion.decode(Double.self, "variance") - 2.0 / 9) < 1e-12)
            #expect(abs(try conversion.decode(Double.self, "p_value") - welch.pValue) < 1e-12)
            #expect(abs(try conversion.decode(Double.self, "relative_lift") - 1.0 / 3) < 1e-12)
            #expect(try conversion.decode(String.self, "metric_role") == "primary")
            #expect(try conversion.decode(Bool?.self, "is_control") == false)
            #expect(try await row(pool, metric: "purchase_conversion", variant: "control").decode(Double?.self, "p_value") == nil)
            // Ratio: Σ duration / Σ traced events; per-unit denominators 1,0 and 1,2,0.
            let duration = try await row(pool, metric: "server_duration", variant: "treatment")
            #expect(try duration.decode(Double.self, "denominator_sum") == 3)
            #expect(abs(try duration.decode(Double.self, "mean") - 800.0 / 3) < 1e-9)
            #expect(try duration.decode(Bool.self, "lower_is_better"))
            // Holm over the 7 treatment-vs-control p-values of the overall slice.
            let family = try await pool.query(
                """
                SELECT p_value, p_value_holm, p_value_bh FROM lake.experiment_results
                WHERE experiment_key = 'checkout' AND dimension = '' AND p_value IS NOT NULL ORDER BY metric
                """)
            let p = try family.rows.map { try $0[0].decode(Double.self) }
            // Two metrics have a variant whose units are all alike (variance 0): as in gbstats,
            // they get no test, and the row's note says why. Product detail views: both control
            // units viewed. Server duration: the control's units are 200 ms over 1 traced event
            // and 0 over 0, so every unit lies on the ratio (the delta-method variance is 0).
            #expect(p.count == 5)
            let untested = try await pool.query(
                """
                SELECT metric, note FROM lake.experiment_results
                WHERE experiment_key = 'checkout' AND dimension = '' AND NOT is_control AND p_value IS NULL ORDER BY metric
                """)
            let names = try untested.rows.map { try $0[0].decode(String.self) }
            #expect(names == ["product_detail_view", "server_duration"], "\(names)")
            for r in untested.rows { #expect(try r[1].decode(String?.self)?.contains("variance is 0") == true) }
            let holm = PValueAdjustment.holm(p)
            for (index, r) in family.rows.enumerated() { #expect(abs(try r[1].decode(Double.self) - holm[index]) < 1e-12) }

            // Dimensions: device (a1, a2 control: mobile, desktop; a3 mobile, a4 desktop, a5 unknown).
            let mobile = try await row(pool, metric: "purchase_conversion", variant: "treatment", dimension: "device", value: "mobile")
            #expect(try mobile.decode(Double.self, "units") == 1)
            let unknown = try await row(pool, metric: "purchase_conversion", variant: "treatment", dimension: "device", value: "(unknown)")
            #expect(try unknown.decode(Double.self, "units") == 1 && (try unknown.decode(Double.self, "sum")) == 0)
            // Segment big_spenders (revenue >= 50): a1 (control), a3 (treatment).
            let spenders = try await row(pool, metric: "revenue_per_unit", variant: "treatment", dimension: "segment", value: "big_spenders")
            #expect(try spenders.decode(Double.self, "units") == 1 && (try spenders.decode(Double.self, "sum")) == 50)

            // The experiment: a6 excluded (two variants); SRM of 2 vs 3 against 1:1.
            let experiment = try #require(
                try await pool.query(
                    "SELECT units, excluded_units, srm_chi_square, srm_p_value, srm_flag, control_variant, variants::text FROM lake.experiments WHERE experiment_key = 'checkout'"
                ).first)
            #expect(try experiment[0].decode(Int.self) == 5)
            #expect(try experiment[1].decode(Int.self) == 1)
            #expect(abs(try experiment[2].decode(Double.self) - 0.2) < 1e-12)
            #expect(abs(try experiment[3].decode(Double.self) - ChiSquare.survival(0.2, df: 1)) < 1e-12)
            #expect(try experiment[4].decode(Bool.self) == false)
            #expect(try experiment[6].decode(String.self).contains(#""units": 3"#))
            // The assignment view for warehouse-native tools.
            let assignments = try await pool.query(
                "SELECT count(*), count(*) FILTER (WHERE multiple_variants), count(device) FROM lake.experiment_assignments WHERE experiment_id = 'checkout'")
            #expect(try assignments[0][0].decode(Int.self) == 6)
            #expect(try assignments[0][1].decode(Int.self) == 1)
            #expect(try assignments[0][2].decode(Int.self) == 4)
        }
    }

    @Test("every engine's columns hold what the engines give on the row's own sums; engine and prior come from seam.yaml")
    func engineColumns() async throws {
        try await withScenario { pool in
            var configuration = ETLScenario.configuration
            configuration.experiments[0].engine = .bayesian
            configuration.experiments[0].prior = GaussianPrior(mean: 0, variance: 0.25, proper: true, scale: .relative)
            configuration.experiments[0].sequentialTuning = 800
            try await ETLScenario.runAll(JobRunner(pool: pool, lookbackHours: 48), configuration, now: Self.now)
            let definition = configuration.experiments[0]
            let columns = [
                "relative_lift", "relative_ci_low", "relative_ci_high", "relative_p_value", "absolute_ci_low", "p_value",
                "sequential_absolute_ci_low", "sequential_absolute_ci_high", "sequential_absolute_p_value",
                "sequential_relative_ci_low", "sequential_relative_ci_high", "sequential_relative_p_value",
                "bayesian_absolute_expected", "bayesian_absolute_ci_low", "bayesian_absolute_ci_high", "bayesian_absolute_chance_to_win",
                "bayesian_absolute_risk_control", "bayesian_absolute_risk_treatment", "bayesian_relative_expected",
                "bayesian_relative_ci_low", "bayesian_relative_ci_high", "bayesian_relative_chance_to_win",
                "bayesian_relative_risk_control", "bayesian_relative_risk_treatment",
            ]
            for metric in ["purchase_conversion", "revenue_per_unit", "time_to_first_action"] {
                let rows = try await pool.query(
                    """
                    SELECT variant, units::float8, sum, sum_squares, \(unescaped: columns.joined(separator: ", "))
                    FROM lake.experiment_results WHERE experiment_key = 'checkout' AND metric = \(text: metric) AND dimension = ''
                    """ as SQLQuery)
                var sums: [String: SufficientStatistics] = [:]
                var treatment: PostgresRow?
                for row in rows.rows {
                    let variant = try row[0].decode(String.self)
                    sums[variant] = SufficientStatistics(n: try row[1].decode(Double.self), sum: try row[2].decode(Double.self), sumSquares: try row[3].decode(Double.self))
                    if variant == "treatment" { treatment = row }
                }
                let row = try #require(treatment)
                let kind = try #require(configuration.metric(named: metric))
                let analysis = ExperimentAnalysis(
                    control: try #require(sums["control"]), treatment: try #require(sums["treatment"]), kind: kind.kind.moments,
                    lowerIsBetter: kind.lowerIsBetter, settings: definition.analysisSettings)
                func value<T>(_ outcome: Result<T, EngineProblem>?) throws -> T { try #require(try outcome?.get()) }
                let f = (try value(analysis.frequentist[.absolute]), try value(analysis.frequentist[.relative]))
                let q = (try value(analysis.sequential[.absolute]), try value(analysis.sequential[.relative]))
                let b = (try value(analysis.bayesian[.absolute]), try value(analysis.bayesian[.relative]))
                let expected: [Double] = [
                    f.1.estimate, f.1.interval.lowerBound, f.1.interval.upperBound, f.1.pValue, f.0.interval.lowerBound, f.0.pValue,
                    q.0.interval.lowerBound, q.0.interval.upperBound, q.0.pValue, q.1.interval.lowerBound, q.1.interval.upperBound, q.1.pValue,
                    b.0.expected, b.0.interval.lowerBound, b.0.interval.upperBound, b.0.chanceToWin, b.0.riskControl, b.0.riskTreatment,
                    b.1.expected, b.1.interval.lowerBound, b.1.interval.upperBound, b.1.chanceToWin, b.1.riskControl, b.1.riskTreatment,
                ]
                for (index, name) in columns.enumerated() {
                    let stored = try #require(try row[4 + index].decode(Double?.self), "\(metric) \(name) is NULL")
                    #expect(abs(stored - expected[index]) <= 1e-12 * max(1, abs(expected[index])), "\(metric) \(name): \(stored) vs \(expected[index])")
                }
                // The proper prior pulls the posterior towards 0: it is not the frequentist estimate.
                #expect(abs(b.1.expected) < abs(f.1.estimate))
            }
            let experiment = try #require(try await pool.query("SELECT engine FROM lake.experiments WHERE experiment_key = 'checkout'").first)
            #expect(try experiment[0].decode(String.self) == "bayesian")
        }
    }

    @Test("units that saw several variants: excluded and counted by default, analysed in their first variant with multiple_exposures: first; the share is flagged")
    func multipleExposures() async throws {
        try await withScenario { pool in
            let runner = JobRunner(pool: pool, lookbackHours: 48)
            try await ETLScenario.runAll(runner, now: Self.now)
            func experiment() async throws -> PostgresRow {
                try #require(
                    try await pool.query(
                        """
                        SELECT units, excluded_units, multiple_exposures, multiple_exposure_units, multiple_exposure_share, multiple_exposure_flag
                        FROM lake.experiments WHERE experiment_key = 'checkout'
                        """
                    ).first)
            }
            // a6 saw control, then treatment: one of six exposed units.
            var current = try await experiment()
            #expect(try current[0].decode(Int.self) == 5 && (try current[1].decode(Int.self)) == 1)
            #expect(try current[2].decode(String.self) == "exclude" && (try current[3].decode(Int.self)) == 1)
            #expect(abs(try current[4].decode(Double.self) - 1.0 / 6) < 1e-12)
            #expect(try current[5].decode(Bool.self))

            var configuration = ETLScenario.configuration
            configuration.experiments[0].multipleExposures = .first
            configuration.experiments[0].multipleExposureThreshold = 0.5
            try await ETLScenario.runAll(runner, configuration, now: Self.now.addingTimeInterval(60))
            current = try await experiment()
            #expect(try current[0].decode(Int.self) == 6 && (try current[1].decode(Int.self)) == 0)
            #expect(try current[2].decode(String.self) == "first" && (try current[3].decode(Int.self)) == 1)
            #expect(try current[5].decode(Bool.self) == false)  // 1/6 is under the threshold of 0.5
            let a6 = try await pool.query("SELECT variant FROM lake.experiment_units WHERE experiment_key = 'checkout' AND unit_id = 'a6'")
            #expect(try a6.rows.map { try $0[0].decode(String.self) } == ["control"])
            // The control's units: a1, a2 and now a6.
            let control = try await row(pool, metric: "purchase_conversion", variant: "control")
            #expect(try control.decode(Double.self, "units") == 3)
        }
    }

    @Test("segment metrics and user features of the hand-computed scenario")
    func handComputedSegmentMetrics() async throws {
        try await withScenario { pool in
            // A classifier's assignments: the latest per unit wins (a2: "browsers", not "buyers").
            try await pool.execute(
                """
                INSERT INTO lake.segment_assignments (unit_id, segment, model_version, assigned_at) VALUES
                    ('a2', 'buyers', 'm1', $1::timestamptz), ('a2', 'browsers', 'm2', $1::timestamptz + interval '1 hour'),
                    ('a5', 'browsers', 'm2', $1::timestamptz)
                """, [.text(ETLScenario.at(0))])
            try await ETLScenario.runAll(JobRunner(pool: pool, lookbackHours: 48), now: Self.now)
            let model = try await pool.query(
                "SELECT unit_id || ':' || segment || ':' || model_version FROM lake.segment_members WHERE source = 'model' ORDER BY 1")
            #expect(try model.rows.map { try $0[0].decode(String.self) } == ["a2:browsers:m2", "a5:browsers:m2"])
            let browsers = try await pool.query(
                "SELECT sessions FROM lake.segment_metrics WHERE segment = 'browsers' AND grain = 'day'")
            #expect(try browsers.rows.map { try $0[0].decode(Int.self) } == [2])
            let day = ETLScenario.at(0).prefix(10) + "T00:00:00Z"
            let daily = try await pool.query(
                """
                SELECT segment, sessions, users, converted_sessions, conversion_rate, add_to_basket_sessions, orders, revenue::float8,
                       average_order_value::float8, median_time_to_first_action_seconds, server_duration_p95_ms
                FROM lake.segment_metrics WHERE grain = 'day' AND period_start = $1::timestamptz ORDER BY segment
                """, [.text(String(day))])
            let rows = try daily.rows.map { row in try (0..<11).map { $0 == 0 ? 0 : (try row[$0].decode(Double?.self) ?? -1) } }
            #expect(try daily.rows.map { try $0[0].decode(String.self) } == ["all", "big_spenders", "browsers"])
            // A session starts at its first event or span: the traced page views' spans start
            // 0.5 s before them. all: 6 sessions, 3 converted, 2 with a basket, orders 3 = 180;
            // first actions 5.5, 25, 295.5, 5.5 s (median 15.25); durations 100, 200, 300, 400 ms (p95 385).
            #expect(rows[0] == [0, 6, 6, 3, 0.5, 2, 3, 180, 60, 15.25, 385])
            // big_spenders (a1, a3): first actions 5.5 and 295.5 s; durations 200 and 400 ms.
            #expect(rows[1] == [0, 2, 2, 2, 1, 1, 2, 150, 75, 150.5, 390])
            let hourly = try await pool.query(
                "SELECT count(*), sum(sessions) FROM lake.segment_metrics WHERE grain = 'hour' AND segment = 'all'")
            #expect(try hourly[0][0].decode(Int.self) == 5)  // 04:00, 05:00, 06:00, 07:00 (a4, a5), 08:00
            #expect(try hourly[0][1].decode(Int.self) == 6)

            let a1 = try #require(
                try await pool.query(
                    """
                    SELECT unit_type, sessions, purchases, revenue::float8, categories_viewed::text, category_preference::text,
                           flags_seen::text, median_time_to_first_action_seconds, recency_days
                    FROM lake.user_features WHERE unit_id = 'a1'
                    """
                ).first)
            #expect(try a1[0].decode(String.self) == "anonymous")
            #expect(try a1[1].decode(Int.self) == 1 && (try a1[2].decode(Int.self)) == 1 && (try a1[3].decode(Double.self)) == 100)
            #expect(try a1[4].decode(String.self) == "{shoes}")
            // Beta(1, 1) prior: (1 + 1) / (1 + 2).
            #expect(try a1[5].decode(String.self) == #"{"shoes": 0.6666666666666666}"#)
            #expect(try a1[6].decode(String.self) == "{checkout:control}")
            #expect(try a1[7].decode(Double.self) == 5.5)
            let members = try await pool.query("SELECT unit_id FROM lake.segment_members WHERE segment = 'big_spenders' ORDER BY 1")
            #expect(try members.rows.map { try $0[0].decode(String.self) } == ["a1", "a3"])
        }
    }

    @Test("running twice, backfilling twice and running incrementally give identical tables")
    func idempotentAndIncremental() async throws {
        try await withComputedScenario { pool, runner, configuration in
            let first = try await ETLScenario.snapshot(pool)
            try await ETLScenario.runAll(runner, configuration, now: Self.now)
            #expect(try await ETLScenario.snapshot(pool) == first)

            let window = JobWindow(start: ETLScenario.base.addingTimeInterval(-86_400), end: Self.now)
            try await ETLScenario.runAll(runner, configuration, trigger: .backfill, window: window, now: Self.now)
            let backfilled = try await ETLScenario.snapshot(pool)
            try await ETLScenario.runAll(runner, configuration, trigger: .backfill, window: window, now: Self.now)
            #expect(try await ETLScenario.snapshot(pool) == backfilled)
            #expect(backfilled == first)
            // Revenue per unit [100, 0 | 50, 30, 0], capped at its 75th percentile (50).
            let capped = try await row(pool, metric: "revenue_capped", variant: "treatment")
            #expect(try capped.decode(Double.self, "sum") == 80)

            // New data: a7 joins the treatment two hours later; an incremental run (from the
            // watermark minus the lookback) equals a full recomputation.
            let late = ETLScenario.Visitor(
                id: "a7", variants: ["treatment"], exposed: 18_000,
                events: [("page_view", 5, "{}", 250), ("purchase", 60, #"{"revenue":70}"#, nil)], device: "mobile")
            try await ETLScenario.load([late], into: pool)
            let later = Self.now.addingTimeInterval(3600)
            let reports = try await ETLScenario.runAll(runner, configuration, now: later)
            #expect(reports.allSatisfy { $0.window?.start != nil }, "runs after the first are incremental")
            let incremental = try await ETLScenario.snapshot(pool, ignoring: Self.timeDependent)
            let conversion = try await row(pool, metric: "purchase_conversion", variant: "treatment")
            #expect(try conversion.decode(Double.self, "units") == 4 && (try conversion.decode(Double.self, "sum")) == 3)
            // a7's 70 moves the cap to 65 (75th percentile of 0, 0, 30, 50, 70, 100): 50 + 30 + 0 + 65.
            #expect(try await row(pool, metric: "revenue_capped", variant: "treatment").decode(Double.self, "sum") == 145)
            #expect(try await row(pool, metric: "revenue_capped", variant: "control").decode(Double.self, "sum") == 65)
            try await pool.execute("DELETE FROM seam_meta.etl_state")
            let full = try await ETLScenario.runAll(runner, configuration, now: later)
            #expect(full.allSatisfy { $0.window?.start == nil })
            #expect(try await ETLScenario.snapshot(pool, ignoring: Self.timeDependent) == incremental)

            let runs = try await pool.query("SELECT count(*), count(*) FILTER (WHERE status = 'succeeded') FROM lake.etl_runs")
            #expect(try runs[0][0].decode(Int.self) == 30)  // 6 rounds of 5 jobs
            #expect(try runs[0][1].decode(Int.self) == 30)
        }
    }

    @Test("data stored days after its event time (beyond any lookback) is recomputed by the next run; every table equals a full recomputation")
    func changeDrivenLateData() async throws {
        try await withComputedScenario { pool, runner, configuration in
            // A backfill of the scenario's first hour only: what the jobs keep for the rest of
            // the day must survive it.
            let firstHour = JobWindow(start: ETLScenario.base, end: ETLScenario.base.addingTimeInterval(3600))
            try await ETLScenario.runAll(runner, configuration, trigger: .backfill, window: firstHour, now: Self.now)
            // a8 was exposed and bought four days before the scenario, and a1's session has an
            // event from then; both arrive only now (an event-time window reaching 48 h back
            // would miss them). a1's session starts four days earlier now: it leaves its day.
            let late = [
                ETLScenario.Visitor(
                    id: "a8", variants: ["control"], exposed: -4 * 86_400,
                    events: [("page_view", 5, "{}", nil), ("purchase", 60, #"{"revenue":40}"#, nil)], device: "desktop"),
                ETLScenario.Visitor(id: "a1", variants: [], exposed: -4 * 86_400 + 7200, events: [("product_view", 5, "{}", nil)], device: nil),
                // And a new visit on the scenario's day, after the backfilled hour.
                ETLScenario.Visitor(id: "a9", variants: ["control"], exposed: 5 * 3600, events: [("page_view", 5, "{}", nil)], device: nil),
                // An event of a2's exposed session, half a minute before the exposure, from a
                // tablet: the first device of that session now.
                ETLScenario.Visitor(id: "a2", variants: [], exposed: 3600 - 30, events: [("page_view", 0, "{}", nil)], device: "tablet"),
            ]
            // a3 comes back in a new session from a desktop: a3 is recomputed, but its device
            // is still that of its exposed session.
            try await pool.execute(
                """
                INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, session_id, anonymous_id, page_path, properties, context)
                VALUES (md5('a3-return')::uuid, 'page_view', $1::timestamptz, now(), 's-a3-return', 'a3', '/p', '{}', '{"device":"desktop"}')
                """, [.text(ETLScenario.at(9 * 3600))])
            let from = ETLScenario.base.addingTimeInterval(-5 * 86_400)
            _ = try await pool.withConnection { try LakePartitions.ensure(on: $0, covering: from, ETLScenario.base) }
            try await ETLScenario.load(late, into: pool)
            // The join draws a5's session anew under another id (as a rebuild may): the old
            // session is gone, its events and the new session changed. What the job kept of
            // the old one must go with it.
            try await pool.execute(
                """
                INSERT INTO lake.sessions SELECT (jsonb_populate_record(s, jsonb_build_object('session_id', 's-a5-redrawn', 'updated_at', now()))).*
                FROM lake.sessions AS s WHERE s.session_id = 's-a5'
                """)
            try await pool.execute("UPDATE lake.event_facts SET session_id = 's-a5-redrawn', updated_at = now() WHERE session_id = 's-a5'")
            try await pool.execute("DELETE FROM lake.sessions WHERE session_id = 's-a5'")
            let later = Self.now.addingTimeInterval(3600)
            let reports = try await ETLScenario.runAll(runner, configuration, now: later)
            #expect(reports.allSatisfy { $0.status == .succeeded && $0.window?.changedSince != nil }, "\(reports)")
            let ignoring = Self.timeDependent
            let incremental = try await ETLScenario.snapshot(pool, ignoring: ignoring)
            #expect(incremental["experiment_sums by exposure_day"]?.isEmpty == false, "sums by exposure day are kept")
            let control = try await row(pool, metric: "purchase_conversion", variant: "control")
            #expect(try control.decode(Double.self, "units") == 4 && (try control.decode(Double.self, "sum")) == 2)  // a1, a2, a8 and a9
            let devices = try await pool.query("SELECT unit_id || '=' || device FROM lake.experiment_units WHERE unit_id IN ('a2', 'a3') ORDER BY 1")
            #expect(try devices.rows.map { try $0[0].decode(String.self) } == ["a2=tablet", "a3=mobile"])
            #expect(try await pool.query("SELECT sessions FROM lake.user_features WHERE unit_id = 'a8'").scalar(Int.self) == 1)
            let day = try await pool.query(
                "SELECT sessions FROM lake.segment_metrics WHERE segment = 'all' AND grain = 'day' AND period_start = date_trunc('day', \(ETLScenario.base.addingTimeInterval(-4 * 86_400)), 'UTC')")
            #expect(try day.scalar(Int.self) >= 1)  // a8's session, and a1's when the join keeps it one session
            let kept = try await pool.query(
                "SELECT count(*) FILTER (WHERE session_id = 's-a5') AS old, count(*) FILTER (WHERE session_id = 's-a5-redrawn') AS new FROM seam_meta.segment_metric_sessions")
            let keptRow = try #require(kept.first)
            #expect(try keptRow.decode(Int.self, "old") == 0 && keptRow.decode(Int.self, "new") == 1, "the old session's inputs are gone, the new one's kept")

            try await pool.execute("DELETE FROM seam_meta.etl_state")
            _ = try await ETLScenario.runAll(runner, configuration, now: later)
            let recomputed = try await ETLScenario.snapshot(pool, ignoring: ignoring)
            #expect(recomputed == incremental, "\(recomputed.keys.filter { recomputed[$0] != incremental[$0] }.sorted())")
        }
    }

    @Test("a change-driven user_features run reads a recomputed unit's session that has no kept inputs (a lake from before migration 0018) from its events, as a recomputation gives")
    func sessionsWithoutKeptInputs() async throws {
        try await withComputedScenario { pool, runner, configuration in
            // a1's only session (with its product view of shoes) loses its kept inputs, as on
            // a lake upgraded to migration 0018, and does not change.
            try await pool.execute("DELETE FROM seam_meta.user_feature_sessions WHERE session_id = 's-a1'")
            // a1 comes back in a new session: a1 is recomputed from both.
            try await pool.execute(
                """
                INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, session_id, anonymous_id, page_path, properties, context)
                VALUES (md5('a1-return')::uuid, 'page_view', $1::timestamptz, now(), 's-a1-return', 'a1', '/p', '{}', '{}')
                """, [.text(ETLScenario.at(10 * 3600))])
            _ = try await JoinWorker(pool: pool).drain()
            let later = Self.now.addingTimeInterval(3600)
            let reports = try await ETLScenario.runAll(runner, configuration, now: later)
            #expect(reports.allSatisfy { $0.status == .succeeded && $0.window?.changedSince != nil }, "\(reports)")
            let a1 = try #require(
                try await pool.query("SELECT sessions, categories_viewed::text FROM lake.user_features WHERE unit_id = 'a1'").first)
            #expect(try a1[0].decode(Int.self) == 2 && (try a1[1].decode(String.self)) == "{shoes}", "the old session's categories count")
            #expect(try await pool.query("SELECT count(*) FROM seam_meta.user_feature_sessions WHERE session_id = 's-a1'").scalar(Int.self) == 1)
            let incremental = try await ETLScenario.snapshot(pool, ignoring: Self.timeDependent)

            try await pool.execute("DELETE FROM seam_meta.etl_state")
            _ = try await ETLScenario.runAll(runner, configuration, now: later)
            let recomputed = try await ETLScenario.snapshot(pool, ignoring: Self.timeDependent)
            #expect(recomputed == incremental, "\(recomputed.keys.filter { recomputed[$0] != incremental[$0] }.sorted())")
        }
    }

    @Test("a change-driven run that recomputes units inside the exposure range counts the experiment's units from its previous row, as a recomputation gives")
    func experimentRowFromPreviousRow() async throws {
        try await withComputedScenario { pool, runner, configuration in
            // a3 (treatment, exposed between the first and the last unit) comes back in a new
            // session and views a product in its window: its old row is replaced by a new one
            // (a unit whose rows come out as stored would be left alone). a7 joins the control
            // after the last unit. Neither old row is at an end of the range, so the
            // experiment's row comes from its previous counts and range.
            try await pool.execute(
                """
                INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, session_id, anonymous_id, page_path, properties, context)
                VALUES (md5('a3-return')::uuid, 'product_view', $1::timestamptz, now(), 's-a3-return', 'a3', '/p', '{}', '{"device":"desktop"}')
                """, [.text(ETLScenario.at(9 * 3600))])
            let newcomer = ETLScenario.Visitor(
                id: "a7", variants: ["control"], exposed: 18_000, events: [("page_view", 5, "{}", nil)], device: "desktop")
            try await ETLScenario.load([newcomer], into: pool)
            let later = Self.now.addingTimeInterval(3600)
            let reports = try await ETLScenario.runAll(runner, configuration, now: later)
            #expect(reports.allSatisfy { $0.status == .succeeded && $0.window?.changedSince != nil }, "\(reports)")
            let units = try await pool.query(
                """
                SELECT v ->> 'name', (v ->> 'units')::int, e.units::int, e.last_exposure = $1::timestamptz
                FROM lake.experiments AS e CROSS JOIN LATERAL jsonb_array_elements(e.variants) AS v
                WHERE e.experiment_key = 'checkout' ORDER BY 1
                """, [.text(ETLScenario.at(18_000))])
            let a3 = try await pool.query(
                "SELECT value FROM lake.experiment_unit_metrics WHERE unit_id = 'a3' AND metric = 'product_detail_view'")
            #expect(try a3.scalar(Double.self) == 1)
            // a1, a2 and a7 in the control; a3, a4 and a5 in the treatment (a6 saw both).
            #expect(try units.rows.map { "\(try $0[0].decode(String.self))=\(try $0[1].decode(Int.self))" } == ["control=3", "treatment=3"])
            #expect(try units.rows.allSatisfy { try $0[2].decode(Int.self) == 6 && $0[3].decode(Bool.self) })
            let incremental = try await ETLScenario.snapshot(pool, ignoring: Self.timeDependent)
            try await pool.execute("DELETE FROM seam_meta.etl_state")
            _ = try await ETLScenario.runAll(runner, configuration, now: later)
            let recomputed = try await ETLScenario.snapshot(pool, ignoring: Self.timeDependent)
            #expect(recomputed == incremental, "\(recomputed.keys.filter { recomputed[$0] != incremental[$0] }.sorted())")
        }
    }

    /// a3 comes back in a new session with a page view inside its 72-hour windows, a2 buys
    /// for 60 three days before its exposure (before any window and CUPED's one-day
    /// pre-period), and a5 buys in its window; joined.
    static func returnsAndPurchases(_ pool: PostgresPool) async throws {
        let from = ETLScenario.base.addingTimeInterval(-4 * 86_400)
        _ = try await pool.withConnection { try LakePartitions.ensure(on: $0, covering: from, ETLScenario.base) }
        for (id, name, at, session, properties) in [
            ("a3-return", "page_view", 9 * 3600.0, "s-a3-return", "{}"), ("a2-before", "purchase", -3 * 86_400 + 3600, "s-a2-before", #"{"revenue":60}"#),
            ("a5-buys", "purchase", 12_600 + 3600, "s-a5", #"{"revenue":20}"#),
        ] {
            try await pool.execute(
                """
                INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, session_id, anonymous_id, page_path, properties, context)
                VALUES (md5($1)::uuid, $2, $3::timestamptz, now(), $4, $5, '/p', $6::jsonb, '{}')
                """, [.text(id), .text(name), .text(ETLScenario.at(at)), .text(session), .text(String(id.prefix(2))), .text(properties)])
        }
        _ = try await JoinWorker(pool: pool).drain()
    }

    @Test("a change-driven run leaves a recomputed unit whose rows come out as stored untouched, and rewrites those whose segments or metrics changed, as a recomputation gives")
    func unchangedUnitsLeftAlone() async throws {
        try await withComputedScenario { pool, runner, configuration in
            // a3 comes back in a new session with a page view: it is recomputed (the event
            // carries its id), and nothing of its row or its metrics changes. a2 bought for 60
            // three days before its exposure, before any window and CUPED's one-day pre-period:
            // its metrics stay, but it joins big_spenders, so its row changes. a5 buys in its
            // window: its metrics change.
            try await Self.returnsAndPurchases(pool)
            // The row versions (xmin) of every unit's rows: a row written again is a new version.
            func versions() async throws -> [String: String] {
                let rows = try await pool.query(
                    """
                    SELECT unit_id, xmin::text FROM lake.experiment_units WHERE experiment_key = 'checkout'
                    UNION ALL SELECT unit_id || '/' || metric, xmin::text FROM lake.experiment_unit_metrics WHERE experiment_key = 'checkout'
                    """)
                return Dictionary(uniqueKeysWithValues: try rows.rows.map { (try $0[0].decode(String.self), try $0[1].decode(String.self)) })
            }
            let before = try await versions()
            let later = Self.now.addingTimeInterval(3600)
            let reports = try await ETLScenario.runAll(runner, configuration, now: later)
            #expect(reports.allSatisfy { $0.status == .succeeded && $0.window?.changedSince != nil }, "\(reports)")
            let after = try await versions()
            let a3 = before.keys.filter { $0 == "a3" || $0.hasPrefix("a3/") }
            #expect(a3.count > 1 && a3.allSatisfy { before[$0] == after[$0] }, "a3's rows are left as they are")
            #expect(before["a2"] != after["a2"] && before["a5"] != after["a5"], "a2's and a5's rows are written again")
            #expect(before["a5/purchase_conversion"] != after["a5/purchase_conversion"])
            let segments = try await pool.query("SELECT 'big_spenders' = ANY(segments) FROM lake.experiment_units WHERE unit_id = 'a2'")
            #expect(try segments.scalar(Bool.self) == true)
            let conversion = try await row(pool, metric: "purchase_conversion", variant: "treatment")
            #expect(try conversion.decode(Double.self, "units") == 3 && (try conversion.decode(Double.self, "sum")) == 3)  // a3, a4 and a5
            // segment_metrics is left out: a2 joining big_spenders does not rewrite the closed
            // day its earlier sessions counted in (README, "ETL jobs", "Segments"); a recomputation does.
            var incremental = try await ETLScenario.snapshot(pool, ignoring: Self.timeDependent)
            try await pool.execute("DELETE FROM seam_meta.etl_state")
            _ = try await ETLScenario.runAll(runner, configuration, now: later)
            var recomputed = try await ETLScenario.snapshot(pool, ignoring: Self.timeDependent)
            (incremental["segment_metrics"], recomputed["segment_metrics"]) = (nil, nil)
            #expect(recomputed == incremental, "\(recomputed.keys.filter { recomputed[$0] != incremental[$0] }.sorted())")
        }
    }

    @Test("a change-driven run takes the metric rows of a unit none of whose events inside its reach changed as stored, and computes those of a unit with a new event in its reach")
    func metricsOfUnchangedReachReused() async throws {
        try await withComputedScenario { pool, runner, configuration in
            // As above: a3 returns inside its 72-hour windows with a page view, a2 bought
            // before its CUPED pre-period (its row changes: it joins big_spenders), a5 buys
            // inside its window.
            try await Self.returnsAndPurchases(pool)
            // Values no computation gives, planted in the stored rows: a row taken as stored
            // keeps its value, a row computed again loses it.
            let planted = [("a3", "revenue_per_unit", 777.0), ("a2", "revenue_per_unit", 555.0), ("a5", "purchase_conversion", 9.0)]
            for (unit, metric, value) in planted {
                try await pool.execute(
                    "UPDATE lake.experiment_unit_metrics SET value = $3 WHERE experiment_key = 'checkout' AND unit_id = $1 AND metric = $2",
                    [.text(unit), .text(metric), .float64(value)])
            }
            func value(_ unit: String, _ metric: String) async throws -> Double? {
                try await pool.query(
                    "SELECT value FROM lake.experiment_unit_metrics WHERE experiment_key = 'checkout' AND unit_id = $1 AND metric = $2",
                    [.text(unit), .text(metric)]
                ).scalar(Double?.self)
            }
            let later = Self.now.addingTimeInterval(3600)
            let reports = try await ETLScenario.runAll(runner, configuration, now: later)
            #expect(reports.allSatisfy { $0.status == .succeeded && $0.window?.changedSince != nil }, "\(reports)")
            #expect(try await value("a3", "revenue_per_unit") == 50, "a3's metrics are computed (a new event in its reach)")
            #expect(try await value("a2", "revenue_per_unit") == 555, "a2's metric rows are written again as stored")
            let segments = try await pool.query("SELECT 'big_spenders' = ANY(segments) FROM lake.experiment_units WHERE unit_id = 'a2'")
            #expect(try segments.scalar(Bool.self) == true, "a2's row is recomputed")
            #expect(try await value("a5", "purchase_conversion") == 1, "a5's metrics are computed")
            // A recomputation computes every unit.
            try await pool.execute("DELETE FROM seam_meta.etl_state")
            _ = try await ETLScenario.runAll(runner, configuration, now: later)
            #expect(try await value("a2", "revenue_per_unit") == 0)
        }
    }

    /// A visitor exposed four days before the scenario, with an event at each bound of the
    /// windows: just before exposure and 12 h before (CUPED's one-day pre-period), at 24 h
    /// (the end of the 24-hour windows, inside the 72-hour ones), at 30 h, and at 72 h (the
    /// end of every window and of the experiment's reach).
    @Test("each metric counts the events inside its own window and pre-period, up to each bound, with CUPED and without", arguments: [false, true])
    func windowBounds(cuped: Bool) async throws {
        try await withScenario { pool in
            _ = try await pool.withConnection {
                try LakePartitions.ensure(on: $0, covering: ETLScenario.base.addingTimeInterval(-5 * 86_400), ETLScenario.base)
            }
            let visitor = ETLScenario.Visitor(
                id: "w1", variants: ["treatment"], exposed: -4 * 86_400,
                events: [
                    ("product_view", -12 * 3600, "{}", nil), ("purchase", -1, #"{"revenue":70}"#, nil), ("add_to_basket", 24 * 3600, "{}", nil),
                    ("product_view", 30 * 3600, "{}", nil), ("purchase", 72 * 3600, #"{"revenue":40}"#, nil),
                ], device: "mobile")
            try await ETLScenario.load([visitor], into: pool)
            let configuration = cuped ? ETLScenario.extendedConfiguration : ETLScenario.configuration
            try await ETLScenario.runAll(JobRunner(pool: pool, lookbackHours: 48), configuration, now: Self.now)
            let rows = try await pool.query(
                "SELECT metric, value, covariate FROM lake.experiment_unit_metrics WHERE experiment_key = 'checkout' AND unit_id = 'w1'")
            var values: [String: (Double?, Double?)] = [:]
            for row in rows.rows { values[try row[0].decode(String.self)] = (try row[1].decode(Double?.self), try row[2].decode(Double?.self)) }
            #expect(values.count == (cuped ? 8 : 7), "a row per metric: \(values.keys.sorted())")
            func expect(_ metric: String, _ value: Double?, covariate: Double?, _ why: Comment) {
                #expect(values[metric]?.0 == value, why)
                #expect(values[metric]?.1 == (cuped ? covariate : nil), "\(metric)'s covariate")
            }
            expect("purchase_conversion", 0, covariate: 1, "the purchase at 72 h is outside the window, the one just before exposure too")
            expect("revenue_per_unit", 0, covariate: 70, "no revenue inside the window")
            expect("add_to_basket", 1, covariate: 0, "the basket at 24 h is inside the 72-hour window")
            expect("product_detail_view", 1, covariate: 1, "the view at 30 h is inside the 72-hour window")
            expect("time_to_first_action", nil, covariate: nil, "no action before the 24-hour window's end")
            expect("personalization_reward", 0, covariate: nil, "the basket at 24 h is not within the reward's 24 hours")
        }
    }

    @Test("a full experiment_results run raises work_mem for its per-unit aggregate alone and puts the planner settings back")
    func fullRunSettings() async throws {
        try await withComputedScenario { pool, _, configuration in
            try await pool.withConnection { c in
                // The connection's own setting, below what the units need, and not the server's.
                try c.execute("SET work_mem = '64kB'")
                try c.executeScript("BEGIN")
                let definition = try #require(configuration.experiments.first)
                let computation = ExperimentComputation(
                    definition: definition, configured: true, variantsSeen: [], configuration: configuration,
                    window: JobWindow(start: nil, end: Self.now), everything: true, changedSince: nil)
                func workMem() throws -> Int {
                    try c.query("SELECT pg_size_bytes(current_setting('work_mem')) / 1024").scalar(Int.self)
                }
                var inside = 0
                try computation.withAggregateMemory(units: 10_000, on: c) { inside = try workMem() }
                #expect(inside == 10_000 * computation.metrics.count * 150 / 1024)
                #expect(try workMem() == 64)
                // So few units need less than the connection has: left as it is.
                try computation.withAggregateMemory(units: 2, on: c) { inside = try workMem() }
                #expect(inside == 64)
                // A whole full run leaves the connection's settings as they were.
                _ = try ExperimentResultsJob(configuration: configuration).run(window: JobWindow(start: nil, end: Self.now), on: c)
                let settings = try c.query(
                    """
                    SELECT current_setting('work_mem'), current_setting('enable_hashjoin'), current_setting('enable_mergejoin'),
                           current_setting('enable_sort')
                    """)
                let row = try #require(settings.first)
                #expect(try (0..<4).map { try row[$0].decode(String.self) } == ["64kB", "on", "on", "on"])
                try c.executeScript("ROLLBACK")
            }
        }
    }

    @Test("every job's full run on an empty lake succeeds and writes nothing")
    func emptyLake() async throws {
        try await TestDatabase.withLake { pool in
            // The default configuration: no experiment configured, none exposed.
            let reports = try await ETLScenario.runAll(JobRunner(pool: pool, lookbackHours: 48), ETLConfiguration(), now: Self.now)
            #expect(reports.map(\.status) == Array(repeating: .succeeded, count: reports.count))
            #expect(reports.map(\.rows).reduce(0, +) == 0)
        }
    }

    @Test("a full run's devices, found for every experiment in one pass over the tag events, are those each unit's lookup finds")
    func devicesInOnePass() async throws {
        try await TestDatabase.withLake { pool in
            try await pool.withConnection { c in
                let t0 = ETLScenario.base
                _ = try LakePartitions.ensure(on: c, covering: t0.addingTimeInterval(-3 * 86_400), t0.addingTimeInterval(3 * 86_400))
                // (session, seconds from t0, event id's last digit, context).
                let events: [(String, Double, Int, String)] = [
                    // s1: the first event carries none, the next only a device_type, then a device.
                    ("s1", 0, 1, "{}"), ("s1", 10, 2, #"{"device_type":"tablet"}"#), ("s1", 20, 3, #"{"device":"mobile"}"#),
                    // s2: two at the same time, the lower event id first; one more than a day before.
                    ("s2", -86_401, 4, #"{"device":"too early"}"#), ("s2", 30, 6, #"{"device":"second"}"#),
                    ("s2", 30, 5, #"{"device":"first"}"#),
                    // s3: exactly a day before the exposure (inside), and a day after (outside).
                    ("s3", -86_400, 7, #"{"device":"day before"}"#), ("s3", 86_400, 8, #"{"device":"day after"}"#),
                    // s4: no device at all.
                    ("s4", 5, 9, "{}"),
                ]
                for (session, seconds, id, context) in events {
                    try c.execute(
                        """
                        INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, session_id, context)
                        VALUES ($1::uuid, 'page_view', $2, $2, $3, $4::jsonb)
                        """, [.text("00000000-0000-0000-0000-00000000000\(id)"), .timestamptz(t0.addingTimeInterval(seconds)), .text(session), .jsonb(context)])
                }
                // (experiment, unit, session, exposure in seconds from t0, the device expected).
                let exposures: [(String, String, String?, Double, String?)] = [
                    ("e1", "u1", "s1", 0, "tablet"), ("e1", "u2", "s2", 0, "first"), ("e1", "u3", "s3", 0, "day before"),
                    ("e1", "u4", "s4", 0, nil), ("e1", "u5", nil, 0, nil),
                    // The same unit in another experiment, exposed a day later: s3's first event is now out of reach.
                    ("e2", "u3", "s3", 86_400 - 1, "day after"), ("e2", "u1", "s1", 15, "tablet"),
                ]
                for (experiment, unit, session, seconds, _) in exposures {
                    try c.execute(
                        """
                        INSERT INTO lake.exposures (experiment_key, unit_id, unit_type, variant, first_exposed_at, last_exposed_at, session_id,
                                                    evaluation_count, variants, multiple_variants)
                        VALUES ($1, $2, 'context', 'control', $3, $3, $4, 1, ARRAY['control'], false)
                        """, [.text(experiment), .text(unit), .timestamptz(t0.addingTimeInterval(seconds)), session.map { .text($0) } ?? .null])
                }
                try c.executeScript("BEGIN")
                try ExperimentComputation.allDevices(on: c)
                let found = try c.query(
                    """
                    SELECT x.experiment_key, x.unit_id, d.device, \(ExperimentComputation.deviceLookup)
                    FROM lake.exposures AS x LEFT JOIN xr_devices AS d USING (experiment_key, unit_id) ORDER BY 1, 2
                    """
                ).rows.map { row in
                    [try row[0].decode(String.self), try row[1].decode(String.self), try row[2].decode(String?.self) ?? "-",
                     try row[3].decode(String?.self) ?? "-"]
                }
                try c.executeScript("ROLLBACK")
                let expected = exposures.sorted { ($0.0, $0.1) < ($1.0, $1.1) }.map { [$0.0, $0.1, $0.4 ?? "-", $0.4 ?? "-"] }
                #expect(found == expected)
            }
        }
    }

    @Test(
        "a full run and a change-driven one read a unit's events once for all its experiments, and each experiment counts those inside its own reach",
        arguments: [false, true])
    func unitEventsAcrossExperiments(changeDriven: Bool) async throws {
        try await TestDatabase.withLake { pool in
            let t0 = ETLScenario.base.addingTimeInterval(-5 * 86_400)
            try await pool.withConnection { c in
                _ = try LakePartitions.ensure(on: c, covering: t0.addingTimeInterval(-86_400), ETLScenario.base.addingTimeInterval(86_400))
            }
            let runner = JobRunner(pool: pool, lookbackHours: 48)
            if changeDriven {
                // A first run on the empty lake: the next one follows the changes since.
                let first = await runner.run(ExperimentResultsJob(configuration: ETLConfiguration()), trigger: .manual, now: ETLScenario.base)
                #expect(first.status == .succeeded, "\(first)")
            }
            // v1 is in "early" (exposed at t0) and in "late" (five days later), and buys an hour
            // after each exposure: each purchase lies inside one experiment's 72 hours only.
            // v2 is in "late" alone and buys nothing.
            let exposures: [(String, String, Double)] = [("early", "v1", 0), ("late", "v1", 5 * 86_400), ("late", "v2", 5 * 86_400)]
            for (index, (experiment, unit, seconds)) in exposures.enumerated() {
                try await pool.execute(
                    """
                    INSERT INTO lake.logs (log_id, time, event_name, flag_key, flag_variant, flag_context_id, session_id)
                    VALUES (decode(md5($1), 'hex'), $2, 'feature_flag.evaluation', $3, 'control', $4, $5)
                    """, [.text("x\(index)"), .timestamptz(t0.addingTimeInterval(seconds)), .text(experiment), .text(unit), .text("s-\(experiment)-\(unit)")])
            }
            let purchases: [(String, String, Double, Int)] = [("v1", "s-early-v1", 3600, 10), ("v1", "s-late-v1", 5 * 86_400 + 3600, 20)]
            for (index, (unit, session, seconds, revenue)) in purchases.enumerated() {
                try await pool.execute(
                    """
                    INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, session_id, anonymous_id, properties)
                    VALUES (md5($1)::uuid, 'purchase', $2, now(), $3, $4, jsonb_build_object('revenue', $5::int))
                    """, [.text("p\(index)"), .timestamptz(t0.addingTimeInterval(seconds)), .text(session), .text(unit), .int64(Int64(revenue))])
            }
            _ = try await JoinWorker(pool: pool).drain()
            let report = await runner.run(ExperimentResultsJob(configuration: ETLConfiguration()), trigger: .manual, now: ETLScenario.base)
            #expect(report.status == .succeeded, "\(report)")
            #expect((report.window?.changedSince != nil) == changeDriven)
            let rows = try await pool.query(
                """
                SELECT experiment_key, unit_id, metric, value FROM lake.experiment_unit_metrics
                WHERE metric IN ('purchase_conversion', 'revenue_per_unit') ORDER BY 1, 2, 3
                """
            ).rows.map { row in
                "\(try row[0].decode(String.self)) \(try row[1].decode(String.self)) \(try row[2].decode(String.self)) \(try row[3].decode(Double?.self) ?? -1)"
            }
            #expect(rows == [
                "early v1 purchase_conversion 1.0", "early v1 revenue_per_unit 10.0",
                "late v1 purchase_conversion 1.0", "late v1 revenue_per_unit 20.0",
                "late v2 purchase_conversion 0.0", "late v2 revenue_per_unit 0.0",
            ])
        }
    }

    @Test("a change-driven run looks each touched exposure's device up once per session and time: two experiments a day apart in one session get their own")
    func devicesInChangeDrivenRun() async throws {
        try await TestDatabase.withLake { pool in
            let t0 = ETLScenario.base.addingTimeInterval(-2 * 86_400)
            try await pool.withConnection { c in
                _ = try LakePartitions.ensure(on: c, covering: t0.addingTimeInterval(-86_400), ETLScenario.base.addingTimeInterval(86_400))
            }
            let runner = JobRunner(pool: pool, lookbackHours: 48)
            let job = ExperimentResultsJob(configuration: ETLConfiguration())
            let first = await runner.run(job, trigger: .manual, now: ETLScenario.base)
            #expect(first.status == .succeeded, "\(first)")
            // s1 carries "tablet" ten hours before the early exposure and "phone" an hour after
            // it. The late exposure, 20 hours after the early one, reaches back only to four
            // hours before the early one: "phone" is its device, "tablet" the early one's.
            for (id, seconds, device) in [(1, -36_000.0, "tablet"), (2, 3_600.0, "phone")] {
                try await pool.execute(
                    """
                    INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, session_id, anonymous_id, context)
                    VALUES ($1::uuid, 'page_view', $2, $2, 's1', 'u1', jsonb_build_object('device', $3::text))
                    """, [.text("00000000-0000-0000-0000-00000000000\(id)"), .timestamptz(t0.addingTimeInterval(seconds)), .text(device)])
            }
            // (experiment, unit, exposure in seconds from t0): u1 and u2 share s1 in "late".
            let exposures: [(String, String, Double)] = [("early", "u1", 0), ("late", "u1", 72_000), ("late", "u2", 72_000)]
            for (experiment, unit, seconds) in exposures {
                try await pool.execute(
                    """
                    INSERT INTO lake.exposures (experiment_key, unit_id, unit_type, variant, first_exposed_at, last_exposed_at, session_id,
                                                evaluation_count, variants, multiple_variants)
                    VALUES ($1, $2, 'context', 'control', $3, $3, 's1', 1, ARRAY['control'], false)
                    """, [.text(experiment), .text(unit), .timestamptz(t0.addingTimeInterval(seconds))])
            }
            let report = await runner.run(job, trigger: .manual, now: ETLScenario.base)
            #expect(report.status == .succeeded, "\(report)")
            #expect(report.window?.changedSince != nil, "a change-driven run")
            let devices = try await pool.query("SELECT experiment_key, unit_id, device FROM lake.experiment_units ORDER BY 1, 2").rows.map {
                "\(try $0[0].decode(String.self)) \(try $0[1].decode(String.self)) \(try $0[2].decode(String?.self) ?? "-")"
            }
            #expect(devices == ["early u1 tablet", "late u1 phone", "late u2 phone"])
        }
    }

    @Test("a full segment_metrics run rewrites a session's kept inputs that lie outside its window when the session now starts inside it")
    func keptInputsOutsideTheWindow() async throws {
        try await withComputedScenario { pool, runner, configuration in
            let before = try await ETLScenario.snapshot(pool, ignoring: Self.timeDependent)
            // As if the session had started five days later when its inputs were kept.
            let moved = try await pool.execute(
                """
                UPDATE seam_meta.segment_metric_sessions
                SET started_at = started_at + interval '5 days', day = day + interval '5 days' WHERE session_id = 's-a1'
                """)
            #expect(moved == 1)
            try await pool.execute("DELETE FROM seam_meta.etl_state WHERE job = 'segment_metrics'")
            let report = await runner.run(SegmentMetricsJob(), trigger: .manual, now: Self.now)
            #expect(report.status == .succeeded, "\(report)")
            let kept = try await pool.query(
                """
                SELECT count(*) FROM seam_meta.segment_metric_sessions AS c JOIN lake.sessions AS s USING (session_id)
                WHERE c.started_at = s.started_at AND c.session_id = 's-a1'
                """).scalar(Int.self)
            #expect(kept == 1)
            #expect(try await ETLScenario.snapshot(pool, ignoring: Self.timeDependent) == before)
        }
    }

    @Test("units and experiments whose exposures the join removes leave the results in the next change-driven run, as a recomputation gives")
    func removedExposures() async throws {
        try await withComputedScenario { pool, runner, configuration in
            // A second experiment, seen by a2 only, arrives and is computed by a change-driven run.
            try await pool.execute(
                """
                INSERT INTO lake.logs (log_id, time, event_name, flag_key, flag_variant, flag_context_id, session_id)
                VALUES (decode(md5('a2-banner'), 'hex'), $1::timestamptz, 'feature_flag.evaluation', 'banner', 'blue', 'a2', 's-a2')
                """, [.text(ETLScenario.at(3600 + 1))])
            _ = try await JoinWorker(pool: pool).drain()
            let later = Self.now.addingTimeInterval(3600)
            try await ETLScenario.runAll(runner, configuration, now: later)
            #expect(try await pool.query("SELECT variants::text FROM lake.experiments WHERE experiment_key = 'banner'").scalar(String.self).contains("blue"))

            // The evaluations of banner and of a5's checkout exposure are gone; a rebuild has the
            // join remove both exposures.
            try await pool.execute("DELETE FROM lake.logs WHERE flag_key = 'banner' OR (flag_key = 'checkout' AND flag_context_id = 'a5')")
            _ = try await pool.withConnection {
                try JoinRebuild.enqueue(from: ETLScenario.base.addingTimeInterval(-86_400), to: later, on: $0)
            }
            _ = try await JoinWorker(pool: pool).drain()
            let removals = try await pool.query("SELECT experiment_key || '/' || unit_id FROM seam_meta.exposure_removals ORDER BY 1")
            #expect(try removals.rows.map { try $0[0].decode(String.self) } == ["banner/a2", "checkout/a5"])

            let reports = try await ETLScenario.runAll(runner, configuration, now: later.addingTimeInterval(3600))
            #expect(reports.allSatisfy { $0.status == .succeeded && $0.window?.changedSince != nil }, "\(reports)")
            #expect(try await pool.query("SELECT count(*) FROM lake.experiments WHERE experiment_key = 'banner'").scalar(Int.self) == 0)
            #expect(try await pool.query("SELECT count(*) FROM seam_meta.experiment_sums WHERE experiment_key = 'banner'").scalar(Int.self) == 0)
            #expect(try await pool.query("SELECT count(*) FROM lake.experiment_units WHERE unit_id = 'a5'").scalar(Int.self) == 0)
            let treatment = try await row(pool, metric: "purchase_conversion", variant: "treatment")
            #expect(try treatment.decode(Double.self, "units") == 2)  // a3 and a4
            let ignoring = Self.timeDependent
            let incremental = try await ETLScenario.snapshot(pool, ignoring: ignoring)

            // The next change-driven run deletes the removals the previous one saw.
            try await ETLScenario.runAll(runner, configuration, now: later.addingTimeInterval(7200))
            #expect(try await pool.query("SELECT count(*) FROM seam_meta.exposure_removals").scalar(Int.self) == 0)
            #expect(try await ETLScenario.snapshot(pool, ignoring: ignoring) == incremental)

            try await pool.execute("DELETE FROM seam_meta.etl_state")
            _ = try await ETLScenario.runAll(runner, configuration, now: later.addingTimeInterval(7200))
            let recomputed = try await ETLScenario.snapshot(pool, ignoring: ignoring)
            let differing = Set(recomputed.keys).union(incremental.keys).filter { recomputed[$0] != incremental[$0] }.sorted()
            #expect(differing == [])
        }
    }

    /// A job that holds its transaction for a while, to overlap two runs.
    struct SlowJob: ETLJob {
        let name = JobName.segments
        func run(window: JobWindow, on connection: PostgresConnection) throws -> Int {
            try connection.execute("SELECT pg_sleep(1)")
            return 1
        }
    }

    @Test("a change-driven run finds the units standing for a changed user by walking the links back from it, not by reading every exposure; the same units as a backfill's read")
    func linkedUnitsFromTheChange() async throws {
        try await TestDatabase.withLake { pool in
            // 20,000 units in 2 experiments, every third linked to a user; a few other links.
            try await pool.execute(
                """
                INSERT INTO lake.exposures (experiment_key, unit_id, unit_type, variant, first_exposed_at, last_exposed_at,
                                            evaluation_count, variants, multiple_variants, updated_at)
                SELECT 'exp-' || e, 'anon-' || g, 'context', 'control', now() - interval '2 days', now() - interval '2 days', 1,
                       '{control}', false, now() - interval '2 days'
                FROM generate_series(1, 20000) AS g, generate_series(1, 2) AS e
                """)
            try await pool.execute(
                """
                INSERT INTO lake.identities (anonymous_id, user_id, source, first_seen)
                SELECT 'anon-' || g, 'user-' || g, 'identify', now() - interval '2 days' FROM generate_series(1, 20000) AS g WHERE g % 3 = 0
                UNION ALL
                SELECT 'device-' || g, 'user-' || g, 'identify', now() - interval '2 days' FROM generate_series(1, 300) AS g
                """)
            // An alias chain: anon-7 -> old-7 -> user-7 (anon-7 is not linked above: 7 % 3 = 1).
            try await pool.execute(
                """
                INSERT INTO lake.identities (anonymous_id, user_id, source, first_seen) VALUES
                    ('anon-7', 'old-7', 'identify', now() - interval '3 days'), ('old-7', 'user-7', 'alias', now() - interval '3 days')
                """)
            try await pool.execute("ANALYZE lake.exposures")
            try await pool.execute("ANALYZE lake.identities")
            // The ids of the events stored since the last run: users 1-30, and a visitor.
            let window = JobWindow(start: nil, end: Date(), changedSince: Date().addingTimeInterval(-3600))
            let removed: SQLQuery = "SELECT NULL::text AS experiment_key, NULL::text AS unit_id WHERE false"
            func units(lookups: Bool) async throws -> (units: [String], plan: String) {
                try await pool.withConnection { c in
                    try c.executeScript("BEGIN")
                    defer { _ = try? c.executeScript("ROLLBACK") }
                    try c.executeScript(
                        """
                        CREATE TEMP TABLE xr_keys ON COMMIT DROP AS
                        SELECT 'user-' || g AS k FROM generate_series(1, 30) AS g UNION ALL SELECT 'anon-1';
                        ANALYZE xr_keys
                        """)
                    let query = ExperimentComputation.touchedUnits(
                        of: "x.experiment_key = ANY('{exp-1,exp-2}')", window: window, removed: removed, lookups: lookups)
                    let plan = try c.query(SQLQuery("EXPLAIN " + query.sql, binds: query.binds)).rows
                        .map { try $0[0].decode(String.self) }.joined(separator: "\n")
                    let found = try c.query(SQLQuery("SELECT experiment_key || ':' || unit_id FROM (" + query.sql + ") AS t ORDER BY 1", binds: query.binds))
                        .rows.map { try $0[0].decode(String.self) }
                    return (found, plan)
                }
            }
            let changeDriven = try await units(lookups: true)
            let backfill = try await units(lookups: false)
            // anon-1 itself; anon-3 ... anon-30 linked to users 3 ... 30 (every third); anon-7 by the chain.
            let expected = (["anon-1", "anon-7"] + stride(from: 3, through: 30, by: 3).map { "anon-\($0)" })
                .flatMap { ["exp-1:\($0)", "exp-2:\($0)"] }.sorted()
            #expect(changeDriven.units == expected)
            #expect(backfill.units == expected)
            #expect(!changeDriven.plan.contains("Seq Scan on exposures"), "\(changeDriven.plan)")
            #expect(!changeDriven.plan.contains("Seq Scan on identities"), "\(changeDriven.plan)")
        }
    }

    @Test("two concurrent runs of a job: one runs, the other is skipped and recorded")
    func concurrentRunsSkip() async throws {
        try await withScenario { pool in
            // The pool has three connections: the two runs get one each.
            let a = JobRunner(pool: pool, lookbackHours: 1)
            async let first = a.run(SlowJob(), trigger: .manual, now: Self.now)
            async let second = a.run(SlowJob(), trigger: .manual, now: Self.now)
            let statuses = [await first.status, await second.status].map(\.rawValue).sorted()
            #expect(statuses == ["skipped", "succeeded"])
            let recorded = try await pool.query("SELECT status, error FROM lake.etl_runs ORDER BY status")
            #expect(try recorded.rows.map { try $0[0].decode(String.self) } == ["skipped", "succeeded"])
            #expect(try recorded[0][1].decode(String.self).contains("lock"))
        }
    }

    @Test("a failing job keeps the previous results and watermark, records the error, and the others still run")
    func failingJobKeepsResults() async throws {
        try await withScenario { pool in
            let runner = JobRunner(pool: pool, lookbackHours: 48)
            try await ETLScenario.runAll(runner, now: Self.now)
            let before = try await ETLScenario.snapshot(pool)
            let watermark = try await pool.query("SELECT watermark FROM seam_meta.etl_state WHERE job = 'segments'").scalar(Date.self)
            // Valid SQL (it passes validation) that fails on the data: division by zero.
            var broken = ETLScenario.configuration
            broken.segments = [.init(name: "big_spenders", predicate: "revenue / (sessions - sessions) > 0")]
            let brokenSegments = broken.segments
            let problems = try await pool.withConnection { SegmentsJob.validate(brokenSegments, on: $0) }
            #expect(problems.isEmpty)
            var reports: [JobRunner.Report] = []
            for job in makeJobs(broken) { reports.append(await runner.run(job, trigger: .schedule, now: Self.now.addingTimeInterval(60))) }
            #expect(reports.map(\.status.rawValue) == ["succeeded", "failed", "succeeded", "succeeded", "succeeded"])
            #expect(try await ETLScenario.snapshot(pool)["segment_members"] == before["segment_members"])
            #expect(try await pool.query("SELECT watermark FROM seam_meta.etl_state WHERE job = 'segments'").scalar(Date.self) == watermark)
            let failure = try await pool.query("SELECT error FROM lake.etl_runs WHERE status = 'failed'").scalar(String.self)
            #expect(failure.contains("division by zero"))

            // A predicate that is not SQL over user_features fails validation, naming the key path.
            let invalid = try await pool.withConnection {
                SegmentsJob.validate([.init(name: "typo", predicate: "revenu > 1")], on: $0)
            }
            #expect(invalid.map(\.keyPath) == ["segments.typo.predicate"])
            #expect(invalid.first?.message.contains("revenu") == true)
        }
    }
}
