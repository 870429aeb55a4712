import Foundation
import SeamModel
import SeamPostgres

/// `lake.experiment_results` and `lake.experiments`, through the per-unit tables
/// `lake.experiment_units` and `lake.experiment_unit_metrics`.
///
/// Incremental by unit: a run recomputes the per-unit values of the units that had an
/// exposure or an event in the window (every unit when the window starts at the beginning
/// or the metric and experiment definitions changed). The sufficient statistics in
/// `seam_meta.experiment_sums` lose those units' old contributions and gain their new
/// ones. The sums are `numeric`, exact, so this gives the very numbers a recomputation
/// from scratch gives, in any order. Metrics capped at a percentile are re-aggregated from
/// all units (their cap moves with every unit).
public struct ExperimentResultsJob: ETLJob {
    public let name = JobName.experimentResults
    let configuration: ETLConfiguration

    public init(configuration: ETLConfiguration) { self.configuration = configuration }

    /// What the results depend on in the definitions. An experiment's weights are a
    /// dictionary, whose order differs from one process to the next (and with its history):
    /// they are described sorted, or every restart would look like a change of the
    /// definitions and cost a full run.
    var digest: String {
        let experiments = configuration.experiments.sorted { $0.key < $1.key }.map { experiment in
            var unweighted = experiment
            unweighted.weights = [:]
            return "\(unweighted)\u{1f}\(experiment.weights.sorted { $0.key < $1.key })"
        }
        return FNV1a.hex("\(configuration.metrics.sorted { $0.name < $1.name })\u{1e}\(experiments)".utf8)
    }

    public func run(window: JobWindow, on connection: PostgresConnection) throws -> Int {
        let everything = try definitionsChanged(to: digest, on: connection) || window.isEverything
        // An experiment that failed before is recomputed in full (its units touched since
        // were skipped); one that fails now is set aside without stopping the others.
        let failedBefore = Set(
            try connection.query("SELECT item FROM lake.etl_failures WHERE job = $1", [.text(name.rawValue)]).rows.map {
                try $0[0].decode(String.self)
            })
        // A change-driven run takes the units whose exposure the join removed since the
        // previous run from seam_meta.exposure_removals; other runs compare every stored unit
        // with the exposures.
        let since = everything ? nil : window.changedSince
        var removals = 0
        if let since {
            removals = try connection.execute(
                """
                CREATE TEMP TABLE xr_removed ON COMMIT DROP AS
                SELECT DISTINCT experiment_key, unit_id FROM seam_meta.exposure_removals WHERE removed_at >= $1
                """, [.timestamptz(since)])
            // What this job's and user_features' previous runs saw (see JobRunner's changes_since).
            try connection.execute(
                """
                DELETE FROM seam_meta.exposure_removals
                WHERE removed_at < least($1::timestamptz, (SELECT min(changes_since) FROM seam_meta.etl_state WHERE job = $2))
                """, [.timestamptz(since), .text(JobName.userFeatures.rawValue)])
        }
        // The variants seen per experiment. After a change without removals or earlier
        // failures, those of the experiments' rows (every variant seen by the previous run,
        // and the configured ones) and of the exposures changed since: the same set as all
        // the exposures give, without reading every exposure of every experiment (25 of a
        // change-driven run's 750 ms at a fifth of seam bench etl's scale).
        let variantsSQL: SQLQuery = if let since, removals == 0, failedBefore.isEmpty {
            """
            SELECT experiment_key, array_to_json(array_agg(DISTINCT variant ORDER BY variant))::text FROM (
                SELECT x.experiment_key, x.variant FROM lake.exposures AS x WHERE x.updated_at >= \(PostgresValue.timestamptz(since))::timestamptz
                UNION ALL
                SELECT e.experiment_key, v.name FROM lake.experiments AS e CROSS JOIN LATERAL jsonb_to_recordset(e.variants) AS v(name text)
            ) AS v GROUP BY 1
            """
        } else {
            "SELECT experiment_key, array_to_json(array_agg(DISTINCT variant ORDER BY variant))::text FROM lake.exposures GROUP BY 1"
        }
        var seen: [String: [String]] = [:]
        for row in try connection.query(variantsSQL).rows {
            let variants = try JSONDecoder().decode([String].self, from: Data(try row[1].decode(String.self).utf8))
            seen[try row[0].decode(String.self)] = variants
        }
        if !everything {
            // Every id a new or changed event (or, for a backfill, an event in the window) could
            // match a unit by.
            try connection.execute(
                """
                CREATE TEMP TABLE xr_keys ON COMMIT DROP AS
                SELECT DISTINCT k FROM lake.event_facts AS e,
                       LATERAL (VALUES (e.user_id), (e.anonymous_id), (e.session_id), (e.resolved_user_id)) AS ids(k)
                WHERE \(window.rows("e", eventStart: "occurred_at", eventEnd: "occurred_at")) AND k IS NOT NULL
                """)
            try connection.analyzeTemporary("xr_keys")
        }
        let configured = Dictionary(configuration.experiments.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let keys = Set(seen.keys).union(configured.keys).sorted()
        // Experiments neither configured nor exposed any more (a join rebuild removed them).
        let stored = try connection.query("SELECT experiment_key FROM lake.experiments").rows.map { try $0[0].decode(String.self) }
        let removed = Set(stored).subtracting(keys).sorted()
        if !removed.isEmpty {
            for table in [
                "lake.experiments", "lake.experiment_results", "lake.experiment_units", "lake.experiment_unit_metrics",
                "seam_meta.experiment_sums",
            ] {
                // Experiment keys come from clients' flag evaluations: bound, never inlined.
                for key in removed { try connection.execute("DELETE FROM \(unescaped: table) WHERE experiment_key = \(text: key)") }
            }
        }
        // A full run finds every unit's device, segments and events for all experiments at
        // once (ExperimentComputation.sharedUnitInputs); without experiments there is
        // nothing to read.
        if everything, !keys.isEmpty {
            let reaches = keys.map { key in
                let definition = configured[key] ?? ExperimentDefinition(key: key)
                return (key, ExperimentComputation(
                    definition: definition, configured: configured[key] != nil, variantsSeen: [], configuration: configuration,
                    window: window, everything: true, changedSince: nil
                ).reach)
            }
            try ExperimentComputation.sharedUnitInputs(reaches: reaches, on: connection)
        }
        // A change-driven run finds the touched units of every experiment at once and reads
        // their events once for all of them (ExperimentComputation.changedUnitInputs); an
        // experiment that failed before is recomputed whole, on its own.
        let shared = keys.filter { !failedBefore.contains($0) }
        if let since, !shared.isEmpty {
            try ExperimentComputation.changedUnitInputs(
                reaches: shared.map { key in
                    (key, ExperimentComputation(
                        definition: configured[key] ?? ExperimentDefinition(key: key), configured: configured[key] != nil,
                        variantsSeen: [], configuration: configuration, window: window, everything: false, changedSince: since
                    ).reach)
                }, window: window, since: since, on: connection)
        }
        var rows = 0
        for key in keys {
            let definition = configured[key] ?? ExperimentDefinition(key: key)
            try connection.executeScript("SAVEPOINT seam_experiment")
            do {
                rows += try ExperimentComputation(
                    definition: definition, configured: configured[key] != nil, variantsSeen: seen[key] ?? [],
                    configuration: configuration, window: window, everything: everything || failedBefore.contains(key),
                    changedSince: since, sharedInputs: everything,
                    sharedEvents: everything || (since != nil && !failedBefore.contains(key))
                ).run(on: connection)
                try connection.executeScript("RELEASE SAVEPOINT seam_experiment")
                if failedBefore.contains(key) {
                    try connection.execute("DELETE FROM lake.etl_failures WHERE job = $1 AND item = $2", [.text(name.rawValue), .text(key)])
                }
            } catch where !error.isDatabaseOutage {
                try connection.executeScript("ROLLBACK TO SAVEPOINT seam_experiment")
                try connection.execute(
                    """
                    INSERT INTO lake.etl_failures (job, item, error) VALUES ($1, $2, $3)
                    ON CONFLICT (job, item) DO UPDATE SET failed_at = now(), attempts = etl_failures.attempts + 1, error = EXCLUDED.error
                    """, [.text(name.rawValue), .text(key), .text("\(error)")])
            }
        }
        if everything {
            // Fresh statistics, so that the next incremental runs plan index lookups.
            try connection.executeScript("ANALYZE lake.experiment_units; ANALYZE lake.experiment_unit_metrics; ANALYZE seam_meta.experiment_sums")
        }
        return rows
    }
}

/// One experiment's run.
struct ExperimentComputation {
    let definition: ExperimentDefinition
    let configured: Bool
    let variantsSeen: [String]
    let configuration: ETLConfiguration
    let window: JobWindow
    let everything: Bool
    /// Set in a change-driven run: the start of the changes it follows. xr_removed then holds
    /// the units whose exposure was removed since, and xr_keys the ids of the events stored
    /// or changed since.
    let changedSince: Date?
    /// Set in a full run of every experiment: xr_devices, xr_unit_segments and
    /// xr_unit_events hold every unit's device, segments and events (sharedUnitInputs).
    var sharedInputs = false
    /// Set in a full run of every experiment and in a change-driven run (for the experiments
    /// that did not fail before): xr_unit_events holds the recomputed units' events
    /// (allUnitEvents), and, in a change-driven run, xr_all_touched the recomputed units of
    /// every experiment (changedUnitInputs).
    var sharedEvents = false

