import SeamPostgres

/// The per-unit SQL of a metric, evaluated over `u` (one experiment unit) grouped with its
/// events `e` (LEFT JOIN, so a unit without events still gets a value). Configuration
/// values (event names, property keys, windows, points) are bound, never written into
/// the statement.
struct MetricSQL {
    let metric: MetricDefinition
    let cupedDays: Double
    /// Where the events `e` are known to lie, in seconds before and after the unit's first
    /// exposure (the experiment's reach, which the statement's join or the events' table
    /// already applied), or nil.
    var events: (before: Double, after: Double)? = nil

    /// `seconds` as a bound interval.
    static func seconds(_ value: Double) -> SQLQuery { "(\(value) * interval '1 second')" }

    /// The unit's first exposure moved by `offset` seconds.
    private static func exposure(_ offset: Double) -> SQLQuery {
        offset == 0 ? "u.first_exposed_at" : offset > 0 ? "u.first_exposed_at + \(seconds(offset))" : "u.first_exposed_at - \(seconds(-offset))"
    }

    /// Events at [exposure + start, exposure + end), leaving out a bound the events are
    /// known to keep (`events`): a window that starts or ends with the reach (in seam bench
    /// etl, five of an experiment's seven metrics end with it) tests each event against it
    /// once, in the join, rather than again in every metric's filter. By hand at a fifth of
    /// seam bench etl's scale, an experiment's per-unit aggregate over its 200,000 events
    /// took 622–765 ms without the six filters' tests of the reach, against 723–835 ms.
    /// The row a unit without events gets (the join's NULLs) matches no window.
    private func between(_ start: Double, _ end: Double) -> SQLQuery {
        var tests: [SQLQuery] = []
        if start != -(events?.before ?? .infinity) { tests.append("e.occurred_at >= \(Self.exposure(start))") }
        if end != events?.after { tests.append("e.occurred_at < \(Self.exposure(end))") }
        return tests.isEmpty ? "e.occurred_at IS NOT NULL" : SQLQuery.joined(tests, separator: " AND ")
    }

    /// The conversion window in seconds from first exposure: [delay, delay + window).
    var window: (start: Double, end: Double) {
        let start = metric.delayHours * 3600
        return (start, start + metric.windowHours * 3600)
    }

    /// Events inside the unit's conversion window: [exposure + delay, exposure + delay + window).
    var inWindow: SQLQuery { between(window.start, window.end) }

    /// Events of the CUPED pre-period: [exposure - cuped_days, exposure).
    var inPrePeriod: SQLQuery { between(-cupedDays * 86_400, 0) }

    static func filter(_ events: [String]) -> SQLQuery { events.isEmpty ? "true" : "e.name = ANY(\(events))" }

    /// What one event contributes, as numeric (sums stay exact and order-independent).
    static func value(_ value: MetricDefinition.Value) -> SQLQuery {
        switch value {
        case .count: "1::numeric"
        case .tracedCount: "CASE WHEN e.trace_duration_ms IS NOT NULL THEN 1 ELSE 0 END::numeric"
        case .revenue: "coalesce(e.revenue, 0)"
        case .serverDurationMs: "coalesce(e.trace_duration_ms, 0)::numeric"
        case .property(let name):
            "CASE WHEN jsonb_typeof(e.properties -> \(text: name)) = 'number' THEN (e.properties ->> \(text: name))::numeric ELSE 0 END"
        }
    }

    private func expression(window: SQLQuery) -> SQLQuery {
        let selected: SQLQuery = "\(window) AND \(Self.filter(metric.selector.events))"
        switch metric.kind {
        case .proportion:
            return "CASE WHEN bool_or(\(selected)) THEN 1 ELSE 0 END::float8"
        case .mean, .ratio:
            // A unit whose sum exceeds double precision gets NULL (left out of the metric),
            // not an error that would fail the job on every run.
            return "lake.float8_or_null(coalesce(sum(\(Self.value(metric.selector.value))) FILTER (WHERE \(selected)), 0))"
        case .timeToEvent:
            return "extract(epoch FROM min(e.occurred_at) FILTER (WHERE \(selected)) - u.first_exposed_at)::float8"
        case .reward:
            let cases = metric.rules.map { rule -> SQLQuery in
                var condition: SQLQuery = "\(window) AND \(Self.filter(rule.events))"
                if let within = rule.withinSeconds {
                    condition = condition + " AND e.occurred_at < u.first_exposed_at + \(Self.seconds(within))"
                }
                return "WHEN bool_or(\(condition)) THEN \(rule.points)::float8"
            }
            return "CASE \(SQLQuery.joined(cases, separator: " ")) ELSE 0::float8 END"
        }
    }

    var valueExpression: SQLQuery { expression(window: inWindow) }

    var denominatorExpression: SQLQuery {
        guard metric.kind == .ratio, let denominator = metric.denominator else { return "NULL::float8" }
        return "lake.float8_or_null(coalesce(sum(\(Self.value(denominator.value))) FILTER (WHERE \(inWindow) AND \(Self.filter(denominator.events))), 0))"
    }

    /// CUPED covariates exist for proportion and mean metrics (the same metric before exposure).
    var hasCovariate: Bool { cupedDays > 0 && (metric.kind == .proportion || metric.kind == .mean) }

    var covariateExpression: SQLQuery { hasCovariate ? expression(window: inPrePeriod) : "NULL::float8" }

    /// How far before and after first exposure the metric reads events.
    var reach: (before: Double, after: Double) {
        (hasCovariate ? cupedDays * 86_400 : 0, window.end)
    }
}
