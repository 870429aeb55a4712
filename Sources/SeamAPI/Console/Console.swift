import Foundation
import Hummingbird
import SeamHTTP
import SeamJoin
import SeamPostgres

/// The web console under `/console` (role `api`, beside the read API): experiments, segments,
/// bandits and pipeline health as server-rendered pages with SVG charts.
///
/// **Same numbers as the read API.** Experiments, results, segments and bandits are rendered
/// from the read API's own answers (`ReadAPI.experiments()`, `results`, …), so a figure on a
/// page is the figure `GET /v1/…` gives; each table cell carries it exactly in `data-value`.
///
/// **Derived tables only.** Every page reads what the join and the ETL derived
/// (`lake.experiments`, `experiment_results`, `exposures`, `segment_metrics`,
/// `bandit_estimates`, `etl_runs`), the refusals (`lake.rejected`, the last day's partitions)
/// and the join's queue counts, never the raw event tables: a page costs the same on a lake of
/// ten million events as on a small one.
///
/// **Read tokens apply.** With tokens configured, a page needs the token, as
/// `Authorization: Bearer` or the `seam_console` cookie that `/console/login` sets
/// (HttpOnly, SameSite=Strict); without it the answer is 401 with the login form.
/// Pages send a Content-Security-Policy that allows only Seam's own script and styles, and
/// every value from the lake (payloads of refused records included) is HTML-escaped.
struct Console: Sendable {
    let api: ReadAPI
    /// This process's metrics (Prometheus text), for the live figures of the pipeline page;
    /// nil when ingestion runs in another process.
    let metricsExposition: (@Sendable () -> [UInt8])?

    static let cookie = "seam_console"