    var key: PostgresValue { .text(definition.key) }

    /// Metrics with their role; every metric as secondary when the experiment names none.
    var metrics: [(metric: MetricDefinition, role: String)] {
        var result: [(MetricDefinition, String)] = []
        var names = Set<String>()
        let lists = [("primary", definition.primaryMetrics), ("guardrail", definition.guardrailMetrics), ("secondary", definition.secondaryMetrics)]
        let named = lists.flatMap { list in list.1.map { (list.0, $0) } }
        for (role, name) in named.isEmpty ? configuration.metrics.map({ ("secondary", $0.name) }) : named {
            guard let metric = configuration.metric(named: name), names.insert(name).inserted else { continue }
            result.append((metric, role))
        }
        return result
    }

    /// The metric whose sums are also kept per exposure day (dimension `exposure_day` of
    /// `seam_meta.experiment_sums`, never in the results): the console's cumulative lift.
    /// The first primary metric by name, else the first metric by name.
    var trendMetric: String? {
        let primary = metrics.filter { $0.role == "primary" }.map(\.metric.name)
        return (primary.isEmpty ? metrics.map(\.metric.name) : primary).min()
    }

    var variants: [String] { Set(variantsSeen).union(definition.weights.keys).sorted() }

    var control: String {
        if let control = definition.control { return control }
        return variants.contains("control") ? "control" : (variants.first ?? "control")
    }

    func run(on connection: PostgresConnection) throws -> Int {
        try connection.execute("DROP TABLE IF EXISTS xr_touched, xr_units, xr_events, xr_old, xr_metrics, xr_same, xr_reuse")
        if everything {
            if !sharedInputs {
                try connection.execute(
                    "CREATE TEMP TABLE xr_touched ON COMMIT DROP AS SELECT unit_id FROM lake.exposures WHERE experiment_key = $1", [key])
            }
            try connection.execute("DELETE FROM lake.experiment_units WHERE experiment_key = $1", [key])
            try connection.execute("DELETE FROM lake.experiment_unit_metrics WHERE experiment_key = $1", [key])
            try connection.execute("DELETE FROM seam_meta.experiment_sums WHERE experiment_key = $1", [key])
        } else {
            if sharedEvents {
                try connection.execute(
                    "CREATE TEMP TABLE xr_touched ON COMMIT DROP AS SELECT unit_id FROM xr_all_touched WHERE experiment_key = $1", [key])
            } else {
                // Every stored unit compared with the exposures (for a backfill's window).
                let removed: SQLQuery = """
                    SELECT u.experiment_key, u.unit_id FROM lake.experiment_units AS u
                    WHERE u.experiment_key = \(key) AND NOT EXISTS (
                        SELECT 1 FROM lake.exposures AS x WHERE x.experiment_key = \(key) AND x.unit_id = u.unit_id)
                    """
                try connection.execute(
                    """
                    CREATE TEMP TABLE xr_touched ON COMMIT DROP AS
                    SELECT unit_id FROM (\(Self.touchedUnits(of: "x.experiment_key = \(key)", window: window, removed: removed))) AS t
                    """)
            }
            try connection.analyzeTemporary("xr_touched")
            // The stored rows of the recomputed units (for their devices, see xr_units below,
            // for the units left as they are, and for the experiment's row), by index lookups
            // (= ANY of the recomputed ones): joined with xr_touched, the planner read every
            // unit of the experiment by a bitmap scan and hashed them (21 ms for 740 of 20,200
            // units at a fifth of seam bench etl's scale, against 4.5 ms).
            try connection.execute(
                """
                CREATE TEMP TABLE xr_old ON COMMIT DROP AS
                SELECT * FROM lake.experiment_units WHERE experiment_key = \(key) AND unit_id = ANY(ARRAY(SELECT unit_id FROM xr_touched))
                """)
        }
        // The recomputed units with what their dimensions need: each unit's device (the first
        // tag event with one in the exposed session within a day of the exposure), segments
        // and user.
        let multiple = PostgresValue.bool(definition.multipleExposures == .first)
        if sharedInputs {
            // A full run of every experiment: devices and segments found for all of them at
            // once (sharedUnitInputs) and joined; looked up per unit, as below, they took 0.30
            // against 0.10 s per experiment of 20,200 units at a fifth of seam bench etl's
            // scale (the devices' lookups in the tag events, before that, 0.84 s). Every
            // exposure of the experiment is recomputed.
            try connection.execute(
                """
                CREATE TEMP TABLE xr_units ON COMMIT DROP AS
                SELECT x.experiment_key, x.unit_id, x.unit_type, x.variant, x.first_exposed_at, d.device,
                       coalesce(g.segments, '{}') AS segments, \(Self.resolvedUser) AS resolved_user_id
                FROM lake.exposures AS x
                LEFT JOIN xr_devices AS d ON d.experiment_key = x.experiment_key AND d.unit_id = x.unit_id
                LEFT JOIN xr_unit_segments AS g ON g.unit_id = \(Self.segmentUnit)
                WHERE x.experiment_key = \(key) AND (NOT x.multiple_variants OR \(multiple))
                """)
        } else {
            // Index lookups: a change-driven run recomputes a few hundred units.
            //
            // After a change, a unit recomputed for another reason keeps the device it had
            // when neither its exposure (the session and the time) nor an event of that
            // session changed since: that is all the device depends on. Most recomputed units
            // are returning visitors with events in new sessions; looking their device up
            // again cost 0.8 of a 4.9 s change-driven run at seam bench etl's default scale.
            let device: SQLQuery
            let devices: SQLQuery
            if let since = changedSince, !everything {
                // The devices looked up once for all experiments (changedUnitInputs), when
                // there: an exposure's device depends on its session and time only.
                let shared: SQLQuery = sharedEvents ? "WHEN d.session_id IS NOT NULL THEN d.device" : ""
                device = """
                    CASE WHEN o.unit_id IS NOT NULL AND x.updated_at < \(PostgresValue.timestamptz(since))::timestamptz
                              AND NOT EXISTS (SELECT 1 FROM xr_keys AS k WHERE k.k = x.session_id)
                         THEN o.device \(shared) ELSE \(Self.deviceLookup) END
                    """
                devices = sharedEvents
                    ? """
                      LEFT JOIN xr_old AS o ON o.unit_id = x.unit_id
                      LEFT JOIN xr_touched_devices AS d ON d.session_id = x.session_id AND d.first_exposed_at = x.first_exposed_at
                      """
                    : "LEFT JOIN xr_old AS o ON o.unit_id = x.unit_id"
            } else {
                (device, devices) = (Self.deviceLookup, "")
            }
            // After a change, the recomputed units' exposures by the primary key (= ANY of the
            // few units): joined with xr_touched, the planner read all of the experiment's
            // exposures (20,200 at a fifth of seam bench etl's scale, for 740 units) and
            // hashed them. A full run of one experiment or a backfill reads most of them.
            let touched: SQLQuery = changedSince != nil && !everything
                ? "x.unit_id = ANY(ARRAY(SELECT unit_id FROM xr_touched))" : "x.unit_id IN (SELECT unit_id FROM xr_touched)"
            try connection.execute(
                """
                CREATE TEMP TABLE xr_units ON COMMIT DROP AS
                SELECT x.experiment_key, x.unit_id, x.unit_type, x.variant, x.first_exposed_at, \(device) AS device,
                       coalesce((SELECT array_agg(m.segment ORDER BY m.segment) FROM lake.segment_members AS m
                                 WHERE m.unit_id = \(Self.segmentUnit)), '{}') AS segments,
                       \(Self.resolvedUser) AS resolved_user_id
                FROM lake.exposures AS x \(devices)
                WHERE x.experiment_key = \(key) AND (NOT x.multiple_variants OR \(multiple)) AND \(touched)
                """)
        }
        try connection.analyzeTemporary("xr_units")
        // The recomputed units' rows and metric rows, and their contributions added to the
        // sums (after a change, less the old rows' contributions).
        let rows = everything ? try allUnitMetrics(on: connection) : try changedUnitMetrics(on: connection)
        let percentileCapped = metrics.map(\.metric).filter { if case .percentile = $0.cap { true } else { false } }
        if !percentileCapped.isEmpty {
            try connection.execute(
                "DELETE FROM seam_meta.experiment_sums WHERE experiment_key = \(key) AND metric = ANY(\(percentileCapped.map(\.name)))")
            try withoutSorts(
                try sums(
                    sign: 1, metrics: percentileCapped,
                    of: """
                        lake.experiment_unit_metrics AS m JOIN lake.experiment_units AS u ON u.experiment_key = \(key) AND u.unit_id = m.unit_id
                        WHERE m.experiment_key = \(key)
                        """, on: connection),
                on: connection)
        }
        try connection.execute("DELETE FROM seam_meta.experiment_sums WHERE experiment_key = $1 AND units = 0", [key])
        return rows + (try results(on: connection))
    }

