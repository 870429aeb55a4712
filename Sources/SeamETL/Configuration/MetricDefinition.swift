/// A metric the experiment_results job computes per unit over its conversion window.
public struct MetricDefinition: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable {
        /// 1 when the unit did one of `events` within the window, else 0.
        case proportion
        /// Sum of `value` over the unit's `events` within the window (0 when none).
        case mean
        /// Σ numerator / Σ denominator over units (delta method).
        case ratio
        /// Seconds from first exposure to the first of `events`; units without one are left out.
        case timeToEvent = "time_to_event"
        /// Points of the first rule the unit satisfied, else 0.
        case reward

        /// How the engines summarise its per-unit values (gbstats: proportions have variance
        /// p(1 − p); durations, rewards and sums are means).
        public var moments: VariantMoments.Kind {
            switch self {
            case .proportion: .proportion
            case .ratio: .ratio
            case .mean, .timeToEvent, .reward: .mean
            }
        }
    }

    /// What an event contributes.
    public enum Value: Sendable, Hashable, CustomStringConvertible {
        /// 1 per event.
        case count
        /// 1 per event whose trace is known (the denominator of server-duration means).
        case tracedCount
        /// Purchase revenue (`lake.event_revenue`).
        case revenue
        /// The event's trace duration in milliseconds (0 when the trace is unknown).
        case serverDurationMs
        /// A numeric event property.
        case property(String)

        public init?(_ text: String) {
            switch text {
            case "count": self = .count
            case "traced_count": self = .tracedCount
            case "revenue": self = .revenue
            case "server_duration_ms": self = .serverDurationMs
            default:
                guard text.hasPrefix("property:"), text.count > 9 else { return nil }
                self = .property(String(text.dropFirst(9)))
            }
        }

        public var description: String {
            switch self {
            case .count: "count"
            case .tracedCount: "traced_count"
            case .revenue: "revenue"
            case .serverDurationMs: "server_duration_ms"
            case .property(let name): "property:\(name)"
            }
        }
    }

    /// Which events count and what each contributes; empty `events` means every event.
    public struct Selector: Sendable, Hashable {
        public var events: [String]
        public var value: Value
        public init(events: [String], value: Value = .count) {
            self.events = events
            self.value = value
        }
    }

    /// A reward rule: `points` when the unit did one of `events` (within `withinSeconds` of
    /// its first exposure when set).
    public struct RewardRule: Sendable, Hashable {
        public var events: [String]
        public var points: Double
        public var withinSeconds: Double?
        public init(events: [String], points: Double, withinSeconds: Double? = nil) {
            self.events = events
            self.points = points
            self.withinSeconds = withinSeconds
        }
    }

    public enum Cap: Sendable, Hashable {
        /// Per-unit values above this are set to it.
        case absolute(Double)
        /// Per-unit values above this percentile (0 < p < 1) of all the experiment's units are capped.
        case percentile(Double)
    }

    public var name: String
    public var kind: Kind
    public var description: String
    public var selector: Selector
    public var denominator: Selector?
    public var rules: [RewardRule]
    public var windowHours: Double
    public var delayHours: Double
    public var cap: Cap?
    public var lowerIsBetter: Bool

    public init(
        name: String, kind: Kind, description: String = "", selector: Selector = .init(events: []),
        denominator: Selector? = nil, rules: [RewardRule] = [], windowHours: Double = 72, delayHours: Double = 0,
        cap: Cap? = nil, lowerIsBetter: Bool = false
    ) {
        self.name = name
        self.kind = kind
        self.description = description
        self.selector = selector
        self.denominator = denominator
        self.rules = rules
        self.windowHours = windowHours
        self.delayHours = delayHours
        self.cap = cap
        self.lowerIsBetter = lowerIsBetter
    }

    /// The metrics every Seam has; seam.yaml can redefine one by name or add more.
    public static let builtIn: [MetricDefinition] = [
        .init(
            name: "purchase_conversion", kind: .proportion, description: "Unit purchased within 72 h of first exposure.",
            selector: .init(events: ["purchase"])),
        .init(
            name: "add_to_basket", kind: .proportion, description: "Unit added a product to the basket within 72 h.",
            selector: .init(events: ["add_to_basket"])),
        .init(
            name: "product_detail_view", kind: .proportion, description: "Unit viewed a product detail page within 72 h.",
            selector: .init(events: ["product_view"])),
        .init(
            name: "revenue_per_unit", kind: .mean, description: "Purchase revenue per unit within 72 h.",
            selector: .init(events: ["purchase"], value: .revenue)),
        .init(
            name: "time_to_first_action", kind: .timeToEvent,
            description: "Seconds from first exposure to the first product view, add to basket or purchase (within 24 h); units without one are left out.",
            selector: .init(events: ["product_view", "add_to_basket", "purchase"]), windowHours: 24, lowerIsBetter: true),
        .init(
            name: "server_duration", kind: .ratio,
            description: "Guardrail: mean server duration (ms) of the traces behind the unit's tag events within 72 h.",
            selector: .init(events: [], value: .serverDurationMs), denominator: .init(events: [], value: .tracedCount),
            lowerIsBetter: true),
        .init(
            name: "personalization_reward", kind: .reward,
            description: "3 when a product is added to the basket (within 24 h), 1 when a product detail page is displayed within 20 s of exposure, 0 otherwise.",
            rules: [
                .init(events: ["add_to_basket"], points: 3),
                .init(events: ["product_view"], points: 1, withinSeconds: 20),
            ], windowHours: 24),
    ]
}

