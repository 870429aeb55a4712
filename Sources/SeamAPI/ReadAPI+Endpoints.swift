import Foundation
import Hummingbird
import SeamPostgres

extension ReadAPI {
    /// `GET /v1/experiments`.
    func experiments() async throws -> Answer {
        let table = try Table(
            try await pool.query(
                """
                SELECT experiment_key AS key, configured, control_variant, variants, units, excluded_units,
                       \(unescaped: rfc3339("first_exposure")), \(unescaped: rfc3339("last_exposure")), srm_chi_square, srm_p_value, srm_flag,
                       engine, multiple_exposures, multiple_exposure_units, multiple_exposure_share, multiple_exposure_flag,
                       \(unescaped: rfc3339("computed_through")),
                       (SELECT \(unescaped: rfc3339("max(finished_at)", as: "finished")) FROM lake.etl_runs
                        WHERE job = 'experiment_results' AND status = 'succeeded') AS last_computed_at
                FROM lake.experiments ORDER BY experiment_key
                """))
        return Answer(json: ["experiments": table.objects], table: nil)
    }

    /// `GET /v1/experiments/{key}/results?metric=&dimension=`.
    func results(key: String, query: [String: String]) async throws -> Answer {
        let known = try await pool.query(
            """
            SELECT (SELECT count(*) FROM lake.experiments WHERE experiment_key = $1),
                   (SELECT string_agg(DISTINCT metric, ',' ORDER BY metric) FROM lake.experiment_results WHERE experiment_key = $1),
                   (SELECT string_agg(DISTINCT dimension, ',' ORDER BY dimension) FROM lake.experiment_results WHERE experiment_key = $1)
            """, [.text(key)])
        guard try known[0][0].decode(Int.self) > 0 else {
            throw Failure(.notFound, "unknown experiment \"\(key)\" (GET /v1/experiments lists them)")
        }
        let metrics = (try known[0][1].decode(String?.self) ?? "").split(separator: ",").map(String.init)
        var conditions: [SQLQuery] = ["experiment_key = \(text: key)"]
        if let metric = query["metric"] {
            guard metrics.contains(metric) else {
                throw Failure(
                    .badRequest,
                    "metric: \"\(metric)\" is not a metric of experiment \(key) (known: \(metrics.joined(separator: ", ")))")
            }
            conditions.append("metric = \(text: metric)")
        }
        if let dimension = query["dimension"] {
            let allowed = ["overall", "segment", "device"]
            guard allowed.contains(dimension) else {
                throw Failure(
                    .badRequest, "dimension: must be one of \(allowed.joined(separator: ", ")), got \"\(dimension)\"")
            }
            conditions.append("dimension = \(text: dimension == "overall" ? "" : dimension)")
        }
        let table = try Table(
            try await pool.query(
                """
                SELECT experiment_key, metric, variant, CASE dimension WHEN '' THEN 'overall' ELSE dimension END AS dimension,
                       dimension_value, metric_type, metric_role, lower_is_better, is_control, units, sum, sum_squares,
                       denominator_sum, denominator_sum_squares, cross_sum, covariate_sum, covariate_sum_squares, covariate_cross_sum,
                       cap_value, mean, variance, absolute_diff, absolute_ci_low, absolute_ci_high, relative_lift, relative_ci_low,
                       relative_ci_high, degrees_of_freedom, p_value, p_value_holm, p_value_bh, cuped_absolute_diff,
                       cuped_relative_lift, cuped_ci_low, cuped_ci_high, cuped_p_value, relative_p_value, cuped_theta,
                       cuped_relative_ci_low, cuped_relative_ci_high, cuped_relative_p_value,
                       sequential_absolute_ci_low, sequential_absolute_ci_high, sequential_absolute_p_value,
                       sequential_relative_ci_low, sequential_relative_ci_high, sequential_relative_p_value,
                       bayesian_absolute_expected, bayesian_absolute_ci_low, bayesian_absolute_ci_high,
                       bayesian_absolute_chance_to_win, bayesian_absolute_risk_control, bayesian_absolute_risk_treatment,
                       bayesian_relative_expected, bayesian_relative_ci_low, bayesian_relative_ci_high,
                       bayesian_relative_chance_to_win, bayesian_relative_risk_control, bayesian_relative_risk_treatment,
                       alpha, \(unescaped: rfc3339("computed_through")), note
                FROM lake.experiment_results WHERE \(SQLQuery.joined(conditions, separator: " AND "))
                ORDER BY dimension, dimension_value, metric, is_control DESC, variant
                """))
        let experiment = try Table(
            try await pool.query(
                """
                SELECT srm_p_value, srm_flag, control_variant, engine, multiple_exposure_share, multiple_exposure_flag,
                       \(unescaped: rfc3339("computed_through")) FROM lake.experiments WHERE experiment_key = \(text: key)
                """)
        ).objects.first ?? [:]
        return Answer(
            json: [
                "experiment": key, "control_variant": experiment["control_variant"] ?? NSNull(),
                "srm_p_value": experiment["srm_p_value"] ?? NSNull(), "srm_flag": experiment["srm_flag"] ?? false,
                "engine": experiment["engine"] ?? "frequentist",
                "multiple_exposure_share": experiment["multiple_exposure_share"] ?? NSNull(),
                "multiple_exposure_flag": experiment["multiple_exposure_flag"] ?? false,
                "computed_through": experiment["computed_through"] ?? NSNull(), "results": table.objects,
            ], table: table)
    }