    /// The units a run that is not a full one recomputes (experiment_key, unit_id), in the
    /// experiments for which `experiments` (a condition on `lake.exposures` aliased `x`)
    /// holds: those with an exposure stored or changed since (or, for a backfill, in the
    /// window), those with an event stored or changed since (xr_keys), those standing for a
    /// user with such an event, and `removed` (units whose exposure is gone).
    ///
    /// With `lookups`, the exposures of the ids in xr_keys are looked up by the unit index, id
    /// by id (a change-driven run's few thousand ids), and so are the ids linked to them; else
    /// the planner joins them (a backfill's window may hold most ids).
    static func touchedUnits(of experiments: SQLQuery, window: JobWindow, removed: SQLQuery, lookups: Bool = false) -> SQLQuery {
        let byKey: SQLQuery = lookups
            ? """
              SELECT x.experiment_key, x.unit_id FROM xr_keys CROSS JOIN LATERAL (
                  SELECT x.experiment_key, x.unit_id FROM lake.exposures AS x WHERE x.unit_id = xr_keys.k AND \(experiments) OFFSET 0
              ) AS x
              """
            : "SELECT x.experiment_key, x.unit_id FROM lake.exposures AS x JOIN xr_keys ON xr_keys.k = x.unit_id WHERE \(experiments)"
        // Units that stand for a user (lake.identities) with an event in xr_keys. After a
        // change: the ids whose links lead to an id of xr_keys, walked backwards from those
        // ids through the links' user index (at most 16 links, as lake.resolve_user follows
        // them; an id standing for itself through a cycle is in xr_keys, above); of those
        // with an exposure (a lookup by the unit index), the ones that stand for an id of
        // xr_keys (walked forwards once per id, not once per exposure); then their exposures.
        // Reading every exposure of the experiments and walking each linked unit forwards grew
        // with the lake, not with the change: by hand, with 500,000 exposures of 5 experiments,
        // 30,000 of their units linked and a million other links, the units of 10,000 changed
        // user ids took 8.0-9.7 s found that way and 0.37-0.40 s this way, the same units
        // (docs/benchmarks.md, "Identity links at the cost of the change"). A backfill keeps
        // that read.
        let linked: SQLQuery = lookups
            ? """
              SELECT x.experiment_key, x.unit_id FROM (
                  SELECT c.id FROM (
                      WITH RECURSIVE reaching(id, depth) AS (
                          SELECT k, 0 FROM xr_keys
                          UNION
                          SELECT i.anonymous_id, r.depth + 1 FROM reaching AS r
                          CROSS JOIN LATERAL (SELECT i.anonymous_id FROM lake.identities AS i WHERE i.user_id = r.id OFFSET 0) AS i
                          WHERE r.depth < 16
                      )
                      SELECT DISTINCT id FROM reaching WHERE depth > 0
                  ) AS c
                  WHERE CASE WHEN EXISTS (SELECT 1 FROM lake.exposures AS x WHERE x.unit_id = c.id AND \(experiments) OFFSET 0)
                             THEN lake.resolve_user(c.id) IN (SELECT k FROM xr_keys) ELSE false END
              ) AS c
              CROSS JOIN LATERAL (
                  SELECT x.experiment_key, x.unit_id FROM lake.exposures AS x WHERE x.unit_id = c.id AND \(experiments) OFFSET 0
              ) AS x
              """
            : """
              SELECT x.experiment_key, x.unit_id FROM lake.exposures AS x
              WHERE \(experiments) AND EXISTS (SELECT 1 FROM lake.identities AS i WHERE i.anonymous_id = x.unit_id)
                AND lake.resolve_user(x.unit_id) IN (SELECT k FROM xr_keys)
              """
        return """
        SELECT x.experiment_key, x.unit_id FROM lake.exposures AS x
        WHERE \(experiments) AND \(window.rows("x", eventStart: "first_exposed_at", eventEnd: "last_exposed_at"))
        UNION \(byKey)
        UNION \(linked)
        -- Units whose exposure is gone (a join rebuild removed it).
        UNION \(removed)
        """
    }

    /// What a change-driven run reads once for all the experiments it recomputes (each
    /// one's `reach`): the units each recomputes (xr_all_touched; the join recorded those
    /// whose exposure it removed in xr_removed), and their events, each unit's read once
    /// (allUnitEvents). Every visitor of seam bench etl is exposed to all five experiments:
    /// read per experiment, the same units' events took 0.79 s of a 3.5 s change-driven run
    /// at its default scale.
    static func changedUnitInputs(
        reaches: [(String, (before: Double, after: Double))], window: JobWindow, since: Date, on connection: PostgresConnection
    ) throws {
        let keys = reaches.map(\.0)
        try connection.execute(
            """
            CREATE TEMP TABLE xr_all_touched ON COMMIT DROP AS
            SELECT t.experiment_key, t.unit_id, x.unit_type, x.session_id, x.first_exposed_at, x.updated_at
            FROM (\(touchedUnits(
                of: "x.experiment_key = ANY(\(keys))", window: window,
                removed: "SELECT r.experiment_key, r.unit_id FROM xr_removed AS r WHERE r.experiment_key = ANY(\(keys))", lookups: true))
            ) AS t
            LEFT JOIN LATERAL (
                SELECT * FROM lake.exposures AS x WHERE x.experiment_key = t.experiment_key AND x.unit_id = t.unit_id OFFSET 0
            ) AS x ON true
            """)
        try connection.analyzeTemporary("xr_all_touched")
        try allUnitEvents(reaches: reaches, exposures: "xr_all_touched", changedSince: since, on: connection)
        // The devices of the touched exposures that each experiment would look up (see
        // xr_units: those stored or changed since, or whose session has a new event), once
        // per session and time. seam bench etl exposes each visitor to its five experiments
        // in one session at one time: looked up per experiment, the same devices took five
        // times the lookups.
        try connection.execute(
            """
            CREATE TEMP TABLE xr_touched_devices ON COMMIT DROP AS
            SELECT x.session_id, x.first_exposed_at, \(deviceLookup) AS device FROM (
                SELECT DISTINCT x.session_id, x.first_exposed_at FROM xr_all_touched AS x
                WHERE x.session_id IS NOT NULL
                  AND (x.updated_at >= \(PostgresValue.timestamptz(since))::timestamptz OR EXISTS (SELECT 1 FROM xr_keys AS k WHERE k.k = x.session_id))
            ) AS x
            """)
        try connection.analyzeTemporary("xr_touched_devices")
    }

    /// The id whose segments (`lake.segment_members`) a unit (`lake.exposures` aliased `x`)
    /// is in: a session's user, else the unit.
    static let segmentUnit: SQLQuery = "CASE WHEN x.unit_type = 'session' THEN x.user_id ELSE x.unit_id END"

    /// The user a unit (`lake.exposures` aliased `x`) stands for: none for a session, else
    /// the end of its identity links (only ids with a link need the walk).
    static let resolvedUser: SQLQuery = """
        CASE WHEN x.unit_type = 'session' THEN NULL
             WHEN EXISTS (SELECT 1 FROM lake.identities AS i WHERE i.anonymous_id = x.unit_id) THEN lake.resolve_user(x.unit_id)
             ELSE x.unit_id END
        """

    /// How far before and after its first exposure a unit's metrics read events.
    var reach: (before: Double, after: Double) {
        let sql = metrics.map { MetricSQL(metric: $0.metric, cupedDays: definition.cupedDays) }
        return (sql.map(\.reach.before).max() ?? 0, sql.map(\.reach.after).max() ?? 0)
    }

    /// The events of units (`u`: unit_id, unit_type, resolved_user_id) for which `range`
    /// holds, with `columns`: by the id the unit is (user id or anonymous id for flag
    /// contexts, user id for users, session id for sessions) and, for flag contexts and
    /// users, the events of every id that stands for the same user (`resolved_user_id`: the
    /// browsing before a login, the purchases on another device once logged in). The
    /// exposed unit stays the unit analysed. An event matched twice is taken once.
    static func unitEvents(_ columns: SQLQuery, of units: SQLQuery, where range: SQLQuery) -> SQLQuery {
        """
        SELECT \(columns) FROM \(units) AS u JOIN lake.event_facts AS e ON e.user_id = u.unit_id
        WHERE u.unit_type IN ('context', 'user') AND \(range)
        UNION ALL
        SELECT \(columns) FROM \(units) AS u JOIN lake.event_facts AS e ON e.anonymous_id = u.unit_id
        WHERE u.unit_type = 'context' AND e.user_id IS DISTINCT FROM u.unit_id AND \(range)
        UNION ALL
        SELECT \(columns) FROM \(units) AS u JOIN lake.event_facts AS e ON e.session_id = u.unit_id
        WHERE u.unit_type = 'session' AND \(range)
        UNION ALL
        SELECT \(columns) FROM \(units) AS u JOIN lake.event_facts AS e ON e.resolved_user_id = u.resolved_user_id
        WHERE u.unit_type IN ('context', 'user') AND e.user_id IS DISTINCT FROM u.unit_id
          AND e.anonymous_id IS DISTINCT FROM u.unit_id AND \(range)
        """
    }

