import SeamSettings
import ArgumentParser
import Foundation
import SeamAPI
import SeamETL
import SeamLake
import SeamMetrics
import SeamPostgres
import SeamProgress

/// `seam bench etl`: the cost of full and incremental ETL runs on a generated lake.
///
/// 1. A lake of `--events` tag events in `--sessions` sessions over ten days before
///    midnight UTC today, `--units` visitors exposed to each of `--experiments`
///    experiments, generated in SQL: raw rows (`lake.tag_events`, `lake.logs`) and the
///    join's derived rows (`lake.event_facts`, `lake.sessions`, `lake.exposures`).
/// 2. A full run of every job, each timed.
/// 3. `--new-percent` of new data (sessions, events and exposures of new units): nine
///    tenths in the hour after midnight, one tenth two days late (sessions of existing
///    visitors two days before midnight, stored now). Then an incremental run of every job
///    with the default settings (change-driven: what was stored since the full run), timed
///    the same way, and the ratio incremental / full; then the previous design's run for
///    comparison, an event-time window from the watermark minus the `--lookback-hours`
///    late-data lookback.
/// 4. Baseline, same run: the same aggregates (per experiment and variant: units,
///    conversions and revenue in 72 h of first exposure; per day: sessions, conversions,
///    revenue) by one plain SQL query each over the raw tables.
/// 5. Check: a full recomputation after the incremental run gives the same tables.
struct ETLBench: AsyncParsableCommand, Sendable {
    static let configuration = CommandConfiguration(
        commandName: "etl", abstract: "Full vs incremental ETL runs on a generated lake, against plain SQL over the raw tables.")

    @OptionGroup var options: GlobalOptions
    @Option(help: "Tag events in the lake.") var events: Int = 10_000_000
    @Option(help: "Sessions they belong to.") var sessions: Int = 1_000_000
    @Option(help: "Visitors exposed to every experiment.") var units: Int = 100_000
    @Option(help: "Experiments.") var experiments: Int = 5
    @Option(help: "New data before the incremental run, in percent of the lake.") var newPercent: Double = 1
    @Option(help: "Late-data lookback of the event-time run shown for comparison, in hours.") var lookbackHours: Double = 48

    func run() async throws {
        guard sessions > 0, events >= sessions, units > 0, units <= sessions, experiments > 0 else {
            throw ValidationError("need events >= sessions >= units > 0 and experiments > 0")
        }
        let runtime = try Runtime(options: options)
        try await runtime.withDatabase { adminURL in
            try await runtime.withBenchDatabase(adminURL: adminURL) { url in try await measure(url: url) }
        }
    }

    var configuration: ETLConfiguration {
        var configuration = ETLConfiguration()
        configuration.segments = [
            .init(name: "repeat_visitors", predicate: "sessions >= 3"), .init(name: "buyers", predicate: "purchases >= 1"),
        ]
        configuration.experiments = [
            .init(key: "exp0", control: "control", weights: ["control": 1, "treatment": 1], primaryMetrics: ["purchase_conversion"],
                  guardrailMetrics: ["server_duration"],
                  secondaryMetrics: MetricDefinition.builtIn.map(\.name).filter { $0 != "purchase_conversion" && $0 != "server_duration" },
                  dimensions: [.segment])
        ]
        return configuration
    }