    /// `GET /v1/segments`.
    func segments() async throws -> Answer {
        var counts: [String: (source: String, members: Int)] = [:]
        for row in try await pool.query("SELECT segment, min(source), count(*) FROM lake.segment_members GROUP BY segment").rows {
            counts[try row[0].decode(String.self)] = (try row[1].decode(String.self), try row[2].decode(Int.self))
        }
        let units = try await pool.query("SELECT count(*) FROM lake.user_features").scalar(Int.self)
        var list: [[String: Any]] = [
            ["name": "all", "source": "builtin", "description": "Every unit.", "predicate": NSNull(), "members": units]
        ]
        for segment in configuration.segments {
            list.append([
                "name": segment.name, "source": "rule", "description": segment.description, "predicate": segment.predicate,
                "members": counts[segment.name]?.members ?? 0,
            ])
        }
        let rules = Set(configuration.segments.map(\.name))
        for (name, entry) in counts.sorted(by: { $0.key < $1.key }) where !rules.contains(name) {
            list.append([
                "name": name, "source": entry.source, "description": "", "predicate": NSNull(), "members": entry.members,
            ])
        }
        return Answer(json: ["segments": list], table: nil)
    }

    /// `GET /v1/segments/{name}/metrics?grain=day&from=…&to=…`.
    func segmentMetrics(name: String, query: [String: String]) async throws -> Answer {
        let grain = query["grain"] ?? "day"
        guard grain == "day" || grain == "hour" else {
            throw Failure(.badRequest, "grain: must be hour or day, got \"\(grain)\"")
        }
        func time(_ parameter: String) throws -> Date? {
            guard let text = query[parameter] else { return nil }
            guard let date = Self.parseTime(text) else {
                throw Failure(
                    .badRequest,
                    "\(parameter): expected an RFC 3339 time (2026-11-20T00:00:00Z) or a date (2026-11-20), got \"\(text)\"")
            }
            return date
        }
        let to = try time("to") ?? Date()
        let from = try time("from") ?? to.addingTimeInterval(-30 * 86_400)
        guard from < to else { throw Failure(.badRequest, "from: must be before to") }
        var known = name == "all" || configuration.segments.contains { $0.name == name }
        if !known {
            known = try await pool.query("SELECT EXISTS (SELECT 1 FROM lake.segment_members WHERE segment = $1)", [.text(name)])
                .scalar(Bool.self)
        }
        guard known else {
            throw Failure(.notFound, "unknown segment \"\(name)\" (GET /v1/segments lists them)")
        }
        let table = try Table(
            try await pool.query(
                """
                SELECT segment, grain, \(unescaped: rfc3339("period_start")), sessions, users, converted_sessions, conversion_rate,
                       add_to_basket_sessions, add_to_basket_rate, orders, revenue, average_order_value,
                       median_time_to_first_action_seconds, server_duration_p95_ms
                FROM lake.segment_metrics
                WHERE segment = \(text: name) AND grain = \(text: grain) AND period_start >= \(from) AND period_start < \(to)
                ORDER BY period_start
                """))
        let formatter = ISO8601DateFormatter()
        return Answer(
            json: [
                "segment": name, "grain": grain, "from": formatter.string(from: from), "to": formatter.string(from: to),
                "periods": table.objects,
            ], table: table)
    }