/// A rule segment: units of `lake.user_features` for which `predicate` (SQL) holds.
public struct SegmentDefinition: Sendable, Hashable {
    public var name: String
    public var description: String
    public var predicate: String
    public init(name: String, description: String = "", predicate: String) {
        self.name = name
        self.description = description
        self.predicate = predicate
    }
}

/// How one experiment is analysed.
public struct ExperimentDefinition: Sendable, Hashable {
    public enum Dimension: String, Sendable, CaseIterable {
        case segment, device
    }

    public var key: String
    /// The control variant; nil means "control" when seen, else the first variant by name.
    public var control: String?
    /// Expected traffic weights by variant (for the sample-ratio-mismatch check); empty means equal.
    public var weights: [String: Double]
    public var primaryMetrics: [String]
    public var guardrailMetrics: [String]
    /// Further metrics; when all three lists are empty every defined metric is secondary.
    public var secondaryMetrics: [String]
    public var alpha: Double
    public var dimensions: [Dimension]
    /// Days before first exposure whose metric value is the CUPED covariate; 0 turns CUPED off.
    public var cupedDays: Double
    /// The engine whose figures the experiment reports first (all three are stored).
    public var engine: Engine
    /// The Bayesian engine's prior on the effect (gbstats' default: flat).
    public var prior: GaussianPrior
    /// The sequential engine's tuning parameter (gbstats' default 5000).
    public var sequentialTuning: Double
    /// Units that saw several variants: left out (`exclude`, the default) or analysed in
    /// the first variant they saw (`first`, as GrowthBook and PostHog offer).
    public var multipleExposures: MultipleExposures
    /// Share of units that saw several variants above which the experiment is flagged.
    public var multipleExposureThreshold: Double

    public enum Engine: String, Sendable, Hashable, CaseIterable {
        case frequentist, bayesian, sequential
    }

    public enum MultipleExposures: String, Sendable, Hashable, CaseIterable {
        case exclude, first
    }

    /// What the engines take from this experiment.
    public var analysisSettings: ExperimentAnalysis.Settings {
        ExperimentAnalysis.Settings(alpha: alpha, prior: prior, sequentialTuning: sequentialTuning)
    }

    public init(
        key: String, control: String? = nil, weights: [String: Double] = [:], primaryMetrics: [String] = [],
        guardrailMetrics: [String] = [], secondaryMetrics: [String] = [], alpha: Double = 0.05,
        dimensions: [Dimension] = [], cupedDays: Double = 0, engine: Engine = .frequentist,
        prior: GaussianPrior = GaussianPrior(), sequentialTuning: Double = Engines.defaultSequentialTuning,
        multipleExposures: MultipleExposures = .exclude, multipleExposureThreshold: Double = 0.01
    ) {
        self.engine = engine
        self.prior = prior
        self.sequentialTuning = sequentialTuning
        self.multipleExposures = multipleExposures
        self.multipleExposureThreshold = multipleExposureThreshold
        self.key = key
        self.control = control
        self.weights = weights
        self.primaryMetrics = primaryMetrics
        self.guardrailMetrics = guardrailMetrics
        self.secondaryMetrics = secondaryMetrics
        self.alpha = alpha
        self.dimensions = dimensions
        self.cupedDays = cupedDays
    }
}

/// A contextual bandit whose decisions (`lake.decisions`) the `bandits` job rewards and
/// evaluates off-policy.
public struct BanditDefinition: Sendable, Hashable {
    public var key: String
    /// The first rule (in this order) that an event of the decision's unit satisfies within
    /// `rewardWindowSeconds` after the decision gives its points; none gives 0. A rule's
    /// `withinSeconds` narrows its own window.
    public var rules: [MetricDefinition.RewardRule]
    public var rewardWindowSeconds: Double

    /// The personalization reward: 3 for adding a product to the basket, 1 for a product
    /// detail page displayed within 20 s, 0 otherwise, within an hour.
    public static let defaultRules: [MetricDefinition.RewardRule] = [
        .init(events: ["add_to_basket"], points: 3),
        .init(events: ["product_view"], points: 1, withinSeconds: 20),
    ]

    public init(key: String, rules: [MetricDefinition.RewardRule] = BanditDefinition.defaultRules, rewardWindowSeconds: Double = 3600) {
        self.key = key
        self.rules = rules
        self.rewardWindowSeconds = rewardWindowSeconds
    }
}