    /// What a full run of every experiment reads about the units once for all experiments
    /// (each experiment's `reach`): their devices (allDevices), the segments of every
    /// exposed unit (xr_unit_segments; by index lookups per unit they took about twice as
    /// long in each experiment as this for all), and their events (allUnitEvents).
    static func sharedUnitInputs(reaches: [(String, (before: Double, after: Double))], on connection: PostgresConnection) throws {
        try allDevices(on: connection)
        try connection.execute(
            """
            CREATE TEMP TABLE xr_unit_segments ON COMMIT DROP AS
            SELECT m.unit_id, array_agg(m.segment ORDER BY m.segment) AS segments FROM lake.segment_members AS m
            WHERE m.unit_id IN (SELECT \(segmentUnit) FROM lake.exposures AS x)
            GROUP BY m.unit_id
            """)
        try connection.analyzeTemporary("xr_unit_segments (unit_id)")
        try allUnitEvents(reaches: reaches, on: connection)
    }

    /// The events a unit reads in any experiment, each unit's read once, for a full run: a
    /// unit's reach is its own (the experiment's metrics and CUPED days from its first
    /// exposure), and a unit in several experiments (the same id, type and user) reads from
    /// the earliest start of its reaches to the latest end, into xr_unit_events. Each
    /// experiment then takes its units' events inside their own reach from there (the same
    /// rows a read for the experiment alone gives). Read once per experiment, the events of
    /// a full run took 0.54 s per experiment at a fifth of seam bench etl's scale (20,200
    /// units in each of five experiments, every visitor exposed to all five in the same
    /// session). A unit whose exposures lie far apart reads the events between them too.
    ///
    /// `exposures` (a table with the exposures' experiment_key, unit_id, unit_type and
    /// first_exposed_at; a unit without an exposure has no unit_type) limits the read to its
    /// units, for a change-driven run. With `changedSince`, each event also says whether it
    /// was stored or changed since (`changed`), for `reusable`.
    static func allUnitEvents(
        reaches: [(String, (before: Double, after: Double))], exposures: SQLQuery = "lake.exposures", changedSince: Date? = nil,
        on connection: PostgresConnection
    ) throws {
        let changed: SQLQuery = changedSince.map { ", e.updated_at >= \(PostgresValue.timestamptz($0))::timestamptz AS changed" } ?? ""
        let values = SQLQuery.joined(
            reaches.map { "(\(text: $0.0), \(MetricSQL.seconds($0.1.before)), \(MetricSQL.seconds($0.1.after)))" }, separator: ", ")
        try connection.execute(
            """
            CREATE TEMP TABLE xr_reaches ON COMMIT DROP AS
            SELECT x.unit_id, x.unit_type, \(resolvedUser) AS resolved_user_id,
                   min(x.first_exposed_at - r.before) AS reach_start, max(x.first_exposed_at + r.after) AS reach_end
            FROM \(exposures) AS x JOIN (VALUES \(values)) AS r(experiment_key, before, after) USING (experiment_key)
            WHERE x.unit_type IS NOT NULL
            GROUP BY 1, 2, 3
            """)
        try connection.analyzeTemporary("xr_reaches")
        try withLookups(on: connection) {
            try connection.execute(
                """
                CREATE TEMP TABLE xr_unit_events ON COMMIT DROP AS
                \(unitEvents(
                    "u.unit_id, u.unit_type, u.resolved_user_id, e.name, e.occurred_at, e.revenue, e.trace_duration_ms, e.properties\(changed)",
                    of: "xr_reaches", where: "e.occurred_at >= u.reach_start AND e.occurred_at < u.reach_end"))
                """)
        }
        // No index: each experiment joins its units to these rows by hash (an index cost 0.13 s
        // at a fifth of seam bench etl's scale and was not read).
        try connection.analyzeTemporary("xr_unit_events (unit_id, unit_type)")
    }

    /// Runs `body` (a statement of a full run that reads units' events) with hash and merge
    /// joins off, so that each unit's events are looked up: the lake's indexes by the ids
    /// lead with the id and then the time, so a lookup reads only the events inside the
    /// unit's reach. Left to itself, the planner hashed every event fact against the units,
    /// a read of the whole table: 0.89–0.97 s per experiment at a fifth of seam bench etl's
    /// scale, against 0.60–0.72 s looked up (the 20,200 units have 800,000 of the 2 million
    /// event facts, 200,000 inside their reach). The settings return to their defaults after.
    static func withLookups(on connection: PostgresConnection, _ body: () throws -> Void) throws {
        try connection.execute("SET LOCAL enable_hashjoin = off")
        try connection.execute("SET LOCAL enable_mergejoin = off")
        try body()
        try connection.execute("SET LOCAL enable_hashjoin TO DEFAULT")
        try connection.execute("SET LOCAL enable_mergejoin TO DEFAULT")
    }

    /// A unit's device (`lake.exposures` aliased `x`): `context.device`, else
    /// `context.device_type`, of the earliest tag event carrying one in the session of the
    /// first exposure, within a day of it. Looked up by index (about three day partitions
    /// probed per unit), which suits the few hundred units of a change-driven run.
    static let deviceLookup: SQLQuery = """
        (SELECT coalesce(t.context ->> 'device', t.context ->> 'device_type') FROM lake.tag_events AS t
         WHERE t.session_id = x.session_id
           AND t.occurred_at >= x.first_exposed_at - interval '1 day' AND t.occurred_at < x.first_exposed_at + interval '1 day'
           AND coalesce(t.context ->> 'device', t.context ->> 'device_type') IS NOT NULL
         ORDER BY t.occurred_at, t.event_id LIMIT 1)
        """

    /// xr_devices: the device (as `deviceLookup` gives it) of every exposed unit of every
    /// experiment, for a full run, in one statement: the exposures joined with the tag
    /// events of their sessions that carry a device, the earliest within a day of the
    /// exposure kept. Looked up per unit, the devices of a full run took 0.84 s per
    /// experiment at a fifth of seam bench etl's scale (20,200 units, whose sessions' tag
    /// events carry no device, so that each lookup read its whole session in three day
    /// partitions): 4.2 s for the five experiments, against 0.58–0.64 s for this one
    /// statement. The join's rows are the exposures times the device-carrying tag
    /// events of their session within the two days; the DISTINCT ON sorts them (on disk
    /// beyond `work_mem`). The planner picks the join: a hash join that reads the tag events
    /// once when the exposures are many, and lookups by `tag_events_session_idx` (as the
    /// lookup per unit does) when they are few against the tag events (checked by EXPLAIN).
    static func allDevices(on connection: PostgresConnection) throws {
        try connection.execute(
            """
            CREATE TEMP TABLE xr_devices ON COMMIT DROP AS
            SELECT DISTINCT ON (x.experiment_key, x.unit_id) x.experiment_key, x.unit_id, t.device
            FROM lake.exposures AS x
            LEFT JOIN (
                SELECT t.session_id, t.occurred_at, t.event_id, coalesce(t.context ->> 'device', t.context ->> 'device_type') AS device
                FROM lake.tag_events AS t WHERE t.session_id IS NOT NULL
            ) AS t ON t.session_id = x.session_id AND t.device IS NOT NULL
                  AND t.occurred_at >= x.first_exposed_at - interval '1 day' AND t.occurred_at < x.first_exposed_at + interval '1 day'
            ORDER BY x.experiment_key, x.unit_id, t.occurred_at, t.event_id
            """)
        try connection.analyzeTemporary("xr_devices (experiment_key, unit_id)")
    }

    /// The cap of each capped metric: its absolute cap, or the percentile over all the
    /// experiment's units.
    private func capValues(_ metrics: [MetricDefinition], on connection: PostgresConnection) throws -> [String: Double] {
        var caps: [String: Double] = [:]
        for metric in metrics {
            switch metric.cap {
            case .absolute(let value): caps[metric.name] = value
            case .percentile(let p):
                caps[metric.name] = try connection.query(
                    """
                    SELECT percentile_cont($3::float8) WITHIN GROUP (ORDER BY value) FROM lake.experiment_unit_metrics
                    WHERE experiment_key = $1 AND metric = $2 AND value IS NOT NULL
                    """, [key, .text(metric.name), .float64(p)]
                ).scalar(Double?.self)
            case nil: break
            }
        }
        return caps
    }

    /// Metrics whose sums are maintained by difference: all but percentile-capped ones.
    var deltaMetrics: [MetricDefinition] {
        metrics.map(\.metric).filter { if case .percentile = $0.cap { false } else { true } }
    }

