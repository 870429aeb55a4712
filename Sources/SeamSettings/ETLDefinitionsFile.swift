import Foundation
import SeamETL
import Yams

/// The `metrics`, `segments` and `experiments` sections of seam.yaml. Every error names
/// the file, the line and the key path.
///
/// ```yaml
/// metrics:
///   checkout_revenue: {type: mean, events: [purchase], value: revenue, window_hours: 72, cap: {percentile: 0.99}}
/// segments:
///   big_spenders: {predicate: "revenue >= 100", description: Spent 100 or more}
/// experiments:
///   checkout_button: {control: control, weights: {control: 1, treatment: 1}, primary_metrics: [purchase_conversion]}
/// ```
struct ETLDefinitionsFile {
    static let sections: Set<String> = ["metrics", "segments", "experiments", "bandits"]

    var metrics: [MetricDefinition] = []
    var segments: [SegmentDefinition] = []
    var experiments: [ExperimentDefinition] = []
    var bandits: [BanditDefinition] = []

    let path: String

    static func load(path: String) throws -> ETLDefinitionsFile {
        var file = ETLDefinitionsFile(path: path)
        guard let text = try? String(contentsOfFile: path, encoding: .utf8), let root = try Yams.compose(yaml: text),
            let mapping = root.mapping
        else { return file }
        for (key, value) in mapping {
            guard let section = key.string, sections.contains(section) else { continue }
            if case .scalar = value { continue }  // empty section
            for (name, body) in try file.entries(value, section) {
                let keyPath = "\(section).\(name)"
                switch section {
                case "metrics": file.metrics.append(try file.metric(name, body, keyPath))
                case "segments": file.segments.append(try file.segment(name, body, keyPath))
                case "bandits": file.bandits.append(try file.bandit(name, body, keyPath))
                default: file.experiments.append(try file.experiment(name, body, keyPath))
                }
            }
        }
        return file
    }

    // MARK: Entries

    private func metric(_ name: String, _ node: Node, _ keyPath: String) throws -> MetricDefinition {
        let fields = try self.fields(
            node, keyPath,
            allowed: ["type", "description", "events", "value", "numerator", "denominator", "rules", "window_hours", "delay_hours", "cap", "lower_is_better"])
        guard let typeNode = fields["type"] else {
            throw fail(node, "\(keyPath).type", "missing (\(Self.listed(MetricDefinition.Kind.self)))")
        }
        let kind: MetricDefinition.Kind = try choice(typeNode, "\(keyPath).type", "metric type")
        var metric = MetricDefinition(name: name, kind: kind)
        if let node = fields["description"] { metric.description = try string(node, "\(keyPath).description") }
        metric.selector = try selector(events: fields["events"], value: fields["value"], keyPath)
        if let node = fields["numerator"] {
            let parts = try self.fields(node, "\(keyPath).numerator", allowed: ["events", "value"])
            metric.selector = try selector(events: parts["events"], value: parts["value"], "\(keyPath).numerator")
        }
        if let node = fields["denominator"] {
            let parts = try self.fields(node, "\(keyPath).denominator", allowed: ["events", "value"])
            metric.denominator = try selector(events: parts["events"], value: parts["value"], "\(keyPath).denominator")
        }
        if let node = fields["rules"] { metric.rules = try rules(node, "\(keyPath).rules") }
        if let node = fields["window_hours"] { metric.windowHours = try number(node, "\(keyPath).window_hours") }
        if let node = fields["delay_hours"] { metric.delayHours = try number(node, "\(keyPath).delay_hours") }
        if let node = fields["lower_is_better"] { metric.lowerIsBetter = try bool(node, "\(keyPath).lower_is_better") }
        if let node = fields["cap"] {
            let parts = try self.fields(node, "\(keyPath).cap", allowed: ["absolute", "percentile"])
            if let absolute = parts["absolute"], parts["percentile"] == nil {
                metric.cap = .absolute(try number(absolute, "\(keyPath).cap.absolute"))
            } else if let percentile = parts["percentile"], parts["absolute"] == nil {
                metric.cap = .percentile(try number(percentile, "\(keyPath).cap.percentile"))
            } else {
                throw fail(node, "\(keyPath).cap", "give exactly one of absolute or percentile")
            }
        }
        return metric
    }

