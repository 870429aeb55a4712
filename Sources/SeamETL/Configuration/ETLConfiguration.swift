import Foundation

/// Everything the ETL jobs and their scheduler need; the executable builds it from seam.yaml.
public struct ETLConfiguration: Sendable {
    /// When each job runs (UTC); a job missing here runs on `defaultSchedule`.
    public var schedules: [JobName: CronExpression]
    public var defaultSchedule: CronExpression
    /// How far before its watermark a run starts again, to take in late data.
    public var lookbackHours: Double
    /// Beta prior of user_features.category_preference.
    public var priorAlpha: Double
    public var priorBeta: Double
    /// Metrics by name, built-in ones first (a configured metric of the same name replaces it).
    public var metrics: [MetricDefinition]
    public var segments: [SegmentDefinition]
    public var experiments: [ExperimentDefinition]
    /// Configured bandits; a bandit seen in `lake.decisions` but not here gets the defaults.
    public var bandits: [BanditDefinition]

    public init(
        schedules: [JobName: CronExpression] = [:], defaultSchedule: CronExpression = try! CronExpression("*/15 * * * *"),
        lookbackHours: Double = 48, priorAlpha: Double = 1, priorBeta: Double = 1,
        metrics: [MetricDefinition] = MetricDefinition.builtIn, segments: [SegmentDefinition] = [],
        experiments: [ExperimentDefinition] = [], bandits: [BanditDefinition] = []
    ) {
        self.schedules = schedules
        self.defaultSchedule = defaultSchedule
        self.lookbackHours = lookbackHours
        self.priorAlpha = priorAlpha
        self.priorBeta = priorBeta
        self.metrics = metrics
        self.segments = segments
        self.experiments = experiments
        self.bandits = bandits
    }

    public func schedule(for job: JobName) -> CronExpression { schedules[job] ?? defaultSchedule }

    public func metric(named name: String) -> MetricDefinition? { metrics.first { $0.name == name } }

    /// Adds configured metrics: a name already defined is replaced in place.
    public mutating func define(_ metric: MetricDefinition) {
        if let index = metrics.firstIndex(where: { $0.name == metric.name }) {
            metrics[index] = metric
        } else {
            metrics.append(metric)
        }
    }

    /// Problems that need no database: each names the key path and the reason.
    public func problems() -> [ConfigurationProblem] {
        var problems: [ConfigurationProblem] = []
        func add(_ keyPath: String, _ message: String) { problems.append(.init(keyPath: keyPath, message: message)) }
        let identifier = #/^[a-z][a-z0-9_]{0,62}$/#
        for metric in metrics {
            let path = "metrics.\(metric.name)"
            if metric.name.wholeMatch(of: identifier) == nil {
                add(path, "metric names must be lowercase letters, digits and _ (starting with a letter)")
            }
            if !(metric.windowHours > 0) { add("\(path).window_hours", "must be > 0") }
            if !(metric.delayHours >= 0) { add("\(path).delay_hours", "must be >= 0") }
            switch metric.kind {
            case .ratio where metric.denominator == nil: add("\(path).denominator", "ratio metrics need a denominator")
            case .reward where metric.rules.isEmpty: add("\(path).rules", "reward metrics need at least one rule")
            case .proportion, .timeToEvent:
                if metric.selector.events.isEmpty { add("\(path).events", "name at least one event") }
            default: break
            }
            if metric.kind != .ratio, metric.denominator != nil {
                add("\(path).denominator", "only ratio metrics take a denominator")
            }
            switch metric.cap {
            case .percentile(let p) where !(p > 0 && p < 1): add("\(path).cap.percentile", "must be between 0 and 1")
            case .absolute(let value) where !value.isFinite: add("\(path).cap.absolute", "must be a number")
            case .some where metric.kind != .mean: add("\(path).cap", "only mean metrics can be capped")
            default: break
            }
        }
        var names = Set<String>()
        for segment in segments {
            let path = "segments.\(segment.name)"
            if segment.name.wholeMatch(of: identifier) == nil {
                add(path, "segment names must be lowercase letters, digits and _ (starting with a letter)")
            }
            if segment.name == "all" { add(path, "\"all\" is the built-in segment of every unit") }
            if !names.insert(segment.name).inserted { add(path, "defined twice") }
            let predicate = segment.predicate.trimmingCharacters(in: .whitespacesAndNewlines)
            if predicate.isEmpty { add("\(path).predicate", "must not be empty") }
            if predicate.contains(";") || predicate.contains("--") || predicate.contains("/*") {
                add("\(path).predicate", "must be a single SQL boolean expression (no ';' or comments)")
            }
        }
        for experiment in experiments {
            let path = "experiments.\(experiment.key)"
            if !(experiment.alpha > 0 && experiment.alpha < 1) { add("\(path).alpha", "must be between 0 and 1") }
            if !(experiment.cupedDays >= 0) { add("\(path).cuped_days", "must be >= 0") }
            if experiment.prior.proper, !(experiment.prior.variance > 0 && experiment.prior.variance.isFinite) {
                add("\(path).prior.variance", "must be a number > 0")
            }
            if !experiment.prior.mean.isFinite { add("\(path).prior.mean", "must be a number") }
            if !(experiment.sequentialTuning > 0 && experiment.sequentialTuning.isFinite) {
                add("\(path).sequential_tuning", "must be a number > 0")
            }
            if !(experiment.multipleExposureThreshold >= 0 && experiment.multipleExposureThreshold <= 1) {
                add("\(path).multiple_exposure_threshold", "must be between 0 and 1")
            }
            for (variant, weight) in experiment.weights where !(weight > 0) {
                add("\(path).weights.\(variant)", "must be > 0")
            }
            if let control = experiment.control, !experiment.weights.isEmpty, experiment.weights[control] == nil {
                add("\(path).control", "\"\(control)\" is not one of the variants in weights (\(experiment.weights.keys.sorted().joined(separator: ", ")))")
            }
            for (list, metricNames) in [
                ("primary_metrics", experiment.primaryMetrics), ("guardrail_metrics", experiment.guardrailMetrics),
                ("secondary_metrics", experiment.secondaryMetrics),
            ] {
                for name in metricNames where metric(named: name) == nil {
                    add("\(path).\(list)", "unknown metric \"\(name)\" (defined: \(metrics.map(\.name).joined(separator: ", ")))")
                }
            }
        }
        for bandit in bandits {
            let path = "bandits.\(bandit.key)"
            if !(bandit.rewardWindowSeconds > 0 && bandit.rewardWindowSeconds.isFinite) {
                add("\(path).reward_window_seconds", "must be a number > 0")
            }
            if bandit.rules.isEmpty { add("\(path).rules", "name at least one rule") }
            for (index, rule) in bandit.rules.enumerated() {
                if rule.events.isEmpty { add("\(path).rules[\(index)].events", "name at least one event") }
                if !rule.points.isFinite { add("\(path).rules[\(index)].points", "must be a number") }
                if let within = rule.withinSeconds, !(within > 0) { add("\(path).rules[\(index)].within_seconds", "must be > 0") }
            }
        }
        return problems
    }
}

/// A configuration problem: where (key path) and what.
public struct ConfigurationProblem: Error, Sendable, Equatable, CustomStringConvertible {
    public var keyPath: String
    public var message: String
    public init(keyPath: String, message: String) {
        self.keyPath = keyPath
        self.message = message
    }
    public var description: String { "\(keyPath): \(message)" }
}