    /// Runs a statement built on `sums` with sorts off, so that its groupings hash: the
    /// planner sorts the rows by their grouping keys (the first of which take few values)
    /// and prices the comparisons of the segments (arrays) that then decide nearly every
    /// comparison as if they were cheap. For one experiment's 5,180 metric rows of a
    /// change-driven run at a fifth of seam bench etl's scale, the sort alone took 14 of
    /// the statement's 55–63 ms, against 41 ms in all with hash aggregation. The setting
    /// returns to its default for the rest of the transaction (a rollback to the
    /// experiment's savepoint returns it too).
    private func withoutSorts(_ statement: SQLQuery, on connection: PostgresConnection) throws {
        try connection.execute("SET LOCAL enable_sort = off")
        try connection.execute(statement)
        try connection.execute("SET LOCAL enable_sort TO DEFAULT")
    }

    /// The statement that adds (sign 1) or subtracts (sign -1) the contributions of `rows`
    /// to `seam_meta.experiment_sums`: `rows` is a FROM clause (with its WHERE, if any) that
    /// gives the units' metric rows as `m` (the columns of `lake.experiment_unit_metrics`)
    /// and each one's unit as `u` (variant, segments, device, first_exposed_at).
    ///
    /// The rows are summed by what decides their dimension values (variant, segments,
    /// device, exposure day) first, and only those few groups are fanned out to the
    /// dimensions: fanning out every unit's rows first (two to three rows each) and summing
    /// them in numeric cost 870 against 340 ms per experiment at a fifth of seam bench
    /// etl's scale. Sums of exact numeric sums are the same sums.
    ///
    /// Before that, rows with the same values (a proportion takes two) are counted by their
    /// float8 values, and only each distinct value is turned into numeric and multiplied,
    /// by its count: n·v is exactly the sum of n copies of v in numeric, and equal float8
    /// values give equal numerics (0 and -0 both give 0). Turning every row's three values
    /// into numeric took 23 of a change-driven statement's 80 ms for 5,180 rows at a fifth
    /// of seam bench etl's scale, against 6 ms.
    private func sums(sign: Int, metrics: [MetricDefinition], of rows: SQLQuery, on connection: PostgresConnection) throws -> SQLQuery {
        let caps = try capValues(metrics, on: connection)
        let capped: SQLQuery = caps.isEmpty
            ? "m.value"
            : "CASE m.metric \(SQLQuery.joined(caps.map { "WHEN \(text: $0.key) THEN least(m.value, \($0.value)::float8)" }, separator: " ")) ELSE m.value END"
        let dimensions = Set(definition.dimensions)
        let s = sign < 0 ? "-" : ""
        func add(_ column: String) -> String {
            "\(column) = CASE WHEN s.\(column) IS NULL THEN EXCLUDED.\(column) WHEN EXCLUDED.\(column) IS NULL THEN s.\(column) ELSE s.\(column) + EXCLUDED.\(column) END"
        }
        let columns = ["units", "sum", "sum_squares", "denominator_sum", "denominator_sum_squares", "cross_sum", "covariate_sum",
                       "covariate_sum_squares", "covariate_cross_sum"]
        let trend: SQLQuery = "m.metric = \(text: trendMetric ?? "")"
        return """
            INSERT INTO seam_meta.experiment_sums AS s
            SELECT g.experiment_key, g.metric, g.variant, d.dimension, d.value, \(unescaped: s)sum(g.units),
                   \(unescaped: s)sum(g.sum), \(unescaped: s)sum(g.sum_squares), \(unescaped: s)sum(g.denominator_sum),
                   \(unescaped: s)sum(g.denominator_sum_squares), \(unescaped: s)sum(g.cross_sum), \(unescaped: s)sum(g.covariate_sum),
                   \(unescaped: s)sum(g.covariate_sum_squares), \(unescaped: s)sum(g.covariate_cross_sum)
            FROM (
                SELECT m.experiment_key, m.metric, m.variant, m.segments, m.device, m.trend, m.exposure_day,
                       sum(m.n) AS units, sum(m.n * m.v) AS sum, sum(m.n * m.v * m.v) AS sum_squares, sum(m.n * m.den) AS denominator_sum,
                       sum(m.n * m.den * m.den) AS denominator_sum_squares, sum(m.n * m.v * m.den) AS cross_sum,
                       sum(m.n * m.cov) AS covariate_sum, sum(m.n * m.cov * m.cov) AS covariate_sum_squares,
                       sum(m.n * m.v * m.cov) AS covariate_cross_sum
                FROM (
                    SELECT m.experiment_key, m.metric, m.variant, m.segments, m.device, m.trend, m.exposure_day, count(*) AS n,
                           m.v::numeric AS v, m.den::numeric AS den, m.cov::numeric AS cov
                    FROM (
                        SELECT m.experiment_key, m.metric, u.variant, u.segments, u.device, \(trend) AS trend,
                               CASE WHEN \(trend) THEN to_char(u.first_exposed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') END AS exposure_day,
                               m.value, \(capped) AS v, m.denominator AS den, m.covariate AS cov
                        FROM \(rows)
                    ) AS m
                    WHERE m.value IS NOT NULL AND m.metric = ANY(\(metrics.map(\.name)))
                    GROUP BY 1, 2, 3, 4, 5, 6, 7, m.v, m.den, m.cov
                ) AS m
                GROUP BY 1, 2, 3, 4, 5, 6, 7
            ) AS g
            CROSS JOIN LATERAL (
                SELECT '', ''
                UNION ALL SELECT 'segment', seg FROM unnest(g.segments) AS seg WHERE \(dimensions.contains(.segment))
                UNION ALL SELECT 'device', coalesce(g.device, '(unknown)') WHERE \(dimensions.contains(.device))
                UNION ALL SELECT 'exposure_day', g.exposure_day WHERE g.trend
            ) AS d(dimension, value)
            GROUP BY 1, 2, 3, 4, 5
            ON CONFLICT (experiment_key, metric, variant, dimension, dimension_value) DO UPDATE SET
                \(unescaped: columns.map(add).joined(separator: ",\n    "))
            """
    }

    /// The events (`e`) inside a unit's (`u`) reach.
    var inReach: SQLQuery {
        let (before, after) = reach
        return """
            e.occurred_at >= u.first_exposed_at - \(MetricSQL.seconds(before)) AND e.occurred_at < u.first_exposed_at + \(MetricSQL.seconds(after))
            """
    }

    /// The per-unit values of every metric for the units of xr_units (or of `units`, a
    /// FROM item with xr_units' columns), as the statement head `WITH p AS (…), r AS (…)`
    /// (r: a row per unit and metric, the columns of `lake.experiment_unit_metrics`), after
    /// reading the units' events into xr_events; nil without metrics. `inUnitOrder`: r gives
    /// each unit's rows together, the units in the order of `unit_id` (see allUnitMetrics).
    private func computedMetrics(units: SQLQuery = "xr_units", inUnitOrder: Bool = false, on connection: PostgresConnection) throws -> SQLQuery? {
        // Every event joined below lies inside its unit's reach (the join's condition, or
        // the events' table's), which the metrics need not test again.
        let sql = metrics.map { MetricSQL(metric: $0.metric, cupedDays: definition.cupedDays, events: reach) }
        guard !sql.isEmpty else { return nil }
        let range = inReach
        let eventColumns: SQLQuery = "u.unit_id, e.name, e.occurred_at, e.revenue, e.trace_duration_ms, e.properties"
        // The units' events: in a full run of every experiment and in a change-driven run,
        // read for all of them at once (allUnitEvents) and joined below, each unit's inside
        // its reach (a copy of this experiment's into xr_events cost 0.29 s per experiment
        // in a full run at a fifth of seam bench etl's scale). A unit exposed or linked to a
        // user while the run went on may miss events there; its change lies after the run's
        // cutoff, so the next run recomputes it.
        let events: SQLQuery
        if sharedEvents {
            events = "xr_unit_events AS e ON e.unit_id = u.unit_id AND e.unit_type = u.unit_type AND \(range)"
        } else if everything {
            // A full run of this experiment alone (it failed before): its units' events looked up.
            events = "xr_events AS e ON e.unit_id = u.unit_id"
            try Self.withLookups(on: connection) {
                try connection.execute("CREATE TEMP TABLE xr_events ON COMMIT DROP AS " + Self.unitEvents(eventColumns, of: "xr_units", where: range))
            }
        } else {
            // A backfill's window (change-driven runs read them once for all experiments,
            // changedUnitInputs): the planner's choice.
            events = "xr_events AS e ON e.unit_id = u.unit_id"
            try connection.execute("CREATE TEMP TABLE xr_events ON COMMIT DROP AS " + Self.unitEvents(eventColumns, of: "xr_units", where: range))
        }
        // No index: xr_events holds the recomputed units' events only, every one of which the
        // statement below reads, and it joins them to the units by hash in full and in
        // change-driven runs alike. An index was written and never read (50 ms per experiment
        // in a full run, 11 ms in a change-driven one, at a fifth of seam bench etl's scale).
        // The statistics of the column the plan below reads (those of the properties, jsonb,
        // cost 45 of an experiment's 120 ms in a change-driven run at seam bench etl's scale).
        if !sharedEvents { try connection.analyzeTemporary("xr_events (unit_id)") }
        // One pass over the events for every metric: a row per unit with each metric's
        // value, denominator and covariate, turned into a row per unit and metric.
        let columns = SQLQuery.joined(
            sql.enumerated().map { index, metric in
                "\(metric.valueExpression) AS v\(unescaped: "\(index)"), \(metric.denominatorExpression) AS d\(unescaped: "\(index)"), \(metric.covariateExpression) AS c\(unescaped: "\(index)")"
            }, separator: ",\n       ")
        let unpivot = SQLQuery.joined(
            sql.enumerated().map { index, metric in
                "(\(text: metric.metric.name), p.v\(unescaped: "\(index)"), p.d\(unescaped: "\(index)"), p.c\(unescaped: "\(index)"))"
            }, separator: ", ")
        let perUnit: SQLQuery = inUnitOrder ? "(SELECT * FROM p ORDER BY p.unit_id) AS p" : "p"
        return """
            WITH p AS (
                SELECT u.experiment_key, u.unit_id, \(columns)
                FROM \(units) AS u LEFT JOIN \(events)
                GROUP BY u.experiment_key, u.unit_id, u.first_exposed_at
            ),
            r AS (
                SELECT p.experiment_key, m.metric, p.unit_id, m.value, m.denominator, m.covariate
                FROM \(perUnit)
                CROSS JOIN LATERAL (VALUES \(unpivot)) AS m(metric, value, denominator, covariate)
            )
            """
    }

