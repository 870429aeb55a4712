import Foundation
import SeamModel
import SeamPostgres

/// `lake.decision_rewards` and `lake.bandit_estimates` from `lake.decisions`.
///
/// A decision's reward comes from the events of its unit (the unit id as user, anonymous,
/// session or resolved user id of `lake.event_facts`) at or after the decision and within
/// its bandit's reward window: the points of the first rule (in configured order) one of
/// them satisfies, else 0. An event can reward several decisions of the same unit whose
/// windows it falls in.
///
/// Incremental like the other jobs: a run recomputes the rewards of the decisions stored
/// since the previous run, of those whose reward window was still open, and of those whose
/// unit has an event stored or changed since that falls in their window (a backfill: the
/// decisions whose reward window reaches into its window), then the estimates of those
/// decisions' UTC days; a changed bandit definition recomputes everything.
public struct BanditsJob: ETLJob {
    public let name = JobName.bandits
    let configuration: ETLConfiguration

    public init(configuration: ETLConfiguration) { self.configuration = configuration }

    public func run(window: JobWindow, on connection: PostgresConnection) throws -> Int {
        let digest = FNV1a.hex("\(configuration.bandits.sorted { $0.key < $1.key })".utf8)
        let everything = try definitionsChanged(to: digest, on: connection) || window.isEverything
        let configured = Dictionary(configuration.bandits.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let seen = try connection.query("SELECT DISTINCT bandit_key FROM lake.decisions").rows.map { try $0[0].decode(String.self) }
        let keys = Set(seen).union(configured.keys).sorted()
        var rows = 0
        for key in keys {
            let bandit = configured[key] ?? BanditDefinition(key: key)
            try recomputed(bandit, everything: everything, window: window, on: connection)
            rows += try rewards(bandit, window: window, on: connection)
            rows += try estimates(bandit, window: window, on: connection)
        }
        // Bandits no longer configured nor seen (a decision table emptied by hand).
        try connection.execute("DELETE FROM lake.decision_rewards WHERE NOT (bandit_key = ANY(\(keys)))")
        try connection.execute("DELETE FROM lake.bandit_estimates WHERE NOT (bandit_key = ANY(\(keys)))")
        return rows
    }

    /// `bd_decisions`: the decisions of `bandit` whose reward this run recomputes.
    private func recomputed(_ bandit: BanditDefinition, everything: Bool, window: JobWindow, on connection: PostgresConnection) throws {
        try connection.execute("DROP TABLE IF EXISTS bd_decisions")
        let reach: SQLQuery = "make_interval(secs => \(bandit.rewardWindowSeconds)::float8)"
        let selection: SQLQuery
        if everything {
            selection = "SELECT d.decision_id FROM lake.decisions AS d WHERE d.bandit_key = \(text: bandit.key)"
        } else if let since = window.changedSince {
            let after: SQLQuery = "\(PostgresValue.timestamptz(since))::timestamptz"
            selection = """
                SELECT d.decision_id FROM lake.decisions AS d WHERE d.bandit_key = \(text: bandit.key) AND d.stored_at >= \(after)
                UNION SELECT r.decision_id FROM lake.decision_rewards AS r WHERE r.bandit_key = \(text: bandit.key) AND NOT r.window_closed
                UNION SELECT d.decision_id
                FROM (SELECT DISTINCT k, e.occurred_at FROM lake.event_facts AS e,
                             LATERAL (VALUES (e.user_id), (e.anonymous_id), (e.session_id), (e.resolved_user_id)) AS ids(k)
                      WHERE e.updated_at >= \(after) AND k IS NOT NULL) AS c
                JOIN lake.decisions AS d ON d.unit_id = c.k AND d.bandit_key = \(text: bandit.key)
                 AND c.occurred_at >= d.decided_at AND c.occurred_at <= d.decided_at + \(reach)
                """
        } else {
            // A backfill: the decisions whose reward window reaches into the window.
            selection = """
                SELECT d.decision_id FROM lake.decisions AS d WHERE d.bandit_key = \(text: bandit.key)
                  AND d.decided_at + \(reach) >= \(window.startParameter)::timestamptz AND d.decided_at < \(window.endParameter)::timestamptz
                """
        }
        try connection.execute("CREATE TEMP TABLE bd_decisions ON COMMIT DROP AS \(selection)")
        try connection.analyzeTemporary("bd_decisions")
    }

    private func rewards(_ bandit: BanditDefinition, window: JobWindow, on connection: PostgresConnection) throws -> Int {
        try connection.execute(
            "DELETE FROM lake.decision_rewards WHERE decision_id IN (SELECT decision_id FROM bd_decisions)")
        // The rules, ranked, as bound values.
        let rules = SQLQuery.joined(
            bandit.rules.enumerated().map { rank, rule in
                "(\(rank), \(rule.events)::text[], \(rule.points)::float8, \(min(rule.withinSeconds ?? bandit.rewardWindowSeconds, bandit.rewardWindowSeconds))::float8)"
            }, separator: ", ")
        return try connection.execute(
            """
            INSERT INTO lake.decision_rewards
            SELECT d.decision_id, d.bandit_key, d.decided_at, coalesce(r.points, 0), r.name, r.occurred_at,
                   d.decided_at + make_interval(secs => \(bandit.rewardWindowSeconds)::float8) <= \(window.endParameter)::timestamptz,
                   \(window.endParameter)::timestamptz
            FROM lake.decisions AS d
            LEFT JOIN LATERAL (
                -- The first rule an event of the unit satisfies; the earliest such event.
                SELECT rule.points, e.name, e.occurred_at
                FROM (VALUES \(rules)) AS rule(rank, events, points, within)
                CROSS JOIN LATERAL (
                    SELECT e.name, e.occurred_at, e.event_id FROM lake.event_facts AS e
                    WHERE (e.user_id = d.unit_id OR e.anonymous_id = d.unit_id OR e.session_id = d.unit_id OR e.resolved_user_id = d.unit_id)
                      AND e.name = ANY(rule.events)
                      AND e.occurred_at >= d.decided_at AND e.occurred_at <= d.decided_at + make_interval(secs => rule.within)
                      AND e.occurred_at < \(window.endParameter)::timestamptz
                    ORDER BY e.occurred_at, e.event_id LIMIT 1
                ) AS e
                ORDER BY rule.rank LIMIT 1
            ) AS r ON true
            WHERE d.decision_id IN (SELECT decision_id FROM bd_decisions) AND d.decided_at < \(window.endParameter)::timestamptz
            """)
    }

    private func estimates(_ bandit: BanditDefinition, window: JobWindow, on connection: PostgresConnection) throws -> Int {
        // Whole days: the days of the decisions whose reward was recomputed.
        try connection.execute("DROP TABLE IF EXISTS bd_days")
        try connection.execute(
            """
            CREATE TEMP TABLE bd_days ON COMMIT DROP AS
            SELECT DISTINCT (d.decided_at AT TIME ZONE 'UTC')::date AS day FROM lake.decisions AS d
            WHERE d.decision_id IN (SELECT decision_id FROM bd_decisions)
            """)
        try connection.execute(
            "DELETE FROM lake.bandit_estimates WHERE bandit_key = \(text: bandit.key) AND day IN (SELECT day FROM bd_days)")
        // Per day and feasible action: the sums of OffPolicy.Sums, with w = 1/p where the logged
        // action is that action, else 0. Per day: the logged rewards' count, sum and squares.
        let decisions: SQLQuery = """
            SELECT (d.decided_at AT TIME ZONE 'UTC')::date AS day, d.actions, d.chosen_action, d.chosen_probability AS p, r.reward
            FROM lake.decisions AS d JOIN lake.decision_rewards AS r USING (decision_id)
            WHERE d.bandit_key = \(text: bandit.key) AND (d.decided_at AT TIME ZONE 'UTC')::date IN (SELECT day FROM bd_days)
              AND d.decided_at < \(window.endParameter)::timestamptz
            """
        let byAction = try connection.query(
            """
            SELECT x.day::text, a, count(*)::float8, count(*) FILTER (WHERE x.chosen_action = a)::float8,
                   coalesce(sum(1 / x.p) FILTER (WHERE x.chosen_action = a), 0),
                   coalesce(sum(1 / (x.p * x.p)) FILTER (WHERE x.chosen_action = a), 0),
                   coalesce(sum(x.reward / x.p) FILTER (WHERE x.chosen_action = a), 0),
                   coalesce(sum(x.reward / (x.p * x.p)) FILTER (WHERE x.chosen_action = a), 0),
                   coalesce(sum(x.reward * x.reward / (x.p * x.p)) FILTER (WHERE x.chosen_action = a), 0)
            FROM (\(decisions)) AS x CROSS JOIN LATERAL unnest(x.actions) AS a
            GROUP BY x.day, a ORDER BY x.day, a
            """)
        let logged = try connection.query(
            """
            SELECT x.day::text, count(*)::float8, sum(x.reward), sum(x.reward * x.reward)
            FROM (\(decisions)) AS x GROUP BY x.day ORDER BY x.day
            """)
        func number(_ value: Double?) -> PostgresValue {
            guard let value, value.isFinite else { return .null }
            return .float64(value)
        }
        var values: [SQLQuery] = []
        func add(day: String, policy: String, method: String, n: Double, matched: Double, _ estimate: OffPolicy.Estimate?) {
            values.append(
                """
                (\(text: bandit.key), \(text: day)::date, \(text: policy), \(text: method), \(Int(exactly: n) ?? 0), \(Int(exactly: matched) ?? 0),
                 \(number(estimate?.value)), \(number(estimate?.interval.lowerBound)), \(number(estimate?.interval.upperBound)),
                 \(window.endParameter)::timestamptz)
                """)
        }
        for row in logged.rows {
            let n = try row[1].decode(Double.self)
            let estimate = OffPolicy.mean(count: n, sum: try row[2].decode(Double.self), sumSquares: try row[3].decode(Double.self))
            add(day: try row[0].decode(String.self), policy: "logged", method: "logged", n: n, matched: n, estimate)
        }
        for row in byAction.rows {
            var sums = OffPolicy.Sums()
            sums.n = try row[2].decode(Double.self)
            sums.matched = try row[3].decode(Double.self)
            sums.w = try row[4].decode(Double.self)
            sums.w2 = try row[5].decode(Double.self)
            sums.wr = try row[6].decode(Double.self)
            sums.w2r = try row[7].decode(Double.self)
            sums.w2r2 = try row[8].decode(Double.self)
            let day = try row[0].decode(String.self)
            let policy = "action:\(try row[1].decode(String.self))"
            add(day: day, policy: policy, method: "ips", n: sums.n, matched: sums.matched, OffPolicy.ips(sums))
            add(day: day, policy: policy, method: "snips", n: sums.n, matched: sums.matched, OffPolicy.snips(sums))
        }
        var rows = 0
        for chunk in stride(from: 0, to: values.count, by: 200).map({ Array(values[$0..<min($0 + 200, values.count)]) }) {
            rows += try connection.execute("INSERT INTO lake.bandit_estimates VALUES \(SQLQuery.joined(chunk, separator: ", "))")
        }
        return rows
    }
}