    func measure(url: String) async throws {
        let pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 2))
        defer { Task { await pool.close() } }
        let midnight = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
        let perSession = events / sessions
        let visitors = max(units, sessions * 3 / 10)
        say("seam bench etl: \(sessions * perSession) events in \(sessions) sessions of \(visitors) visitors over 10 days, \(units) units x \(experiments) experiments")

        let progress = ProgressReporter(label: "seam bench etl")
        let phases = 5
        progress.step("phase 1 of \(phases), generating the lake")
        var clock = ContinuousClock.now
        try await pool.withConnection { connection in
            try self.generate(
                on: connection, midnight: midnight, first: 0, count: sessions, perSession: perSession, visitors: visitors,
                exposedUnits: units, prefix: "s", start: midnight.addingTimeInterval(-10 * 86_400), span: 10 * 86_400)
        }
        progress.finish("done")
        say(String(format: "  generated in %.1f s", (ContinuousClock.now - clock).seconds))

        let runner = JobRunner(pool: pool, lookbackHours: ETLConfiguration().lookbackHours)
        let jobs = makeJobs(configuration)
        var phase = 1
        func runAll(now: Date, label: String, runner: JobRunner = runner) async throws -> [JobName: Double] {
            var seconds: [JobName: Double] = [:]
            phase += 1
            progress.step("phase \(phase) of \(phases), \(label) run (jobs)", total: jobs.count)
            defer { progress.finish("done") }
            for (index, job) in jobs.enumerated() {
                defer { progress.update(done: index + 1) }
                let report = await runner.run(job, trigger: .manual, now: now)
                guard report.status == .succeeded else { throw ValidationError("\(label): \(report)") }
                seconds[job.name] = report.seconds
                say(String(format: "  %@ %@: %.2f s, %d rows", label, job.name.rawValue, report.seconds, report.rows))
            }
            return seconds
        }
        let full = try await runAll(now: midnight, label: "full")

        let newSessions = max(1, Int(Double(sessions) * newPercent / 100))
        let lateSessions = newSessions / 10
        let newUnits = max(1, Int(Double(units) * newPercent / 100))
        clock = ContinuousClock.now
        progress.step("adding the new data")
        try await pool.withConnection { connection in
            try self.generate(
                on: connection, midnight: midnight, first: sessions, count: newSessions - lateSessions, perSession: perSession,
                visitors: visitors, exposedUnits: newUnits, prefix: "n", start: midnight, span: 3000)
            // Two days late: stored now, with event times two days before midnight.
            try self.generate(
                on: connection, midnight: midnight, first: sessions + newSessions, count: lateSessions, perSession: perSession,
                visitors: visitors, exposedUnits: 0, prefix: "l", start: midnight.addingTimeInterval(-2 * 86_400 + 43_200), span: 3000)
        }
        progress.finish("done")
        say(String(format: "  added %d sessions (%d events; %d sessions two days late) and %d exposed units in %.1f s", newSessions, newSessions * perSession, lateSessions, newUnits, (ContinuousClock.now - clock).seconds))
        let later = midnight.addingTimeInterval(3600)
        let incremental = try await runAll(now: later, label: "incremental")
        let incrementalSnapshot = try await snapshot(pool)
        // The previous design for comparison: an event-time window from the watermark minus
        // the lookback (what a run does before changes are followed).
        try await pool.execute("UPDATE seam_meta.etl_state SET watermark = \(midnight), changes_since = NULL")
        let withLookback = try await runAll(
            now: later, label: "event-time-\(Int(lookbackHours))h", runner: JobRunner(pool: pool, lookbackHours: lookbackHours))

        clock = ContinuousClock.now
        progress.step("the plain-SQL baseline")
        let baselineExperiments = try await pool.query(baselineExperimentSQL).rowCount
        let experimentBaseline = (ContinuousClock.now - clock).seconds
        clock = ContinuousClock.now
        let baselineDays = try await pool.query(baselineSegmentSQL).rowCount
        let segmentBaseline = (ContinuousClock.now - clock).seconds
        progress.finish("done")

        // The change-driven incremental run must equal a recomputation from scratch.
        try await pool.execute("DELETE FROM seam_meta.etl_state")
        let recomputed = try await runAll(now: later, label: "recompute")
        let recomputedSnapshot = try await snapshot(pool)
        let different = recomputedSnapshot.keys.filter { recomputedSnapshot[$0] != incrementalSnapshot[$0] }.sorted()
        let equal = different.isEmpty

        // The console on this lake: every page type, rendered as /console serves it (from the
        // derived tables), timed without HTTP; the slowest of three renders each.
        progress.step("the console's pages")
        let api = ReadAPI(configuration: .init(segments: configuration.segments.map { ($0.name, $0.description, $0.predicate) }), pool: pool)
        var pages: [(String, Double, Int)] = []
        for path in ["/console/experiments", "/console/experiments/exp0", "/console/segments", "/console/segments/all", "/console/bandits",
                     "/console/pipeline"] {
            var slowest = 0.0
            var bytes = 0
            for _ in 0..<3 {
                let started = ContinuousClock.now
                bytes = try await api.renderConsolePage(path) ?? 0
                slowest = max(slowest, (ContinuousClock.now - started).seconds)
            }
            pages.append((path, slowest, bytes))
        }
        progress.finish("done")

        let fullMeasured = (full[.experimentResults] ?? 0) + (full[.segmentMetrics] ?? 0)
        let incrementalMeasured = (incremental[.experimentResults] ?? 0) + (incremental[.segmentMetrics] ?? 0)
        say("")
        say(String(format: "  experiment_results: full %.2f s, incremental %.2f s (%.1f %%)", full[.experimentResults] ?? 0, incremental[.experimentResults] ?? 0, 100 * (incremental[.experimentResults] ?? 0) / max(full[.experimentResults] ?? 1, 1e-9)))
        say(String(format: "  segment_metrics:    full %.2f s, incremental %.2f s (%.1f %%)", full[.segmentMetrics] ?? 0, incremental[.segmentMetrics] ?? 0, 100 * (incremental[.segmentMetrics] ?? 0) / max(full[.segmentMetrics] ?? 1, 1e-9)))
        say(String(format: "  both:               full %.2f s, incremental %.2f s — ratio %.3f", fullMeasured, incrementalMeasured, incrementalMeasured / max(fullMeasured, 1e-9)))
        say(String(format: "  user_features, segments, bandits: full %.2f s, incremental %.2f s", (full[.userFeatures] ?? 0) + (full[.segments] ?? 0) + (full[.bandits] ?? 0), (incremental[.userFeatures] ?? 0) + (incremental[.segments] ?? 0) + (incremental[.bandits] ?? 0)))
        // The issue's figure: a whole run of every job, incremental against full.
        let fullRun = full.values.reduce(0, +), incrementalRun = incremental.values.reduce(0, +)
        say(String(format: "  every job:          full %.2f s, incremental %.2f s — ratio %.3f (target <= 0.05)", fullRun, incrementalRun, incrementalRun / max(fullRun, 1e-9)))
        let lookbackMeasured = (withLookback[.experimentResults] ?? 0) + (withLookback[.segmentMetrics] ?? 0)
        say(String(format: "  previous design, event-time window with a %.0f h lookback: %.2f s — ratio %.3f (it recomputes everything the lookback reaches)", lookbackHours, lookbackMeasured, lookbackMeasured / max(fullMeasured, 1e-9)))
        say(String(format: "  baseline, plain SQL over the raw tables: experiments %.2f s (%d rows), days %.2f s (%d rows); full ETL / baseline %.2f", experimentBaseline, baselineExperiments, segmentBaseline, baselineDays, fullMeasured / max(experimentBaseline + segmentBaseline, 1e-9)))
        say(String(format: "  recomputation from scratch after the incremental run: %.2f s; tables equal to the incremental result: %@", (recomputed[.experimentResults] ?? 0) + (recomputed[.segmentMetrics] ?? 0), equal ? "yes" : "NO (\(different.joined(separator: ", ")))"))
        for (path, seconds, bytes) in pages {
            say(String(format: "  console %@: %.0f ms (%d bytes; slowest of three; target < 300 ms)", path, seconds * 1000, bytes))
        }
        if !equal { throw ExitCode.failure }
    }

    /// Prints a line at once, also into a file (print buffers until exit there).
    private func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

    /// A digest per output table, without the columns recording when a row was computed.
    /// Rule-segment rows of segment_metrics are left out: a session counts in the segments
    /// its unit is in when its period is computed, and an incremental run does not rewrite
    /// closed periods when a unit's membership changes (a backfill does).
    private func snapshot(_ pool: PostgresPool) async throws -> [String: String] {
        var digests: [String: String] = [:]
        for (table, condition) in [
            ("segment_members", "true"), ("segment_metrics", "segment = 'all'"), ("experiment_units", "true"),
            ("experiments", "true"), ("experiment_results", "true"), ("experiment_unit_metrics", "true"),
        ] {
            let row = "(to_jsonb(t) - 'computed_through' - 'as_of')::text"
            digests[table] = try await pool.query(
                "SELECT md5(string_agg(\(unescaped: row), '|' ORDER BY \(unescaped: row))) FROM lake.\(unescaped: table) AS t WHERE \(unescaped: condition)"
            ).scalar(String?.self) ?? ""
        }
        return digests
    }

    /// Raw rows and the join's derived rows for sessions [first, first + count), with the
    /// join's queue triggers off (this data is derived here directly).
    private func generate(
        on connection: PostgresConnection, midnight: Date, first: Int, count: Int, perSession: Int, visitors: Int, exposedUnits: Int,
        prefix: String, start: Date, span: Double
    ) throws {
        _ = try LakePartitions.ensure(on: connection, covering: start.addingTimeInterval(-86_400), midnight.addingTimeInterval(86_400))
        try connection.executeScript(
            """
            ALTER TABLE lake.tag_events DISABLE TRIGGER join_enqueue;
            ALTER TABLE lake.logs DISABLE TRIGGER join_enqueue;
            """)
        // Session i of visitor v: i % visitors for the base data; new sessions go to new
        // visitors first (the newly exposed units), then to existing ones.
        let visitorOf: SQLQuery = prefix == "s"
            ? "'v' || (i % \(visitors))"
            : "CASE WHEN i - \(first) < \(exposedUnits) THEN 'w' || (i - \(first)) ELSE 'v' || ((i * 37) % \(visitors)) END"
        let h: SQLQuery = "((i::bigint * 2654435761) % 4294967296)"
        let last = first + count - 1
        try connection.execute(
            """
            INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, session_id, anonymous_id, page_path, properties)
            SELECT md5(\(text: prefix) || i || ':' || k)::uuid,
                   CASE WHEN k = 8 AND \(h) % 20 = 0 THEN 'purchase'
                        WHEN k = 7 AND \(h) % 8 = 0 THEN 'add_to_basket'
                        WHEN k % 2 = 1 THEN 'product_view' ELSE 'page_view' END,
                   \(start) + ((i - \(first))::float8 / \(count) * \(span) + k * 20) * interval '1 second',
                   \(start) + ((i - \(first))::float8 / \(count) * \(span) + k * 20 + 1) * interval '1 second',
                   \(text: prefix) || i, \(visitorOf), '/p' || k,
                   CASE WHEN k = 8 AND \(h) % 20 = 0 THEN jsonb_build_object('revenue', 20 + i % 180)
                        WHEN k % 2 = 1 THEN jsonb_build_object('category', 'c' || ((i + k) % 12)) ELSE '{}' END
            FROM generate_series(\(first), \(last)) AS i, generate_series(0, \(perSession - 1)) AS k
            """)
        try connection.execute(
            """
            INSERT INTO lake.event_facts (event_id, name, occurred_at, received_at, session_id, session_source, anonymous_id, page_path,
                                          properties, revenue, trace_known, trace_duration_ms, trace_span_count, trace_error, variants)
            SELECT event_id, name, occurred_at, received_at, session_id, 'client', anonymous_id, page_path, properties,
                   lake.event_revenue(properties), name = 'page_view',
                   CASE WHEN name = 'page_view' THEN 40 + (hashtext(event_id::text) & 255) END,
                   CASE WHEN name = 'page_view' THEN 4 END, CASE WHEN name = 'page_view' THEN false END, '{}'
            FROM lake.tag_events WHERE session_id LIKE \(text: prefix) || '%' AND occurred_at >= \(start)
            """)
        try connection.execute(
            """
            INSERT INTO lake.sessions
            SELECT session_id, false, NULL, min(anonymous_id), min(occurred_at), max(occurred_at),
                   extract(epoch FROM max(occurred_at) - min(occurred_at)), count(*),
                   count(*) FILTER (WHERE name = 'page_view'), count(*) FILTER (WHERE name = 'product_view'),
                   count(*) FILTER (WHERE name = 'add_to_basket'), count(*) FILTER (WHERE name = 'purchase'),
                   coalesce(sum(revenue) FILTER (WHERE name = 'purchase'), 0), min(page_path), max(page_path),
                   count(*) FILTER (WHERE trace_known), 0,
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY trace_duration_ms), bool_or(name = 'purchase'), now()
            FROM lake.event_facts WHERE session_id LIKE \(text: prefix) || '%' AND occurred_at >= \(start)
            GROUP BY session_id
            """)
        // Exposures: the first session of each exposed visitor, in every experiment.
        let unitSessions: SQLQuery = prefix == "s"
            ? "generate_series(0, \(exposedUnits - 1))" : "generate_series(\(first), \(first + exposedUnits - 1))"
        try connection.execute(
            """
            INSERT INTO lake.logs (log_id, time, event_name, flag_key, flag_variant, flag_context_id, session_id)
            SELECT decode(md5(\(text: prefix) || i || ':' || x), 'hex'), s.started_at, 'feature_flag.evaluation', 'exp' || x,
                   CASE WHEN ((i::bigint * 2654435761 + x * 40503) % 4294967296) % 2 = 0 THEN 'control' ELSE 'treatment' END,
                   s.anonymous_id, s.session_id
            FROM \(unitSessions) AS i JOIN lake.sessions AS s ON s.session_id = \(text: prefix) || i,
                 generate_series(0, \(experiments - 1)) AS x
            """)
        try connection.execute(
            """
            INSERT INTO lake.exposures
            SELECT flag_key, flag_context_id, 'context', flag_variant, time, time, session_id, NULL, NULL, 1, ARRAY[flag_variant], false, now()
            FROM lake.logs WHERE flag_key IS NOT NULL AND time >= \(start) AND session_id LIKE \(text: prefix) || '%'
            """)
        try connection.executeScript(
            """
            ALTER TABLE lake.tag_events ENABLE TRIGGER join_enqueue;
            ALTER TABLE lake.logs ENABLE TRIGGER join_enqueue;
            ANALYZE lake.tag_events; ANALYZE lake.logs; ANALYZE lake.event_facts; ANALYZE lake.sessions; ANALYZE lake.exposures;
            """)
    }

    /// Per experiment and variant, from the raw tables: units at first evaluation, units
    /// that purchased within 72 h, and their revenue (sum and sum of squares per unit).
    private var baselineExperimentSQL: SQLQuery {
        """
        WITH first AS (
            SELECT DISTINCT ON (flag_key, flag_context_id) flag_key, flag_context_id AS unit, flag_variant AS variant, time
            FROM lake.logs WHERE flag_key IS NOT NULL ORDER BY flag_key, flag_context_id, time
        ),
        per_unit AS (
            SELECT f.flag_key, f.variant, f.unit,
                   coalesce(bool_or(t.name = 'purchase'), false) AS converted,
                   coalesce(sum(lake.event_revenue(t.properties)) FILTER (WHERE t.name = 'purchase'), 0) AS revenue
            FROM first AS f LEFT JOIN lake.tag_events AS t
              ON t.anonymous_id = f.unit AND t.occurred_at >= f.time AND t.occurred_at < f.time + interval '72 hours'
            GROUP BY 1, 2, 3
        )
        SELECT flag_key, variant, count(*), count(*) FILTER (WHERE converted), sum(revenue), sum(revenue * revenue)
        FROM per_unit GROUP BY 1, 2
        """
    }

    /// Per UTC day, from the raw tag events: sessions, sessions with a purchase, revenue.
    private var baselineSegmentSQL: SQLQuery {
        """
        SELECT date_trunc('day', started_at, 'UTC'), count(*), count(*) FILTER (WHERE converted), sum(revenue)
        FROM (SELECT session_id, min(occurred_at) AS started_at, bool_or(name = 'purchase') AS converted,
                     coalesce(sum(lake.event_revenue(properties)) FILTER (WHERE name = 'purchase'), 0) AS revenue
              FROM lake.tag_events GROUP BY session_id) AS s
        GROUP BY 1
        """
    }
}