    /// A full run: every unit and metric row written, and their contributions added to the
    /// sums.
    ///
    /// The metric rows are written in the order of their primary key's units (the units'
    /// rows sorted before they are turned into a row per metric; a unit's rows go to the
    /// same index page whatever their order): the per-unit aggregate gives them in no
    /// order, and writing them so put each one on a page of the index chosen at random.
    /// By hand at a fifth of seam bench etl's scale, computing and writing one experiment's
    /// 140,000 rows into an index that held four others took 1.29–1.90 s in unit order,
    /// against 1.83–1.99 s (the sort of its 20,000 units included).
    private func allUnitMetrics(on connection: PostgresConnection) throws -> Int {
        let units = try connection.execute("INSERT INTO lake.experiment_units SELECT * FROM xr_units")
        guard let computed = try computedMetrics(inUnitOrder: true, on: connection) else { return units }
        guard !deltaMetrics.isEmpty else {
            return units + (try connection.execute(computed + " INSERT INTO lake.experiment_unit_metrics SELECT * FROM r"))
        }
        // The rows are stored and their contributions added to the sums in one statement,
        // from the rows as computed, joined with xr_units. Reading them back from the lake
        // table cost 480–530 ms per experiment in a full run at a fifth of seam bench etl's
        // scale: its statistics, stale after the experiment's rows were replaced, made the
        // planner expect 23 rows for 140,000 and look each row's unit up by index. A unit
        // gives a row per metric.
        let statement = computed + ", stored AS (INSERT INTO lake.experiment_unit_metrics SELECT * FROM r) "
            + (try sums(sign: 1, metrics: deltaMetrics, of: "r AS m JOIN xr_units AS u USING (unit_id)", on: connection))
        try withAggregateMemory(units: units, on: connection) { try withoutSorts(statement, on: connection) }
        return units * (1 + metrics.count)
    }

    /// Runs `body` (a full run's statement that computes every unit's metrics) with
    /// `work_mem` raised to what its per-unit aggregate needs, when the connection's setting
    /// is smaller: the aggregate keeps about 150 bytes per unit and metric (every metric's
    /// filtered sums, flags and minimums; 21 MB for 20,200 units of 7 metrics at a fifth of
    /// seam bench etl's scale). With PostgreSQL's default of 4 MB it spilled to disk in
    /// batches, and computing the units' metrics took 1.27–1.37 s per experiment there,
    /// against 0.88–0.90 s in memory. Bounded by 256 MB (a hash table may use
    /// `hash_mem_multiplier` times that): a larger experiment spills, only later. The
    /// connection's setting is put back after the statement (a rollback to the experiment's
    /// savepoint puts it back too). Change-driven runs compute few units and keep it.
    func withAggregateMemory(units: Int, on connection: PostgresConnection, _ body: () throws -> Void) throws {
        let needed = min(units * max(metrics.count, 1) * 150 / 1024, 256 * 1024)
        let current = try connection.query("SELECT current_setting('work_mem'), pg_size_bytes(current_setting('work_mem')) / 1024")
        guard let row = current.first else { return try body() }
        let setting = try row[0].decode(String.self)
        guard needed > (try row[1].decode(Int.self)) else { return try body() }
        try connection.execute("SELECT set_config('work_mem', $1, true)", [.text("\(needed)kB")])
        try body()
        try connection.execute("SELECT set_config('work_mem', $1, true)", [.text(setting)])
    }

    /// After a change, xr_reuse: the recomputed units whose metric rows cannot have changed,
    /// and true (false, with no table, for other runs). A unit's metric values are a function
    /// of its events inside its reach and of what picks them (its type, first exposure and
    /// user): a unit whose type, first exposure and user are as stored, and none of whose
    /// events inside its reach (xr_unit_events, which says which are stored or changed since)
    /// is new or changed, computes the values stored, as long as no event left it. What a
    /// metric reads of an event (its time, name, properties) and the ids that pick it for a
    /// flag context or a user (its user id and anonymous id) are the tag event's own, which
    /// never change (an event id is stored once, `lake.tag_event_ids`); so is the user it
    /// stands for, except with a link that changes the unit's own user too (its exposure then
    /// changes). The trace facts a metric reads change in place, with the event's
    /// `updated_at`. A session's events may leave it (an event's session can come from its
    /// trace, which a late span can change): session units are always computed. Most units
    /// a change touches are returning visitors with new events after their windows closed
    /// (see below): their row may still change (segments), so they stay recomputed, but
    /// their metrics (reading their events, and comparing the values with the stored ones)
    /// are not: at seam bench etl's default scale 13,515 of the 18,515 units its change
    /// touches, and the metrics and their comparison took 0.44 against 1.30 s.
    private func reusable(on connection: PostgresConnection) throws -> Bool {
        guard sharedEvents, changedSince != nil, !everything, !metrics.isEmpty else { return false }
        let range = inReach
        try connection.execute(
            """
            CREATE TEMP TABLE xr_reuse ON COMMIT DROP AS
            SELECT u.unit_id FROM xr_units AS u JOIN xr_old AS o USING (unit_id)
            WHERE u.unit_type <> 'session'
              AND (u.unit_type, u.first_exposed_at, u.resolved_user_id) IS NOT DISTINCT FROM (o.unit_type, o.first_exposed_at, o.resolved_user_id)
              AND NOT EXISTS (
                  SELECT 1 FROM xr_unit_events AS e
                  WHERE e.unit_id = u.unit_id AND e.unit_type = u.unit_type AND e.changed AND \(range))
            """)
        return true
    }

