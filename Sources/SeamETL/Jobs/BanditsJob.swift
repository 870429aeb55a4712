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
/// Incremental like the other jobs: a run recomputes the rewards of the decisions whose
/// reward window reaches into its window, and the estimates of the UTC days of those
/// decisions; a changed bandit definition recomputes everything.
public struct BanditsJob: ETLJob {
    public let name = JobName.bandits
    let configuration: ETLConfiguration

    public init(configuration: ETLConfiguration) { self.configuration = configuration }

    public func run(window: JobWindow, on connection: PostgresConnection) throws -> Int {
        let digest = FNV1a.hex("\(configuration.bandits.sorted { $0.key < $1.key })".utf8)
        let everything = try definitionsChanged(to: digest, on: connection) || window.start == nil
        let configured = Dictionary(configuration.bandits.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let seen = try connection.query("SELECT DISTINCT bandit_key FROM lake.decisions").rows.map { try $0[0].decode(String.self) }
        let keys = Set(seen).union(configured.keys).sorted()
        var rows = 0
        for key in keys {
            let bandit = configured[key] ?? BanditDefinition(key: key)
            // Decisions whose window reaches into this run's window, from the start of their UTC day.
            let from = everything ? nil : window.start.map { Self.startOfDay($0.addingTimeInterval(-bandit.rewardWindowSeconds)) }
            rows += try rewards(bandit, from: from, window: window, on: connection)
            rows += try estimates(bandit, from: from, window: window, on: connection)
        }
        // Bandits no longer configured nor seen (a decision table emptied by hand).
        try connection.execute("DELETE FROM lake.decision_rewards WHERE NOT (bandit_key = ANY(\(keys)))")
        try connection.execute("DELETE FROM lake.bandit_estimates WHERE NOT (bandit_key = ANY(\(keys)))")
        return rows
    }

    static func startOfDay(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
    }

    private func rewards(_ bandit: BanditDefinition, from: Date?, window: JobWindow, on connection: PostgresConnection) throws -> Int {
        let fromValue: PostgresValue = from.map { .timestamptz($0) } ?? .text("-infinity")
        try connection.execute(
            "DELETE FROM lake.decision_rewards WHERE bandit_key = \(text: bandit.key) AND decided_at >= \(fromValue)::timestamptz")
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
            WHERE d.bandit_key = \(text: bandit.key) AND d.decided_at >= \(fromValue)::timestamptz
              AND d.decided_at < \(window.endParameter)::timestamptz
            """)
    }

    private func estimates(_ bandit: BanditDefinition, from: Date?, window: JobWindow, on connection: PostgresConnection) throws -> Int {
        let fromValue: PostgresValue = from.map { .timestamptz($0) } ?? .text("-infinity")
        try connection.execute(
            "DELETE FROM lake.bandit_estimates WHERE bandit_key = \(text: bandit.key) AND day >= (\(fromValue)::timestamptz AT TIME ZONE 'UTC')::date")
        // Per day and feasible action: the sums of OffPolicy.Sums, with w = 1/p where the logged
        // action is that action, else 0. Per day: the logged rewards' count, sum and squares.
        let decisions: SQLQuery = """
            SELECT (d.decided_at AT TIME ZONE 'UTC')::date AS day, d.actions, d.chosen_action, d.chosen_probability AS p, r.reward
            FROM lake.decisions AS d JOIN lake.decision_rewards AS r USING (decision_id)
            WHERE d.bandit_key = \(text: bandit.key) AND d.decided_at >= \(fromValue)::timestamptz
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