    func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/console/assets/console.css") { _, _ in Self.asset(ConsoleAssets.css, type: "text/css; charset=utf-8") }
        router.get("/console/assets/console.js") { _, _ in Self.asset(ConsoleAssets.js, type: "text/javascript; charset=utf-8") }
        router.get("/console/login") { _, _ in Self.html(.ok, Self.loginPage(failed: false)) }
        router.post("/console/login") { request, _ in try await login(request) }
        let pages = router.group()
            .add(middleware: ConsoleAuthentication(tokens: api.configuration.tokens))
        // Every page through `page(_:)`, the one dispatcher from a path to its page.
        for path in [
            "/console/experiments", "/console/experiments/:key", "/console/segments", "/console/segments/:name", "/console/bandits",
            "/console/bandits/:key", "/console/pipeline",
        ] {
            pages.get(RouterPath(path)) { request, _ in
                try await render {
                    guard let html = try await page(request.uri.path) else { throw HTTPFailure(.notFound, "no console page at \(request.uri.path)") }
                    return html
                }
            }
        }
        pages
            .get("/console") { _, _ in Response(status: .seeOther, headers: [.location: "/console/experiments"]) }
            .get("/console/pipeline/live") { _, _ in
                let figures: [String: Double]
                do {
                    figures = try await liveFigures()
                } catch {
                    throw HTTPFailure(.serviceUnavailable, "the lake could not be read: \(error)")
                }
                let data = (try? JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys])) ?? Data("{}".utf8)
                return Response(
                    status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
            }
    }

    /// The page at `path` (as the router would serve it: `/console/experiments/checkout`),
    /// rendered without HTTP: what `seam bench etl` times on its lake. Nil for a path the
    /// console does not have.
    func page(_ path: String) async throws -> String? {
        let parts = path.split(separator: "/").map { $0.removingPercentEncoding ?? String($0) }
        guard parts.first == "console", parts.count >= 2 else { return nil }
        switch (parts[1], parts.count) {
        case ("experiments", 2): return try await experimentsPage()
        case ("experiments", 3): return try await experimentPage(key: parts[2])
        case ("segments", 2): return try await segmentsPage()
        case ("segments", 3): return try await segmentPage(name: parts[2])
        case ("bandits", 2): return try await banditsPage()
        case ("bandits", 3): return try await banditPage(key: parts[2])
        case ("pipeline", 2): return try await pipelinePage()
        default: return nil
        }
    }

    // MARK: Responses

    static let securityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static func html(_ status: HTTPResponse.Status, _ text: String, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "text/html; charset=utf-8"
        fields[.contentSecurityPolicy] = securityPolicy
        fields[.cacheControl] = "no-store"
        fields[.xContentTypeOptions] = "nosniff"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: type, .cacheControl: "max-age=300", .xContentTypeOptions: "nosniff"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// A page, or the failure as a page with its status (404 for an unknown key, 503 when
    /// the lake cannot be read).
    private func render(_ page: () async throws -> String) async throws -> Response {
        do {
            return Self.html(.ok, try await page())
        } catch let failure as HTTPFailure {
            let body = "<p class=\"note\">\(HTML.escape(failure.message))</p><p><a href=\"/console\">Back to the console</a></p>"
            return Self.html(failure.status, HTML.page(title: failure.status.code == 404 ? "Not found" : "Not available", section: "", body: body))
        } catch {
            let body = "<p class=\"note\">The lake could not be read: \(HTML.escape("\(error)"))</p>"
            return Self.html(.serviceUnavailable, HTML.page(title: "Not available", section: "", body: body))
        }
    }

    // MARK: Login

    static func loginPage(failed: Bool) -> String {
        HTML.page(
            title: "Sign in", section: "",
            body: """
                \(failed ? "<p class=\"note\">That is not a read token of this Seam.</p>" : "")
                <form class="login" method="post" action="/console/login">
                <label for="token">Read token (<code>api.tokens</code> in seam.yaml)</label>
                <input type="password" id="token" name="token" autocomplete="current-password" autofocus>
                <button type="submit">Open the console</button>
                </form>
                """)
    }

    private func login(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 8192)
        let form = String(buffer: body)
        let token = form.split(separator: "&").compactMap { pair -> String? in
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0] == "token" else { return nil }
            return parts[1].replacingOccurrences(of: "+", with: " ").removingPercentEncoding
        }.first ?? ""
        guard api.configuration.tokens.isEmpty || api.configuration.tokens.contains(token) else {
            return Self.html(.unauthorized, Self.loginPage(failed: true))
        }
        // The cookie holds the token itself: the console keeps no sessions. It is sent back
        // only to /console, never readable by script.
        let value = token.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        return Response(
            status: .seeOther,
            headers: [.location: "/console/experiments", .setCookie: "\(Self.cookie)=\(value); Path=/console; HttpOnly; SameSite=Strict"])
    }

    // MARK: Experiments

    func experimentsPage() async throws -> String {
        let list = (try await api.experiments().json["experiments"] as? [[String: Any]]) ?? []
        guard !list.isEmpty else {
            return HTML.page(title: "Experiments", section: "experiments", body: "<p class=\"note\">No experiment has exposures yet.</p>")
        }
        var rows: [String] = []
        for experiment in list {
            let key = experiment["key"] as? String ?? ""
            let variants = (experiment["variants"] as? [[String: Any]] ?? []).map { variant in
                "\(HTML.escape(variant["name"] as? String ?? "?")): \(HTML.number(variant["units"]))"
            }.joined(separator: ", ")
            let srm = experiment["srm_flag"] as? Bool ?? false
            let multiple = experiment["multiple_exposure_flag"] as? Bool ?? false
            let leading = experiment["computed_through"] is String ? try await lead(key) : "not analysed yet"
            rows.append(
                """
                <tr data-experiment="\(HTML.escape(key))"><td><a href="/console/experiments/\(Self.path(key))">\(HTML.escape(key))</a></td>
                <td>\(experiment["computed_through"] is String ? "analysed" : "exposures only")</td>
                \(HTML.cell("units", experiment["units"]))<td>\(variants)</td>
                <td>\(HTML.flag(srm, srm ? "sample ratio mismatch" : "ratio ok"))</td>\(HTML.cell("srm_p_value", experiment["srm_p_value"]))
                <td>\(HTML.flag(multiple, multiple ? "multiple exposures" : "exposures ok"))</td>
                <td class="wrap">\(leading)</td><td>\(HTML.escape(experiment["engine"] as? String ?? ""))</td>
                <td>\(HTML.escape(experiment["last_computed_at"] as? String ?? "never"))</td></tr>
                """)
        }
        let body = """
            <p class="note">Every experiment seen in the exposures or configured, with its units per variant and the checks that say whether its results can be trusted.</p>
            <table id="experiments"><thead><tr><th>experiment</th><th>status</th><th>units</th><th>units per variant</th><th>sample ratio</th><th>SRM p-value</th><th>multiple exposures</th><th>winning?</th><th>engine</th><th>last computed</th></tr></thead>
            <tbody>\(rows.joined(separator: "\n"))</tbody></table>
            """
        return HTML.page(title: "Experiments", section: "experiments", body: body)
    }

    /// Who is winning, in a line: on the experiment's first primary metric (else its first
    /// metric), the treatment with the largest significant lift (p-value below the
    /// experiment's alpha), green when it is better, red when worse; else "no significant
    /// difference". The significance is the frequentist engine's, as the results table shows.
    func lead(_ key: String) async throws -> String {
        let results = (try await api.results(key: key, query: ["dimension": "overall"]).json["results"] as? [[String: Any]]) ?? []
        let primary = results.first { ($0["metric_role"] as? String) == "primary" }?["metric"] as? String
        guard let metric = primary ?? results.compactMap({ $0["metric"] as? String }).min() else { return "no results yet" }
        let significant = results.filter { row in
            guard (row["metric"] as? String) == metric, !(row["is_control"] as? Bool ?? true), let p = row["p_value"] as? Double else { return false }
            return p < (row["alpha"] as? Double ?? 0.05)
        }
        guard let best = significant.max(by: { abs($0["relative_lift"] as? Double ?? 0) < abs($1["relative_lift"] as? Double ?? 0) }),
            let lift = best["relative_lift"] as? Double
        else { return "no significant difference on \(HTML.escape(metric))" }
        let better = (lift > 0) != (best["lower_is_better"] as? Bool ?? false)
        return "<span class=\"lead \(better ? "win" : "lose")\">\(HTML.escape(best["variant"] as? String ?? "?")) \(lift > 0 ? "+" : "")\(HTML.percent(lift))</span> on \(HTML.escape(metric)) (p = \(HTML.number(best["p_value"])))"
    }

    func experimentPage(key: String) async throws -> String {
        let answer = try await api.results(key: key, query: [:])
        let json = answer.json
        let results = json["results"] as? [[String: Any]] ?? []
        let control = json["control_variant"] as? String ?? ""
        let srm = json["srm_flag"] as? Bool ?? false
        let multiple = json["multiple_exposure_flag"] as? Bool ?? false
        var body = """
            <div class="cards">
            <div class="card"><div class="label">control</div><div class="value">\(HTML.escape(control))</div></div>
            <div class="card"><div class="label">sample ratio (p-value)</div><div class="value">\(HTML.number(json["srm_p_value"]))</div>\(HTML.flag(srm, srm ? "mismatch" : "ok"))</div>
            <div class="card"><div class="label">units exposed to several variants</div><div class="value">\(HTML.percent(json["multiple_exposure_share"]))</div>\(HTML.flag(multiple, multiple ? "too many" : "ok"))</div>
            <div class="card"><div class="label">engine reported first</div><div class="value">\(HTML.escape(json["engine"] as? String ?? ""))</div></div>
            <div class="card"><div class="label">computed through</div><div class="value small">\(HTML.escape(json["computed_through"] as? String ?? "–"))</div></div>
            </div>
            """
        // Units over time: the cumulative first exposures per variant (lake.exposures, derived by the join).
        // Each exposure's UTC day by date_bin (arithmetic on the timestamp; the origin is
        // before any exposure) and only the groups formatted: with date_trunc in a time zone
        // and to_char for each exposure, the query took 270–280 ms for one experiment's
        // 100,000 exposures by hand (137–143 ms this way), and the page 320 ms on seam bench
        // etl's lake, over its 300 ms target (docs/benchmarks.md).
        let exposures = try await api.pool.query(
            """
            SELECT to_char(g.day AT TIME ZONE 'UTC', 'YYYY-MM-DD'), g.variant, g.units
            FROM (
                SELECT date_bin('1 day', first_exposed_at, '0001-01-01 00:00:00+00') AS day, variant, count(*) AS units
                FROM lake.exposures WHERE experiment_key = \(text: key) AND NOT multiple_variants GROUP BY 1, 2
            ) AS g
            ORDER BY g.day, g.variant
            """)
        var days: [String] = []
        var perVariant: [String: [String: Int]] = [:]
        for row in exposures.rows {
            let day = try row[0].decode(String.self)
            if days.last != day { days.append(day) }
            perVariant[try row[1].decode(String.self), default: [:]][day] = try row[2].decode(Int.self)
        }
        let series = perVariant.keys.sorted().map { variant -> (name: String, values: [Double?]) in
            var total = 0
            return (variant, days.map { day in
                total += perVariant[variant]?[day] ?? 0
                return Double(total)
            })
        }
        body += "<h2>Units over time</h2>"
        body += days.isEmpty ? "<p class=\"note\">No exposures.</p>" : SVGCharts.lines(series, xs: days, axis: "units exposed (cumulative, by first exposure)")

        let overall = results.filter { ($0["dimension"] as? String) == "overall" }
        let metrics = overall.compactMap { $0["metric"] as? String }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        // The metric the experiment_results job keeps by exposure day (its trendMetric): the
        // first primary metric by name, else the first metric by name.
        let primaries = overall.filter { ($0["metric_role"] as? String) == "primary" }.compactMap { $0["metric"] as? String }
        if let trend = primaries.min() ?? metrics.min() {
            let ratio = overall.contains { ($0["metric"] as? String) == trend && ($0["metric_type"] as? String) == "ratio" }
            body += "<h2>Cumulative lift of \(HTML.escape(trend)) by exposure day</h2>"
            body += "<p class=\"note\">Among the units first exposed up to each day, with their outcomes as they stand now: the difference of the (capped) means the results are computed from, without CUPED.</p>"
            body += try await cumulativeLift(key: key, metric: trend, control: control, ratio: ratio)
        }
        if metrics.isEmpty {
            body += "<p class=\"note\">No results yet: the experiment_results job has not analysed this experiment.</p>"
        }
        for metric in metrics {
            let rows = overall.filter { ($0["metric"] as? String) == metric }
            let treatments = rows.filter { !($0["is_control"] as? Bool ?? false) }
            body += "<h2 id=\"metric-\(HTML.escape(metric))\">\(HTML.escape(metric))</h2>"
            if let note = rows.compactMap({ $0["note"] as? String }).first { body += "<p class=\"note\">\(HTML.escape(note))</p>" }
            body += SVGCharts.forest(
                treatments.map { .init(label: $0["variant"] as? String ?? "?", estimate: $0["relative_lift"] as? Double, low: $0["relative_ci_low"] as? Double, high: $0["relative_ci_high"] as? Double) },
                axis: "relative lift against \(control) (%), with its confidence interval")
            body += resultTable(rows, metric: metric)
        }
        let breakdowns = results.filter { ($0["dimension"] as? String) != "overall" }
        if !breakdowns.isEmpty {
            body += "<h2>Breakdowns</h2>"
            let groups = Dictionary(grouping: breakdowns) { "\($0["dimension"] as? String ?? ""): \($0["dimension_value"] as? String ?? "")" }
            for group in groups.keys.sorted() {
                body += "<h3>\(HTML.escape(group))</h3>"
                for metric in metrics {
                    let rows = groups[group, default: []].filter { ($0["metric"] as? String) == metric }
                    if !rows.isEmpty { body += resultTable(rows, metric: metric) }
                }
            }
        }
        return HTML.page(title: "Experiment \(key)", section: "experiments", body: body)
    }

    /// Per exposure day, each treatment's relative lift over the control among the units
    /// first exposed up to that day: running sums of the per-day sums the experiment_results
    /// job keeps for this metric (`seam_meta.experiment_sums`, dimension `exposure_day`, the
    /// same capped values the results are computed from), a few dozen rows whatever the
    /// number of units. `ratio`: the metric is a ratio (its means divide by the denominators).
    private func cumulativeLift(key: String, metric: String, control: String, ratio: Bool) async throws -> String {
        let result = try await api.pool.query(
            """
            SELECT dimension_value, variant, units::float8, coalesce(lake.float8_or_null(sum), 0), lake.float8_or_null(denominator_sum)
            FROM seam_meta.experiment_sums
            WHERE experiment_key = \(text: key) AND metric = \(text: metric) AND dimension = 'exposure_day'
            ORDER BY 1, 2
            """)
        var days: [String] = []
        var sums: [String: [String: (units: Double, value: Double, denominator: Double)]] = [:]
        for row in result.rows {
            let day = try row[0].decode(String.self)
            if days.last != day { days.append(day) }
            sums[try row[1].decode(String.self), default: [:]][day] = (try row[2].decode(Double.self), try row[3].decode(Double.self), try row[4].decode(Double?.self) ?? 0)
        }
        func running(_ variant: String) -> [Double?] {
            var units = 0.0, value = 0.0, denominator = 0.0
            return days.map { day in
                if let entry = sums[variant]?[day] {
                    units += entry.units
                    value += entry.value
                    denominator += entry.denominator
                }
                let base = ratio ? denominator : units
                return base > 0 ? value / base : nil
            }
        }
        guard sums[control] != nil, !days.isEmpty else { return "<p class=\"note\">No unit outcomes by exposure day yet (the next experiment_results run keeps them).</p>" }
        let controlMeans = running(control)
        let series = sums.keys.filter { $0 != control }.sorted().map { variant -> (name: String, values: [Double?]) in
            (variant, zip(running(variant), controlMeans).map { treatment, control in
                guard let treatment, let control, control != 0 else { return nil }
                return (treatment / control - 1) * 100
            })
        }
        return SVGCharts.lines(series, xs: days, axis: "relative lift against \(control) (%), units exposed up to each day")
    }

    /// One metric's rows: each variant's units and mean, and against the control the lift
    /// with its interval and p-value, Bayesian chance to win, and the sequential interval.
    private func resultTable(_ rows: [[String: Any]], metric: String) -> String {
        let lines = rows.map { row -> String in
            let isControl = row["is_control"] as? Bool ?? false
            let variant = row["variant"] as? String ?? ""
            let interval = isControl ? "" : "[\(HTML.percent(row["relative_ci_low"])), \(HTML.percent(row["relative_ci_high"]))]"
            let sequential = isControl ? "" : "[\(HTML.percent(row["sequential_relative_ci_low"])), \(HTML.percent(row["sequential_relative_ci_high"]))]"
            return """
                <tr data-metric="\(HTML.escape(metric))" data-variant="\(HTML.escape(variant))" data-dimension="\(HTML.escape(row["dimension"] as? String ?? ""))" data-dimension-value="\(HTML.escape(row["dimension_value"] as? String ?? ""))">
                <td>\(HTML.escape(variant))\(isControl ? " (control)" : "")</td>\(HTML.cell("units", row["units"]))\(HTML.cell("mean", row["mean"]))
                \(HTML.cell("relative_lift", row["relative_lift"], shown: isControl ? "" : HTML.percent(row["relative_lift"])))<td>\(interval)</td>
                \(HTML.cell("p_value", row["p_value"], shown: isControl ? "" : HTML.number(row["p_value"])))
                \(HTML.cell("bayesian_relative_chance_to_win", row["bayesian_relative_chance_to_win"], shown: isControl ? "" : HTML.percent(row["bayesian_relative_chance_to_win"])))
                <td>\(sequential)</td></tr>
                """
        }
        return """
            <table class="results"><thead><tr><th>variant</th><th>units</th><th>mean</th><th>relative lift</th><th>95 % interval</th><th>p-value</th><th>chance to win</th><th>sequential interval</th></tr></thead>
            <tbody>\(lines.joined(separator: "\n"))</tbody></table>
            """
    }

    // MARK: Segments

    func segmentsPage() async throws -> String {
        let list = (try await api.segments().json["segments"] as? [[String: Any]]) ?? []
        let rows = list.map { segment -> String in
            let name = segment["name"] as? String ?? ""
            return """
                <tr data-segment="\(HTML.escape(name))"><td><a href="/console/segments/\(Self.path(name))">\(HTML.escape(name))</a></td>
                <td>\(HTML.escape(segment["source"] as? String ?? ""))</td>\(HTML.cell("members", segment["members"]))
                <td>\(HTML.escape(segment["predicate"] as? String ?? segment["description"] as? String ?? ""))</td></tr>
                """
        }
        let body = """
            <table id="segments"><thead><tr><th>segment</th><th>source</th><th>members</th><th>rule</th></tr></thead>
            <tbody>\(rows.joined(separator: "\n"))</tbody></table>
            """
        return HTML.page(title: "Segments", section: "segments", body: body)
    }

    func segmentPage(name: String) async throws -> String {
        var body = ""
        for (grain, days, label) in [("day", 30, "Daily, last 30 days"), ("hour", 2, "Hourly, last 48 hours")] {
            let to = Date()
            let from = to.addingTimeInterval(-Double(days) * 86_400)
            let formatter = ISO8601DateFormatter()
            let answer = try await api.segmentMetrics(
                name: name, query: ["grain": grain, "from": formatter.string(from: from), "to": formatter.string(from: to)])
            let periods = answer.json["periods"] as? [[String: Any]] ?? []
            body += "<h2>\(label)</h2>"
            guard !periods.isEmpty else {
                body += "<p class=\"note\">No \(grain == "day" ? "daily" : "hourly") metrics in this range yet.</p>"
                continue
            }
            let xs = periods.map { String(($0["period_start"] as? String ?? "").prefix(grain == "day" ? 10 : 16)) }
            func values(_ field: String) -> [Double?] { periods.map { ($0[field] as? Double) ?? ($0[field] as? Int).map(Double.init) } }
            body += SVGCharts.lines([("sessions", values("sessions")), ("users", values("users"))], xs: xs, axis: "sessions and users per \(grain)")
            body += SVGCharts.lines(
                [("conversion rate", values("conversion_rate")), ("add-to-basket rate", values("add_to_basket_rate"))], xs: xs,
                axis: "conversion and add-to-basket rates per \(grain)")
            body += SVGCharts.lines([("revenue", values("revenue"))], xs: xs, axis: "revenue per \(grain)")
            let rows = periods.map { period in
                "<tr data-grain=\"\(grain)\"><td>\(HTML.escape(period["period_start"] as? String ?? ""))</td>"
                    + ["sessions", "users", "conversion_rate", "add_to_basket_rate", "orders", "revenue", "average_order_value",
                       "median_time_to_first_action_seconds", "server_duration_p95_ms"].map { HTML.cell($0, period[$0]) }.joined() + "</tr>"
            }
            body += """
                <table class="periods"><thead><tr><th>period</th><th>sessions</th><th>users</th><th>conversion</th><th>add to basket</th><th>orders</th><th>revenue</th><th>order value</th><th>median s to first action</th><th>p95 server ms</th></tr></thead>
                <tbody>\(rows.joined(separator: "\n"))</tbody></table>
                """
        }
        return HTML.page(title: "Segment \(name)", section: "segments", body: body)
    }

    // MARK: Bandits

    func banditsPage() async throws -> String {
        let list = (try await api.bandits().json["bandits"] as? [[String: Any]]) ?? []
        guard !list.isEmpty else {
            return HTML.page(title: "Bandits", section: "bandits", body: "<p class=\"note\">No bandit decisions have been logged (OTLP log records named bandit.decision).</p>")
        }
        let rows = list.map { bandit -> String in
            let key = bandit["key"] as? String ?? ""
            return """
                <tr data-bandit="\(HTML.escape(key))"><td><a href="/console/bandits/\(Self.path(key))">\(HTML.escape(key))</a></td>
                \(HTML.cell("decisions", bandit["decisions"]))\(HTML.cell("rewarded", bandit["rewarded"]))\(HTML.cell("mean_reward", bandit["mean_reward"]))
                <td>\(HTML.escape(bandit["first_decision"] as? String ?? ""))</td><td>\(HTML.escape(bandit["last_decision"] as? String ?? ""))</td></tr>
                """
        }
        let body = """
            <table id="bandits"><thead><tr><th>bandit</th><th>decisions</th><th>rewarded</th><th>mean reward</th><th>first decision</th><th>last decision</th></tr></thead>
            <tbody>\(rows.joined(separator: "\n"))</tbody></table>
            """
        return HTML.page(title: "Bandits", section: "bandits", body: body)
    }

    func banditPage(key: String) async throws -> String {
        let answer = try await api.banditEstimates(key: key, query: [:])
        let estimates = answer.json["estimates"] as? [[String: Any]] ?? []
        let days = Array(Set(estimates.compactMap { $0["day"] as? String })).sorted()
        func series(method: String) -> [(name: String, values: [Double?])] {
            let policies = Array(Set(estimates.filter { ($0["method"] as? String) == method }.compactMap { $0["policy"] as? String })).sorted()
            return policies.map { policy in
                (policy, days.map { day in
                    estimates.first { ($0["day"] as? String) == day && ($0["policy"] as? String) == policy && ($0["method"] as? String) == method }?["value"] as? Double
                })
            }
        }
        var body = "<p class=\"note\">Off-policy estimates per day (lake.bandit_estimates): the logged policy's mean reward, and what always choosing each action would have earned, by SNIPS and IPS.</p>"
        if days.isEmpty {
            body += "<p class=\"note\">No estimates yet: the bandits job has not run since decisions arrived.</p>"
        } else {
            body += "<h2>Reward per action over time (SNIPS)</h2>"
            body += SVGCharts.lines(series(method: "logged") + series(method: "snips"), xs: days, axis: "expected reward per decision")
        }
        let rows = estimates.map { estimate in
            "<tr data-policy=\"\(HTML.escape(estimate["policy"] as? String ?? ""))\" data-method=\"\(HTML.escape(estimate["method"] as? String ?? ""))\"><td>\(HTML.escape(estimate["day"] as? String ?? ""))</td><td>\(HTML.escape(estimate["policy"] as? String ?? ""))</td><td>\(HTML.escape(estimate["method"] as? String ?? ""))</td>"
                + ["decisions", "matched", "value", "ci_low", "ci_high"].map { HTML.cell($0, estimate[$0]) }.joined() + "</tr>"
        }
        body += """
            <table id="estimates"><thead><tr><th>day</th><th>policy</th><th>method</th><th>decisions</th><th>matched</th><th>value</th><th>95 % low</th><th>95 % high</th></tr></thead>
            <tbody>\(rows.joined(separator: "\n"))</tbody></table>
            """
        return HTML.page(title: "Bandit \(key)", section: "bandits", body: body)
    }

    // MARK: Pipeline

    /// The live figures: this process's ingestion counters and spool gauges (when ingestion
    /// runs here) and the join's queue (from PostgreSQL, whichever process runs the join).
    func liveFigures() async throws -> [String: Double] {
        var figures: [String: Double] = [:]
        if let metricsExposition {
            for line in String(decoding: metricsExposition(), as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
                let series = line[..<space]
                let name = series.prefix { $0 != "{" }
                let signal = series.range(of: "signal=\"").map { series[$0.upperBound...].prefix { $0 != "\"" } }
                switch name {
                case "seam_records_accepted_total": figures["accepted \(signal ?? "")", default: 0] += value
                case "seam_records_rejected_total": figures["rejected \(signal ?? "")", default: 0] += value
                case "seam_spool_unloaded_bytes": figures["spool bytes not yet loaded"] = value
                case "seam_spool_capacity_bytes": figures["spool capacity bytes"] = value
                case "seam_spool_oldest_unloaded_age_seconds": figures["loader lag seconds (oldest record not yet loaded)"] = value
                default: continue
                }
            }
            if let unloaded = figures["spool bytes not yet loaded"], let capacity = figures["spool capacity bytes"], capacity > 0 {
                figures["spool fill percent"] = (unloaded / capacity * 1000).rounded() / 10
            }
        }
        let status = try await JoinStatus.read(from: api.pool)
        figures["join lag seconds"] = status.lagSeconds
        figures["join pending items"] = Double(status.pendingItems)
        figures["join set-aside items"] = Double(status.setAsideItems)
        return figures
    }

    func pipelinePage() async throws -> String {
        let figures = try await liveFigures()
        let live = figures.keys.sorted().map { name in
            "<tr><td>\(HTML.escape(name))</td><td data-live=\"\(HTML.escape(name))\">\(HTML.format(figures[name] ?? 0))</td><td data-rate=\"\(HTML.escape(name))\">–</td></tr>"
        }.joined()
        var body = """
            <h2>Now</h2>
            <p class="note">\(metricsExposition == nil ? "Ingestion runs in another process: its figures are in that process's /metrics." : "Counters of this process since it started, and the join's queue; refreshed every five seconds, with the rate between two readings.")</p>
            <table id="live"><thead><tr><th>figure</th><th>value</th><th>rate</th></tr></thead><tbody>\(live)</tbody></table>
            """
        // Refusals of the last day, by reason (numbers in the reason folded, so that one rule
        // broken at many positions is one line), with the newest payload of each.
        let rejected = try await api.pool.query(
            """
            SELECT source, regexp_replace(reason, '[0-9]+', 'N', 'g') AS kind, count(*),
                   to_char(max(received_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   (array_agg(reason ORDER BY received_at DESC))[1],
                   (array_agg(substr(payload, 1, 2048) ORDER BY received_at DESC))[1]
            FROM lake.rejected WHERE received_at >= now() - interval '24 hours'
            GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2 LIMIT 50
            """)
        body += "<h2>Refused records, last 24 hours</h2>"
        if rejected.rows.isEmpty {
            body += "<p class=\"note\">Nothing was refused.</p>"
        } else {
            let rows = try rejected.rows.map { row -> String in
                let payload = try row[5].decode([UInt8].self)
                return """
                    <tr class="rejected"><td>\(HTML.escape(try row[0].decode(String.self)))</td><td class="wrap">\(HTML.escape(try row[1].decode(String.self)))</td>
                    \(HTML.cell("count", try row[2].decode(Int.self)))<td>\(HTML.escape(try row[3].decode(String.self)))</td>
                    <td><pre class="payload" title="\(HTML.escape(try row[4].decode(String.self)))">\(HTML.escape(Self.shown(payload)))</pre></td></tr>
                    """
            }
            body += """
                <table id="rejected"><thead><tr><th>source</th><th>reason</th><th>count</th><th>last</th><th>newest payload (first 2 KiB)</th></tr></thead>
                <tbody>\(rows.joined(separator: "\n"))</tbody></table>
                """
        }
        let setAside = try await api.pool.query(
            """
            SELECT s.kind, coalesce(encode(s.trace_id, 'hex'), s.event_id::text, s.key1 || coalesce(' / ' || s.key2, '')),
                   to_char(s.set_aside_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), s.error
            FROM seam_meta.join_set_aside s
            ORDER BY s.set_aside_at DESC LIMIT 20
            """)
        body += "<h2>Join keys set aside</h2>"
        if setAside.rows.isEmpty {
            body += "<p class=\"note\">None: every key computes.</p>"
        } else {
            let rows = try setAside.rows.map { row in
                "<tr class=\"set-aside\"><td>\(HTML.escape(QueueKind(rawValue: try row[0].decode(Int16.self))?.label ?? "?"))</td><td>\(HTML.escape(try row[1].decode(String?.self) ?? ""))</td><td>\(HTML.escape(try row[2].decode(String.self)))</td><td class=\"wrap\">\(HTML.escape(try row[3].decode(String.self)))</td></tr>"
            }
            body += "<p class=\"note\"><code>seam join rebuild</code> retries them.</p><table id=\"set-aside\"><thead><tr><th>kind</th><th>key</th><th>since</th><th>error</th></tr></thead><tbody>\(rows.joined())</tbody></table>"
        }
        let runs = try await api.pool.query(
            """
            SELECT run_id, job, trigger, status, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   extract(epoch FROM finished_at - started_at)::float8, rows_written, coalesce(error, '')
            FROM lake.etl_runs ORDER BY run_id DESC LIMIT 30
            """)
        body += "<h2>ETL runs</h2>"
        if runs.rows.isEmpty {
            body += "<p class=\"note\">No ETL run yet.</p>"
        } else {
            let rows = try runs.rows.map { row -> String in
                let status = try row[3].decode(String.self)
                return """
                    <tr class="etl-run" data-status="\(HTML.escape(status))"><td>\(try row[0].decode(Int.self))</td><td>\(HTML.escape(try row[1].decode(String.self)))</td>
                    <td>\(HTML.escape(try row[2].decode(String.self)))</td><td>\(HTML.flag(status == "failed", status))</td>
                    <td>\(HTML.escape(try row[4].decode(String.self)))</td>\(HTML.cell("seconds", try row[5].decode(Double?.self)))\(HTML.cell("rows_written", try row[6].decode(Int.self)))
                    <td class="wrap">\(HTML.escape(try row[7].decode(String.self)))</td></tr>
                    """
            }
            body += "<table id=\"etl-runs\"><thead><tr><th>run</th><th>job</th><th>trigger</th><th>status</th><th>started</th><th>seconds</th><th>rows</th><th>error</th></tr></thead><tbody>\(rows.joined(separator: "\n"))</tbody></table>"
        }
        return HTML.page(title: "Pipeline health", section: "pipeline", body: body)
    }

    /// A payload as text when it is UTF-8 (JSON, mostly), else as hexadecimal.
    static func shown(_ payload: [UInt8]) -> String {
        if let text = String(validating: payload, as: UTF8.self), !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" && $0 != "\r" }) {
            return text
        }
        return payload.prefix(512).map { String(format: "%02x", $0) }.joined(separator: " ")
    }

    /// A key as a URL path segment.
    static func path(_ key: String) -> String {
        HTML.escape(key.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#"))) ?? "")
    }
}

/// Read tokens for the console: `Authorization: Bearer` or the `seam_console` cookie; without
/// one, 401 with the sign-in form.
struct ConsoleAuthentication<Context: RequestContext>: RouterMiddleware {
    let tokens: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !tokens.isEmpty else { return try await next(request, context) }
        if let token = BearerToken.from(request), tokens.contains(token) { return try await next(request, context) }
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1).map(String.init)
                if parts.count == 2, parts[0] == Console.cookie, let token = parts[1].removingPercentEncoding, tokens.contains(token) {
                    return try await next(request, context)
                }
            }
        }
        return Console.html(.unauthorized, Console.loginPage(failed: false), headers: [.wwwAuthenticate: #"Bearer realm="seam""#])
    }
}