    private func selector(events: Node?, value: Node?, _ keyPath: String) throws -> MetricDefinition.Selector {
        var selector = MetricDefinition.Selector(events: try events.map { try strings($0, "\(keyPath).events") } ?? [])
        if let value {
            let text = try string(value, "\(keyPath).value")
            guard let parsed = MetricDefinition.Value(text) else {
                throw fail(value, "\(keyPath).value", "unknown value \"\(text)\" (count, traced_count, revenue, server_duration_ms or property:NAME)")
            }
            selector.value = parsed
        }
        return selector
    }

    /// A list of reward rules: `[{events, points, within_seconds}]`.
    private func rules(_ node: Node, _ keyPath: String) throws -> [MetricDefinition.RewardRule] {
        guard case .sequence(let rules) = node else { throw fail(node, keyPath, "must be a list of {events, points, within_seconds}") }
        return try rules.enumerated().map { index, rule in
            let path = "\(keyPath)[\(index)]"
            let parts = try self.fields(rule, path, allowed: ["events", "points", "within_seconds"])
            guard let points = parts["points"] else { throw fail(rule, "\(path).points", "missing") }
            return MetricDefinition.RewardRule(
                events: try parts["events"].map { try strings($0, "\(path).events") } ?? [],
                points: try number(points, "\(path).points"),
                withinSeconds: try parts["within_seconds"].map { try number($0, "\(path).within_seconds") })
        }
    }

    private func bandit(_ key: String, _ node: Node, _ keyPath: String) throws -> BanditDefinition {
        var bandit = BanditDefinition(key: key)
        if case .scalar = node { return bandit }  // `KEY:` alone: the defaults
        let fields = try self.fields(node, keyPath, allowed: ["rules", "reward_window_seconds"])
        if let node = fields["rules"] { bandit.rules = try rules(node, "\(keyPath).rules") }
        if let node = fields["reward_window_seconds"] {
            bandit.rewardWindowSeconds = try number(node, "\(keyPath).reward_window_seconds")
        }
        return bandit
    }

    private func segment(_ name: String, _ node: Node, _ keyPath: String) throws -> SegmentDefinition {
        let fields = try self.fields(node, keyPath, allowed: ["predicate", "description"])
        guard let predicate = fields["predicate"] else { throw fail(node, "\(keyPath).predicate", "missing (an SQL condition over lake.user_features)") }
        return SegmentDefinition(
            name: name, description: try fields["description"].map { try string($0, "\(keyPath).description") } ?? "",
            predicate: try string(predicate, "\(keyPath).predicate"))
    }

    private func experiment(_ key: String, _ node: Node, _ keyPath: String) throws -> ExperimentDefinition {
        let fields = try self.fields(
            node, keyPath,
            allowed: [
                "control", "weights", "primary_metrics", "guardrail_metrics", "secondary_metrics", "alpha", "dimensions", "cuped_days",
                "engine", "prior", "sequential_tuning", "multiple_exposures", "multiple_exposure_threshold",
            ])
        var experiment = ExperimentDefinition(key: key)
        if let node = fields["control"] { experiment.control = try string(node, "\(keyPath).control") }
        if let node = fields["weights"] {
            for (variant, weight) in try entries(node, "\(keyPath).weights") {
                experiment.weights[variant] = try number(weight, "\(keyPath).weights.\(variant)")
            }
        }
        if let node = fields["primary_metrics"] { experiment.primaryMetrics = try strings(node, "\(keyPath).primary_metrics") }
        if let node = fields["guardrail_metrics"] { experiment.guardrailMetrics = try strings(node, "\(keyPath).guardrail_metrics") }
        if let node = fields["secondary_metrics"] { experiment.secondaryMetrics = try strings(node, "\(keyPath).secondary_metrics") }
        if let node = fields["alpha"] { experiment.alpha = try number(node, "\(keyPath).alpha") }
        if let node = fields["cuped_days"] { experiment.cupedDays = try number(node, "\(keyPath).cuped_days") }
        if let node = fields["engine"] { experiment.engine = try choice(node, "\(keyPath).engine", "engine") }
        if let node = fields["prior"] {
            // A Gaussian prior on the effect: {mean, variance, scale: relative|absolute}; giving one makes it proper.
            let prior = try self.fields(node, "\(keyPath).prior", allowed: ["mean", "variance", "scale"])
            experiment.prior.proper = true
            if let node = prior["mean"] { experiment.prior.mean = try number(node, "\(keyPath).prior.mean") }
            guard let variance = prior["variance"] else { throw fail(node, "\(keyPath).prior.variance", "missing (the prior's variance, > 0)") }
            experiment.prior.variance = try number(variance, "\(keyPath).prior.variance")
            if let node = prior["scale"] { experiment.prior.scale = try choice(node, "\(keyPath).prior.scale", "scale") }
        }
        if let node = fields["sequential_tuning"] { experiment.sequentialTuning = try number(node, "\(keyPath).sequential_tuning") }
        if let node = fields["multiple_exposures"] {
            experiment.multipleExposures = try choice(node, "\(keyPath).multiple_exposures", "mode")
        }
        if let node = fields["multiple_exposure_threshold"] {
            experiment.multipleExposureThreshold = try number(node, "\(keyPath).multiple_exposure_threshold")
        }
        if let node = fields["dimensions"] {
            experiment.dimensions = try strings(node, "\(keyPath).dimensions").map {
                try choice(named: $0, node, "\(keyPath).dimensions", "dimension")
            }
        }
        return experiment
    }