    /// After a change (or for a backfill's window): the recomputed units (xr_units) against
    /// their stored rows (xr_old). A unit whose row and metric rows come out exactly as
    /// stored is left as it is: most units a change touches are returning visitors whose
    /// metric windows closed before their new events (540 of an experiment's 740 at a fifth
    /// of seam bench etl's scale), and deleting, subtracting, writing and adding their rows
    /// again took about 40 of an experiment's 115 ms there (the change-driven run: 1.11 s
    /// before, 0.85 s after). The others' old rows are deleted and their contributions
    /// subtracted from the sums (from the rows the deletes return: the rows are looked up
    /// once), and their new rows written and added.
    ///
    /// After a change, the metric rows of the `reusable` units are not computed again but
    /// taken as stored: they are what computing them would give.
    private func changedUnitMetrics(on connection: PostgresConnection) throws -> Int {
        let reuse = try reusable(on: connection)
        let computed = try computedMetrics(
            units: reuse ? "(SELECT * FROM xr_units AS u WHERE NOT EXISTS (SELECT 1 FROM xr_reuse AS r WHERE r.unit_id = u.unit_id))" : "xr_units",
            on: connection)
        let computedRows: SQLQuery = computed.map { $0 + " SELECT * FROM r" } ?? "SELECT * FROM lake.experiment_unit_metrics WHERE false"
        try connection.execute("CREATE TEMP TABLE xr_metrics ON COMMIT DROP AS " + computedRows)
        // Bit-for-bit equal values: the same code computed the stored ones (a change of the
        // definitions makes a full run). A reused unit's rows are the stored ones: it is the
        // same when its row is.
        let compared: SQLQuery = reuse ? "SELECT unit_id FROM xr_old EXCEPT SELECT unit_id FROM xr_reuse" : "SELECT unit_id FROM xr_old"
        try connection.execute(
            """
            CREATE TEMP TABLE xr_same ON COMMIT DROP AS
            WITH stored AS (
                SELECT m.* FROM lake.experiment_unit_metrics AS m
                WHERE m.experiment_key = \(key) AND m.unit_id = ANY(ARRAY(\(compared)))
            )
            SELECT u.unit_id FROM xr_units AS u JOIN xr_old AS o USING (unit_id)
            WHERE (u.unit_type, u.variant, u.first_exposed_at, u.device, u.segments, u.resolved_user_id)
                  IS NOT DISTINCT FROM (o.unit_type, o.variant, o.first_exposed_at, o.device, o.segments, o.resolved_user_id)
            EXCEPT
            SELECT coalesce(n.unit_id, m.unit_id) FROM xr_metrics AS n FULL JOIN stored AS m USING (unit_id, metric)
            WHERE n.unit_id IS NULL OR m.unit_id IS NULL
               OR (n.value, n.denominator, n.covariate) IS DISTINCT FROM (m.value, m.denominator, m.covariate)
            """)
        if reuse {
            // The reused units that are not the same (their segments, device or variant
            // changed) are written again: their metric rows as stored.
            try connection.execute(
                """
                INSERT INTO xr_metrics SELECT m.* FROM lake.experiment_unit_metrics AS m
                WHERE m.experiment_key = \(key)
                  AND m.unit_id = ANY(ARRAY(SELECT unit_id FROM xr_reuse EXCEPT SELECT unit_id FROM xr_same))
                """)
        }
        try connection.executeScript(
            """
            DELETE FROM xr_units WHERE unit_id IN (SELECT unit_id FROM xr_same);
            DELETE FROM xr_old WHERE unit_id IN (SELECT unit_id FROM xr_same);
            DELETE FROM xr_metrics WHERE unit_id IN (SELECT unit_id FROM xr_same)
            """)
        let deleted: SQLQuery = """
            WITH u AS (
                DELETE FROM lake.experiment_units AS d
                WHERE d.experiment_key = \(key) AND d.unit_id = ANY(ARRAY(SELECT unit_id FROM xr_old))
                RETURNING d.unit_id, d.variant, d.segments, d.device, d.first_exposed_at
            ),
            m AS (
                DELETE FROM lake.experiment_unit_metrics AS d
                WHERE d.experiment_key = \(key) AND d.unit_id = ANY(ARRAY(SELECT unit_id FROM xr_old))
                RETURNING d.*
            )
            """
        if deltaMetrics.isEmpty {
            try connection.execute(deleted + " SELECT 1")
            let units = try connection.execute("INSERT INTO lake.experiment_units SELECT * FROM xr_units")
            return units + (try connection.execute("INSERT INTO lake.experiment_unit_metrics SELECT * FROM xr_metrics"))
        }
        try withoutSorts(deleted + (try sums(sign: -1, metrics: deltaMetrics, of: "m JOIN u USING (unit_id)", on: connection)), on: connection)
        let units = try connection.execute("INSERT INTO lake.experiment_units SELECT * FROM xr_units")
        try withoutSorts(
            "WITH stored AS (INSERT INTO lake.experiment_unit_metrics SELECT * FROM xr_metrics) "
                + (try sums(sign: 1, metrics: deltaMetrics, of: "xr_metrics AS m JOIN xr_units AS u USING (unit_id)", on: connection)),
            on: connection)
        return units * (1 + metrics.count)
    }

    /// Sufficient statistics per metric × variant × dimension value, the comparisons, and
    /// the experiment's row with its sample-ratio check.
    private func results(on connection: PostgresConnection) throws -> Int {
        try connection.execute("DELETE FROM lake.experiment_results WHERE experiment_key = $1", [key])
        let names = metrics.map(\.metric.name)
        let result = try connection.query(
            """
            SELECT metric, variant, dimension, dimension_value, units::float8, lake.float8_or_null(sum),
                   lake.float8_or_null(sum_squares), lake.float8_or_null(coalesce(denominator_sum, 0)),
                   lake.float8_or_null(coalesce(denominator_sum_squares, 0)), lake.float8_or_null(coalesce(cross_sum, 0)),
                   lake.float8_or_null(coalesce(covariate_sum, 0)), lake.float8_or_null(coalesce(covariate_sum_squares, 0)),
                   lake.float8_or_null(coalesce(covariate_cross_sum, 0)), covariate_sum IS NOT NULL
            FROM seam_meta.experiment_sums WHERE experiment_key = \(key) AND metric = ANY(\(names)) AND dimension <> 'exposure_day'
            """)
        let caps = try capValues(metrics.map(\.metric), on: connection)
        struct Slice: Hashable { var dimension: String, value: String }
        var statistics: [Slice: [String: [String: SufficientStatistics]]] = [:]
        for row in result.rows {
            let metric = try row[0].decode(String.self)
            let isRatio = configuration.metric(named: metric)?.kind == .ratio
            // NULL here: a sum beyond double precision. It becomes NaN, so that every
            // statistic built on it is NULL in the row, whose note says why.
            func sum(_ column: Int) throws -> Double { try row[column].decode(Double?.self) ?? .nan }
            let stats = SufficientStatistics(
                n: try row[4].decode(Double.self), sum: try sum(5), sumSquares: try sum(6),
                denominator: isRatio ? (try sum(7), try sum(8), try sum(9)) : nil,
                covariate: try row[13].decode(Bool.self) ? (try sum(10), try sum(11), try sum(12)) : nil)
            statistics[Slice(dimension: try row[2].decode(String.self), value: try row[3].decode(String.self)), default: [:]][metric, default: [:]][
                try row[1].decode(String.self)] = stats
        }
        var output: [[PostgresValue]] = []
        for (slice, byMetric) in statistics.sorted(by: { ($0.key.dimension, $0.key.value) < ($1.key.dimension, $1.key.value) }) {
            var sliceRows: [[PostgresValue]] = []
            var pValues: [(row: Int, p: Double)] = []
            for (metric, role) in metrics {
                guard let byVariant = byMetric[metric.name] else { continue }
                for (variant, stats) in byVariant.sorted(by: { $0.key < $1.key }) {
                    let isControl = variant == control
                    let analysis = isControl ? nil : byVariant[control].map {
                        ExperimentAnalysis(
                            control: $0, treatment: stats, kind: metric.kind.moments, lowerIsBetter: metric.lowerIsBetter,
                            settings: definition.analysisSettings)
                    }
                    if case .success(let f)? = analysis?.frequentist[.absolute], f.pValue.isFinite { pValues.append((sliceRows.count, f.pValue)) }
                    sliceRows.append(
                        resultRow(
                            metric: metric, role: role, variant: variant, slice: (slice.dimension, slice.value), isControl: isControl,
                            stats: stats, cap: caps[metric.name], analysis: analysis))
                }
            }
            let holm = PValueAdjustment.holm(pValues.map(\.p))
            let bh = PValueAdjustment.benjaminiHochberg(pValues.map(\.p))
            for (index, entry) in pValues.enumerated() {
                sliceRows[entry.row][Self.holmColumn] = .float64(holm[index])
                sliceRows[entry.row][Self.holmColumn + 1] = .float64(bh[index])
            }
            output += sliceRows
        }
        var rows = 0
        for chunk in stride(from: 0, to: output.count, by: 50).map({ Array(output[$0..<min($0 + 50, output.count)]) }) {
            let values = SQLQuery.joined(
                chunk.map { row in "(\(SQLQuery.joined(row.map { "\($0)" }, separator: ", ")))" }, separator: ", ")
            rows += try connection.execute("INSERT INTO lake.experiment_results VALUES \(values)")
        }
        return rows + (try experimentRow(on: connection))
    }

    static let holmColumn = 29