    static func parseTime(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withFullDate]
        return formatter.date(from: text)
    }

    /// `GET /v1/bandits`: every bandit with decisions, their count and time range.
    func bandits() async throws -> Answer {
        let table = try Table(
            try await pool.query(
                """
                SELECT d.bandit_key AS key, count(*) AS decisions, \(unescaped: rfc3339("min(d.decided_at)", as: "first_decision")),
                       \(unescaped: rfc3339("max(d.decided_at)", as: "last_decision")),
                       count(r.decision_id) AS rewarded, avg(r.reward) AS mean_reward
                FROM lake.decisions AS d LEFT JOIN lake.decision_rewards AS r USING (decision_id)
                GROUP BY d.bandit_key ORDER BY d.bandit_key
                """))
        return Answer(json: ["bandits": table.objects], table: nil)
    }

    /// `GET /v1/bandits/{key}/estimates?from=&to=`: lake.bandit_estimates by day.
    func banditEstimates(key: String, query: [String: String]) async throws -> Answer {
        guard try await pool.query("SELECT count(*) FROM lake.decisions WHERE bandit_key = \(text: key)").scalar(Int.self) > 0 else {
            throw Failure(.notFound, "unknown bandit \"\(key)\" (GET /v1/bandits lists them)")
        }
        var conditions: [SQLQuery] = ["bandit_key = \(text: key)"]
        for (parameter, comparison) in [("from", ">="), ("to", "<")] {
            guard let text = query[parameter] else { continue }
            guard let date = Self.parseTime(text) else {
                throw Failure(.badRequest, "\(parameter): not an RFC 3339 time or a date (2026-11-20), got \"\(text)\"")
            }
            conditions.append("day \(unescaped: comparison) (\(PostgresValue.timestamptz(date))::timestamptz AT TIME ZONE 'UTC')::date")
        }
        let table = try Table(
            try await pool.query(
                """
                SELECT bandit_key, day::text AS day, policy, method, decisions, matched, value, ci_low, ci_high,
                       \(unescaped: rfc3339("computed_through"))
                FROM lake.bandit_estimates WHERE \(SQLQuery.joined(conditions, separator: " AND "))
                ORDER BY day, policy, method
                """))
        return Answer(json: ["bandit": key, "estimates": table.objects], table: table)
    }

    /// `GET /v1/bandits/{key}/dsjson?from=&to=`: the decisions as DSJSON lines
    /// (`DSJSONExport`), streamed page by page as they are read.
    func dsjson(key: String, request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        var bounds: [String: Date] = [:]
        for parameter in ["from", "to"] {
            guard let text = query[Substring(parameter)].map(String.init) else { continue }
            guard let date = Self.parseTime(text) else {
                throw Failure(.badRequest, "\(parameter): not an RFC 3339 time or a date (2026-11-20), got \"\(text)\"")
            }
            bounds[parameter] = date
        }
        let known: Int
        do {
            known = try await pool.query("SELECT count(*) FROM lake.decisions WHERE bandit_key = \(text: key)").scalar(Int.self)
        } catch {
            throw Failure(.serviceUnavailable, "the lake could not be read: \(error)")
        }
        guard known > 0 else { throw Failure(.notFound, "unknown bandit \"\(key)\" (GET /v1/bandits lists them)") }
        let pool = self.pool
        let (from, to) = (bounds["from"], bounds["to"])
        return Response(
            status: .ok, headers: [.contentType: "application/x-ndjson", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                _ = try await DSJSONExport.export(bandit: key, from: from, to: to, pool: pool) { bytes in
                    try await writer.write(ByteBuffer(bytes: bytes))
                }
                try await writer.finish(nil)
            })
    }
}
