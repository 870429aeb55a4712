import Foundation
import SeamETL
import SeamJoin
import SeamLake
import SeamPostgres
import DatabaseSupport
import Testing

@Suite("ETL on hostile data", .requiresPostgres)
struct ETLHardeningTests {
    static let now = ETLScenario.base.addingTimeInterval(86_400)

    /// One unit of `experiment` in `variant` that purchases once with `revenue` (JSON text).
    static func unit(_ pool: PostgresPool, experiment: String, unit: String, variant: String, revenue: String) async throws {
        try await pool.execute(
            """
            INSERT INTO lake.logs (log_id, time, event_name, flag_key, flag_variant, flag_context_id, session_id)
            VALUES (decode(md5($1), 'hex'), $2::timestamptz, 'feature_flag.evaluation', $3, $4, $5, $6)
            """, [.text("\(experiment)-\(unit)"), .text(ETLScenario.at(0)), .text(experiment), .text(variant), .text(unit), .text("s-\(unit)")])
        try await pool.execute(
            """
            INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, session_id, anonymous_id, properties)
            VALUES (md5($1)::uuid, 'purchase', $2::timestamptz, now(), $3, $4, $5::jsonb)
            """, [.text("\(experiment)-\(unit)-purchase"), .text(ETLScenario.at(60)), .text("s-\(unit)"), .text(unit), .text(#"{"revenue":\#(revenue)}"#)])
    }

    static var configuration: ETLConfiguration {
        var configuration = ETLScenario.configuration
        for key in ["zero", "huge", "poison"] {
            configuration.experiments.append(.init(key: key, control: "control", secondaryMetrics: ["revenue_per_unit"]))
        }
        return configuration
    }

    static func results(_ pool: PostgresPool, _ experiment: String) async throws -> [String: PostgresRow] {
        var rows: [String: PostgresRow] = [:]
        for row in try await pool.query(
            """
            SELECT variant, units, sum, sum_squares, mean, variance, relative_lift, absolute_ci_low, p_value, note
            FROM lake.experiment_results WHERE experiment_key = $1 AND metric = 'revenue_per_unit' AND dimension = ''
            """, [.text(experiment)]
        ).rows {
            rows[try row.decode(String.self, "variant")] = row
        }
        return rows
    }

    @Test("means of 0 with variance, and revenue of 1e300, give NULL statistics with a note; every job succeeds twice")
    func degenerateAndHuge() async throws {
        try await TestDatabase.withLake { pool in
            try await ETLScenario.load(ETLScenario.visitors, into: pool)
            for (unit, variant, revenue) in [("z1", "control", "5"), ("z2", "control", "-5"), ("z3", "treatment", "5"), ("z4", "treatment", "-5")] {
                try await Self.unit(pool, experiment: "zero", unit: unit, variant: variant, revenue: revenue)
            }
            for (unit, variant, revenue) in [("h1", "control", "1e300"), ("h2", "control", "1e300"), ("h3", "treatment", "1"), ("h4", "treatment", "2")] {
                try await Self.unit(pool, experiment: "huge", unit: unit, variant: variant, revenue: revenue)
            }
            _ = try await JoinWorker(pool: pool).drain()
            let runner = JobRunner(pool: pool, lookbackHours: 48)
            try await ETLScenario.runAll(runner, Self.configuration, now: Self.now)
            try await ETLScenario.runAll(runner, Self.configuration, now: Self.now.addingTimeInterval(60))

            let zero = try await Self.results(pool, "zero")
            let zeroTreatment = try #require(zero["treatment"])
            #expect(try zeroTreatment.decode(Double.self, "mean") == 0)
            #expect(try zeroTreatment.decode(Double?.self, "relative_lift") == nil)
            #expect(try zeroTreatment.decode(String?.self, "note")?.contains("not a finite number") == true)
            #expect(try zeroTreatment.decode(Double?.self, "p_value") != nil)  // the absolute comparison is fine

            let huge = try await Self.results(pool, "huge")
            let hugeControl = try #require(huge["control"])
            #expect(try hugeControl.decode(Double?.self, "sum") == 2e300)
            #expect(try hugeControl.decode(Double?.self, "sum_squares") == nil)
            #expect(try hugeControl.decode(String?.self, "note")?.contains("exceeds double precision") == true)
            #expect(try #require(huge["treatment"]).decode(Double?.self, "sum") == 3)
            // The checkout experiment beside them is unaffected.
            #expect(try await pool.query("SELECT count(*) FROM lake.experiment_results WHERE experiment_key = 'checkout'").scalar(Int.self) > 0)
        }
    }

    @Test("an experiment whose computation fails is set aside with its error; the others are computed; it recovers")
    func failureIsConfined() async throws {
        try await TestDatabase.withLake { pool in
            try await ETLScenario.load(ETLScenario.visitors, into: pool)
            for (unit, variant) in [("p1", "control"), ("p2", "treatment")] {
                try await Self.unit(pool, experiment: "poison", unit: unit, variant: variant, revenue: "1")
            }
            _ = try await JoinWorker(pool: pool).drain()
            try await pool.execute(
                """
                CREATE FUNCTION public.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN IF NEW.experiment_key = 'poison' THEN RAISE EXCEPTION 'poisoned experiment'; END IF; RETURN NEW; END $$
                """)
            try await pool.execute(
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON lake.experiment_units FOR EACH ROW EXECUTE FUNCTION public.refuse_poison()")
            let runner = JobRunner(pool: pool, lookbackHours: 48)
            try await ETLScenario.runAll(runner, Self.configuration, now: Self.now)
            let failure = try await pool.query("SELECT item, error, attempts FROM lake.etl_failures WHERE job = 'experiment_results'")
            #expect(failure.rowCount == 1)
            #expect(try failure.first?.decode(String.self, "item") == "poison")
            #expect(try failure.first?.decode(String.self, "error").contains("poisoned experiment") == true)
            #expect(try await pool.query("SELECT count(*) FROM lake.experiment_results WHERE experiment_key = 'checkout'").scalar(Int.self) > 0)
            #expect(try await pool.query("SELECT count(*) FROM lake.experiment_results WHERE experiment_key = 'poison'").scalar(Int.self) == 0)

            try await pool.execute("DROP TRIGGER refuse_poison ON lake.experiment_units")
            try await ETLScenario.runAll(runner, Self.configuration, now: Self.now.addingTimeInterval(60))
            #expect(try await pool.query("SELECT count(*) FROM lake.etl_failures").scalar(Int.self) == 0)
            #expect(try await pool.query("SELECT count(*) FROM lake.experiment_results WHERE experiment_key = 'poison'").scalar(Int.self) > 0)
        }
    }

    @Test("a run left 'running' by a process that died is marked abandoned by the next run")
    func abandonedRun() async throws {
        try await TestDatabase.withLake { pool in
            try await pool.execute(
                """
                INSERT INTO lake.etl_runs (job, trigger, window_end, started_at, status)
                VALUES ('segment_metrics', 'schedule', now(), now() - interval '1 hour', 'running')
                """)
            let report = await JobRunner(pool: pool, lookbackHours: 48).run(SegmentMetricsJob(), trigger: .manual, now: Self.now)
            #expect(report.status == .succeeded)
            let statuses = try await pool.query("SELECT status FROM lake.etl_runs WHERE job = 'segment_metrics' ORDER BY run_id").rows
                .map { try $0[0].decode(String.self) }
            #expect(statuses == ["abandoned", "succeeded"])
        }
    }
}