    /// A row of `lake.experiment_results`, in the table's column order (migrations 0005,
    /// 0007 and 0011).
    private func resultRow(
        metric: MetricDefinition, role: String, variant: String, slice: (String, String), isControl: Bool,
        stats: SufficientStatistics, cap: Double?, analysis: ExperimentAnalysis?
    ) -> [PostgresValue] {
        func number(_ value: Double?) -> PostgresValue {
            guard let value, value.isFinite else { return .null }
            return .float64(value)
        }
        func estimate(_ outcome: ExperimentAnalysis.Outcome<FrequentistEstimate>?) -> FrequentistEstimate? {
            if case .success(let value)? = outcome { value } else { nil }
        }
        func posterior(_ type: DifferenceType) -> BayesianEstimate? {
            if case .success(let value)? = analysis?.bayesian[type] { value } else { nil }
        }
        let absolute = estimate(analysis?.frequentist[.absolute])
        let relative = estimate(analysis?.frequentist[.relative])
        let cupedAbsolute = estimate(analysis?.cuped[.absolute])
        let cupedRelative = estimate(analysis?.cuped[.relative])
        let sequential = DifferenceType.allCases.map { estimate(analysis?.sequential[$0]) }
        let bayesian = DifferenceType.allCases.map(posterior)
        var problems: [String] = []
        if !stats.sum.isFinite || !stats.sumSquares.isFinite { problems.append("the sum or sum of squares exceeds double precision") }
        let moments = VariantMoments(stats, kind: metric.kind.moments)
        if stats.n > 1, stats.sum.isFinite, stats.sumSquares.isFinite, !(moments.variance.isFinite) {
            problems.append("the variance is not a finite number")
        }
        if !isControl, stats.n > 1, let analysis {
            problems += analysis.problems.filter { $0 != .notFinite || problems.isEmpty }.map(\.rawValue)
            let figures = [absolute?.interval.lowerBound, relative?.estimate, cupedAbsolute?.estimate, bayesian[0]?.expected]
            if figures.contains(where: { $0.map { !$0.isFinite } ?? false }) {
                problems.append("the comparison with control is not a finite number (values beyond double precision)")
            }
        }
        var row: [PostgresValue] = [
            key, .text(metric.name), .text(variant), .text(slice.0), .text(slice.1), .text(metric.kind.rawValue), .text(role),
            .bool(metric.lowerIsBetter), .bool(isControl), .int64(Int64(stats.n)), number(stats.sum), number(stats.sumSquares),
            number(stats.denominator?.sum), number(stats.denominator?.sumSquares), number(stats.denominator?.crossSum),
            number(stats.covariate?.sum), number(stats.covariate?.sumSquares), number(stats.covariate?.crossSum),
            number(cap), number(stats.mean), number(moments.variance),
            number(absolute?.estimate), number(absolute?.interval.lowerBound), number(absolute?.interval.upperBound),
            number(relative?.estimate), number(relative?.interval.lowerBound), number(relative?.interval.upperBound),
            number(absolute?.degreesOfFreedom), number(absolute?.pValue),
            .null, .null,  // Holm and BH, filled per slice (holmColumn)
            number(cupedAbsolute?.estimate), number(cupedRelative?.estimate), number(cupedAbsolute?.interval.lowerBound),
            number(cupedAbsolute?.interval.upperBound), number(cupedAbsolute?.pValue), .float64(definition.alpha), window.endParameter,
            problems.isEmpty ? .null : .text(problems.joined(separator: "; ")),
        ]
        // Migration 0011.
        row += [
            number(relative?.pValue), number(analysis?.theta), number(cupedRelative?.interval.lowerBound),
            number(cupedRelative?.interval.upperBound), number(cupedRelative?.pValue),
        ]
        for s in sequential { row += [number(s?.interval.lowerBound), number(s?.interval.upperBound), number(s?.pValue)] }
        for b in bayesian {
            row += [
                number(b?.expected), number(b?.interval.lowerBound), number(b?.interval.upperBound), number(b?.chanceToWin),
                number(b?.riskControl), number(b?.riskTreatment),
            ]
        }
        return row
    }

    /// `lake.experiments`: variants with units and weights, exposure range, SRM.
    private func experimentRow(on connection: PostgresConnection) throws -> Int {
        // One read of the experiment's units gives the counts per variant and, in the empty
        // grouping set, the total and the exposure range (four reads cost 22 against 6 ms
        // per experiment in a change-driven run at a fifth of seam bench etl's scale). The
        // range comes back as text, which the same session reads back to the microsecond.
        //
        // After a change, the counts and the range come from the experiment's previous row
        // instead: its counts less the recomputed units' old rows (xr_old) plus their new
        // ones (xr_units), and its range widened by the new rows. That holds while none of
        // the old rows was at an end of the range; otherwise, or without a previous row, the
        // units are read. Reading them cost 12–14 ms per experiment of 20,000 units at a fifth
        // of seam bench etl's scale, and grows with the experiment.
        let fromPrevious: SQLQuery = """
            WITH e AS (SELECT variants, first_exposure, last_exposure FROM lake.experiments WHERE experiment_key = \(key)),
            counts AS (
                SELECT variant, sum(n) AS n FROM (
                    SELECT v ->> 'name' AS variant, (v ->> 'units')::bigint AS n FROM e CROSS JOIN LATERAL jsonb_array_elements(e.variants) AS v
                    UNION ALL SELECT variant, -count(*) FROM xr_old GROUP BY variant
                    UNION ALL SELECT variant, count(*) FROM xr_units GROUP BY variant
                ) AS c GROUP BY variant
            )
            SELECT variant, false, n::bigint, NULL, NULL FROM counts WHERE n <> 0
            UNION ALL
            SELECT NULL, true, (SELECT coalesce(sum(n), 0)::bigint FROM counts),
                   least(e.first_exposure, (SELECT min(first_exposed_at) FROM xr_units))::text,
                   greatest(e.last_exposure, (SELECT max(first_exposed_at) FROM xr_units))::text
            FROM e
            WHERE NOT EXISTS (SELECT 1 FROM xr_old AS o WHERE o.first_exposed_at <= e.first_exposure OR o.first_exposed_at >= e.last_exposure)
              AND NOT EXISTS (SELECT 1 FROM counts WHERE n < 0)
            """
        let allUnits: SQLQuery = """
            SELECT variant, grouping(variant) = 1, count(*), min(first_exposed_at)::text, max(first_exposed_at)::text
            FROM lake.experiment_units WHERE experiment_key = \(key) GROUP BY GROUPING SETS ((variant), ())
            """
        var units: [String: Double] = [:]
        var total: PostgresValue = .int64(0)
        var range: [PostgresValue] = [.null, .null]
        var counted = false
        for query in (changedSince != nil && !everything ? [fromPrevious, allUnits] : [allUnits]) where !counted {
            units = [:]
            for row in try connection.query(query).rows {
                if try row[1].decode(Bool.self) {
                    counted = true
                    total = .int64(try row[2].decode(Int64.self))
                    range = try [row[3].decode(String?.self), row[4].decode(String?.self)].map { $0.map(PostgresValue.text) ?? .null }
                } else {
                    units[try row[0].decode(String.self)] = Double(try row[2].decode(Int64.self))
                }
            }
        }
        let names = Set(variants).union(units.keys).sorted()
        let weights = names.map { definition.weights.isEmpty ? 1 : (definition.weights[$0] ?? 0) }
        let weightTotal = weights.reduce(0, +)
        let observed = names.map { units[$0] ?? 0 }
        let srm = SampleRatioMismatch.test(observed: observed, expectedWeights: weights)
        let variantsJSON = zip(names, zip(observed, weights)).map { name, pair in
            #"{"name":\#(jsonString(name)),"units":\#(Int(pair.0)),"expected_weight":\#(weightTotal > 0 ? pair.1 / weightTotal : 0)}"#
        }.joined(separator: ",")
        return try connection.execute(
            """
            INSERT INTO lake.experiments
            WITH exposed AS (
                -- Every exposed unit is one of the experiment's units but those that saw
                -- several variants when they are excluded; these are read by a partial index
                -- (counting every exposure cost 35 ms per experiment in a change-driven run at
                -- seam bench etl's scale).
                SELECT $12::bigint + CASE WHEN $9 = 'exclude' THEN m.multiple ELSE 0 END AS units, m.multiple
                FROM (SELECT count(*) AS multiple FROM lake.exposures WHERE experiment_key = $1 AND multiple_variants) AS m
            )
            SELECT $1, $2, $3, $4::jsonb, $12::bigint,
                   CASE WHEN $9 = 'exclude' THEN exposed.multiple ELSE 0 END, $13::timestamptz, $14::timestamptz,
                   $5, $6, $7, $8, $10, $9, exposed.multiple,
                   exposed.multiple::float8 / nullif(exposed.units, 0),
                   coalesce(exposed.multiple::float8 / nullif(exposed.units, 0) > $11, false)
            FROM exposed
            ON CONFLICT (experiment_key) DO UPDATE SET
                configured = EXCLUDED.configured, control_variant = EXCLUDED.control_variant, variants = EXCLUDED.variants,
                units = EXCLUDED.units, excluded_units = EXCLUDED.excluded_units, first_exposure = EXCLUDED.first_exposure,
                last_exposure = EXCLUDED.last_exposure, srm_chi_square = EXCLUDED.srm_chi_square,
                srm_p_value = EXCLUDED.srm_p_value, srm_flag = EXCLUDED.srm_flag, computed_through = EXCLUDED.computed_through,
                engine = EXCLUDED.engine, multiple_exposures = EXCLUDED.multiple_exposures,
                multiple_exposure_units = EXCLUDED.multiple_exposure_units,
                multiple_exposure_share = EXCLUDED.multiple_exposure_share, multiple_exposure_flag = EXCLUDED.multiple_exposure_flag
            """,
            [
                key, .bool(configured), .text(control), .jsonb("[\(variantsJSON)]"),
                srm.map { .float64($0.chiSquare) } ?? .null, srm.map { .float64($0.pValue) } ?? .null,
                .bool((srm?.pValue ?? 1) < SampleRatioMismatch.threshold), window.endParameter,
                .text(definition.multipleExposures.rawValue), .text(definition.engine.rawValue),
                .float64(definition.multipleExposureThreshold), total,
            ] + range)
    }

    private func jsonString(_ text: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [text])
        let array = String(decoding: data, as: UTF8.self)
        return String(array.dropFirst().dropLast())
    }
}