    // MARK: Node readers

    /// One of an enumeration's values, by name; the error lists them all.
    private func choice<T: RawRepresentable & CaseIterable>(_ node: Node, _ keyPath: String, _ what: String) throws -> T
    where T.RawValue == String {
        try choice(named: try string(node, keyPath), node, keyPath, what)
    }

    private func choice<T: RawRepresentable & CaseIterable>(named name: String, _ node: Node, _ keyPath: String, _ what: String) throws -> T
    where T.RawValue == String {
        guard let value = T(rawValue: name) else { throw fail(node, keyPath, "unknown \(what) \"\(name)\" (\(Self.listed(T.self)))") }
        return value
    }

    /// "a, b or c".
    static func listed<T: RawRepresentable & CaseIterable>(_: T.Type) -> String where T.RawValue == String {
        let names = T.allCases.map(\.rawValue)
        return names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
    }

    private func fail(_ node: Node, _ keyPath: String, _ message: String) -> SettingsError {
        SettingsError("\(path):\(node.mark?.line ?? 0): \(keyPath): \(message)")
    }

    private func entries(_ node: Node, _ keyPath: String) throws -> [(String, Node)] {
        guard let mapping = node.mapping else { throw fail(node, keyPath, "must be a mapping of names to definitions") }
        return try mapping.map { key, value in
            guard let name = key.string else { throw fail(key, keyPath, "keys must be strings") }
            return (name, value)
        }
    }

    private func fields(_ node: Node, _ keyPath: String, allowed: Set<String>) throws -> [String: Node] {
        var result: [String: Node] = [:]
        for (name, value) in try entries(node, keyPath) {
            guard allowed.contains(name) else {
                throw fail(node, "\(keyPath).\(name)", "unknown key (known: \(allowed.sorted().joined(separator: ", ")))")
            }
            result[name] = value
        }
        return result
    }

    private func string(_ node: Node, _ keyPath: String) throws -> String {
        guard case .scalar(let scalar) = node else { throw fail(node, keyPath, "must be a single value") }
        return scalar.string
    }

    private func number(_ node: Node, _ keyPath: String) throws -> Double {
        guard let value = Double(try string(node, keyPath)), value.isFinite else {
            throw fail(node, keyPath, "must be a number, got \"\((try? string(node, keyPath)) ?? "?")\"")
        }
        return value
    }

    private func bool(_ node: Node, _ keyPath: String) throws -> Bool {
        switch try string(node, keyPath).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw fail(node, keyPath, "must be true or false")
        }
    }

    private func strings(_ node: Node, _ keyPath: String) throws -> [String] {
        switch node {
        case .scalar: return [try string(node, keyPath)]
        case .sequence(let items): return try items.map { try string($0, keyPath) }
        default: throw fail(node, keyPath, "must be a name or a list of names")
        }
    }
}
