import Foundation

/// What the engines need of one variant for one metric: units, the (possibly CUPED-adjusted)
/// mean, the mean before adjustment (the base of relative differences) and the per-unit
/// variance, under the conventions of GrowthBook's stats engine, gbstats 0.8.0:
/// - proportion metrics: variance p(1 − p) (not the n − 1 sample variance);
/// - mean metrics (also capped, time-to-event and reward ones): the n − 1 sample variance;
/// - ratio metrics: Σy / Σx, with the delta-method variance of the per-unit ratio;
/// - CUPED: y − θ·c with θ from the two variants compared, pooled (see `pair`).
///
/// A variance of 0 or less (one unit, or every unit alike) leaves the comparison without a
/// result, as gbstats does.
public struct VariantMoments: Sendable, Equatable {
    public var n: Double
    public var mean: Double
    public var unadjustedMean: Double
    public var variance: Double

    public init(n: Double, mean: Double, unadjustedMean: Double? = nil, variance: Double) {
        self.n = n
        self.mean = mean
        self.unadjustedMean = unadjustedMean ?? mean
        self.variance = variance
    }

    /// How a metric's per-unit values are summarised.
    public enum Kind: Sendable {
        case proportion
        case mean
        case ratio
    }

    /// Mean and variance of a sample summarised by n, Σ and Σ² (proportions: Σ² = Σ).
    static func moments(_ kind: Kind, n: Double, sum: Double, sumSquares: Double) -> (mean: Double, variance: Double) {
        let mean = n == 0 ? 0 : sum / n
        switch kind {
        case .proportion: return (mean, mean * (1 - mean))
        case .mean, .ratio: return (mean, n <= 1 ? 0 : (sumSquares - sum * sum / n) / (n - 1))
        }
    }

    /// A variant without CUPED.
    public init(_ s: SufficientStatistics, kind: Kind) {
        n = s.n
        if kind == .ratio, let d = s.denominator {
            let m = Self.moments(.mean, n: s.n, sum: s.sum, sumSquares: s.sumSquares)
            let x = Self.moments(.mean, n: s.n, sum: d.sum, sumSquares: d.sumSquares)
            mean = d.sum == 0 ? 0 : s.sum / d.sum
            if x.mean == 0 || s.n <= 1 {
                variance = 0
            } else {
                let covariance = (d.crossSum - s.sum * d.sum / s.n) / (s.n - 1)
                variance = m.variance / (x.mean * x.mean) - 2 * covariance * m.mean / (x.mean * x.mean * x.mean)
                    + m.mean * m.mean * x.variance / (x.mean * x.mean * x.mean * x.mean)
            }
        } else {
            (mean, variance) = Self.moments(kind == .ratio ? .mean : kind, n: s.n, sum: s.sum, sumSquares: s.sumSquares)
        }
        unadjustedMean = mean
    }

    /// The control and the treatment, CUPED-adjusted when both have covariates (not for
    /// ratios): θ = cov(y, c) / var(c) over the two variants pooled, as gbstats' `compute_theta`
    /// (with more than two variants each pair has its own θ). When either pooled variance is
    /// 0, θ is 0 and the unadjusted statistics are used. Returns θ (nil without CUPED).
    public static func pair(
        control: SufficientStatistics, treatment: SufficientStatistics, kind: Kind
    ) -> (control: VariantMoments, treatment: VariantMoments, theta: Double?) {
        let plain = (VariantMoments(control, kind: kind), VariantMoments(treatment, kind: kind))
        guard kind != .ratio, let cc = control.covariate, let tc = treatment.covariate else { return (plain.0, plain.1, nil) }
        let n = control.n + treatment.n
        let post = moments(kind, n: n, sum: control.sum + treatment.sum, sumSquares: control.sumSquares + treatment.sumSquares)
        let pre = moments(kind, n: n, sum: cc.sum + tc.sum, sumSquares: cc.sumSquares + tc.sumSquares)
        guard pre.variance != 0, post.variance != 0 else { return (plain.0, plain.1, 0) }
        let jointCovariance = n <= 1 ? 0 : (cc.crossSum + tc.crossSum - (control.sum + treatment.sum) * (cc.sum + tc.sum) / n) / (n - 1)
        let theta = jointCovariance / pre.variance
        func adjusted(_ s: SufficientStatistics, _ c: (sum: Double, sumSquares: Double, crossSum: Double)) -> VariantMoments {
            let y = moments(kind, n: s.n, sum: s.sum, sumSquares: s.sumSquares)
            let x = moments(kind, n: s.n, sum: c.sum, sumSquares: c.sumSquares)
            let covariance = s.n <= 1 ? 0 : (c.crossSum - s.sum * c.sum / s.n) / (s.n - 1)
            return VariantMoments(
                n: s.n, mean: y.mean - theta * x.mean, unadjustedMean: y.mean,
                variance: s.n <= 1 ? 0 : y.variance + theta * theta * x.variance - 2 * theta * covariance)
        }
        return (adjusted(control, cc), adjusted(treatment, tc), theta)
    }
}

/// The difference a result is about: treatment − control, or that over the control's
/// (unadjusted) mean.
public enum DifferenceType: String, Sendable, CaseIterable {
    case absolute
    case relative
}

/// Why an engine gives no result for a comparison (gbstats' reasons, in Seam's words).
public enum EngineProblem: String, Sendable, Error {
    case noUnits = "a variant has no units"
    case notFinite = "a variant's statistics are not finite numbers (values beyond double precision)"
    case baselineZero = "the control's mean is 0, so the relative difference is not a finite number"
    case zeroVariance = "a variant's variance is 0 (a single unit, or every unit alike), so there is no interval"
}

/// A frequentist or sequential result for one difference type.
public struct FrequentistEstimate: Sendable, Equatable {
    public var estimate: Double
    public var interval: Interval
    public var pValue: Double
    /// The estimate's standard error.
    public var standardError: Double
    /// Welch–Satterthwaite degrees of freedom.
    public var degreesOfFreedom: Double
}

/// A Bayesian result for one difference type.
public struct BayesianEstimate: Sendable, Equatable {
    /// The posterior mean of the difference.
    public var expected: Double
    public var interval: Interval
    /// Posterior probability that the treatment is better (lower, for lower-is-better metrics).
    public var chanceToWin: Double
    /// Expected loss of choosing the control, and of choosing the treatment.
    public var riskControl: Double
    public var riskTreatment: Double
    public var standardDeviation: Double
}

/// A Gaussian prior on the effect (gbstats' `GaussianPrior`). Improper (flat) unless `proper`.
public struct GaussianPrior: Sendable, Hashable {
    public var mean: Double
    public var variance: Double
    public var proper: Bool
    /// Whether mean and variance are on the relative or the absolute scale.
    public var scale: DifferenceType

    public init(mean: Double = 0, variance: Double = 1, proper: Bool = false, scale: DifferenceType = .relative) {
        self.mean = mean
        self.variance = variance
        self.proper = proper
        self.scale = scale
    }
}

/// The three analyses of GrowthBook's stats engine (gbstats 0.8.0), from two variants'
/// moments: `TwoSidedTTest`, `SequentialTwoSidedTTest` and `EffectBayesianABTest`.
/// Formulas follow gbstats' definitions; where gbstats computes `1 − cdf`, Seam computes
/// the tail directly, which agrees to 1e-15 absolute and stays exact for tiny p-values.
public enum Engines {
    /// The point estimate and its variance for a difference type.
    static func difference(_ a: VariantMoments, _ b: VariantMoments, _ type: DifferenceType) -> (estimate: Double, variance: Double) {
        switch type {
        case .absolute:
            return (b.mean - a.mean, b.variance / b.n + a.variance / a.n)
        case .relative:
            let m = a.unadjustedMean
            return ((b.mean - a.mean) / m, b.variance / (m * m * b.n) + a.variance * b.unadjustedMean * b.unadjustedMean / (m * m * m * m * a.n))
        }
    }

    /// Welch–Satterthwaite degrees of freedom.
    static func degreesOfFreedom(_ a: VariantMoments, _ b: VariantMoments) -> Double {
        let sum = b.variance / b.n + a.variance / a.n
        return sum * sum / (b.variance * b.variance / (b.n * b.n * (b.n - 1)) + a.variance * a.variance / (a.n * a.n * (a.n - 1)))
    }

    static func check(_ a: VariantMoments, _ b: VariantMoments, _ type: DifferenceType) throws(EngineProblem) {
        if a.n == 0 || b.n == 0 { throw .noUnits }
        for x in [a.mean, a.unadjustedMean, a.variance, b.mean, b.unadjustedMean, b.variance] where !x.isFinite { throw .notFinite }
        if type == .relative, a.mean == 0 || a.unadjustedMean == 0 { throw .baselineZero }
        if !(a.variance > 0) || !(b.variance > 0) { throw .zeroVariance }
    }

    /// gbstats' `TwoSidedTTest`: Welch's t on the difference, Student's t quantile.
    public static func frequentist(
        control a: VariantMoments, treatment b: VariantMoments, type: DifferenceType, alpha: Double
    ) throws(EngineProblem) -> FrequentistEstimate {
        try check(a, b, type)
        let (estimate, variance) = difference(a, b, type)
        let se = variance.squareRoot()
        let df = degreesOfFreedom(a, b)
        let width = StudentT.quantile(1 - alpha / 2, df: df) * se
        return FrequentistEstimate(
            estimate: estimate, interval: Interval(estimate - width, estimate + width),
            pValue: StudentT.twoSidedPValue(estimate / se, df: df), standardError: se, degreesOfFreedom: df)
    }

    /// gbstats' default sequential tuning parameter (the sample size the confidence
    /// sequence is tightest around).
    public static let defaultSequentialTuning = 5000.0

    /// gbstats' `SequentialTwoSidedTTest`: the always-valid confidence sequence of
    /// Waudby-Smith et al. (eq. 9 of arXiv 2103.06476v7) and its p-value (eq. 155), valid
    /// however often the results are looked at.
    public static func sequential(
        control a: VariantMoments, treatment b: VariantMoments, type: DifferenceType, alpha: Double,
        tuning: Double = defaultSequentialTuning
    ) throws(EngineProblem) -> FrequentistEstimate {
        try check(a, b, type)
        let (estimate, variance) = difference(a, b, type)
        let n = a.n + b.n
        let rho = ((-2 * log(alpha) + log(-2 * log(alpha) + 1)) / tuning).squareRoot()
        let s2 = variance * n
        let nrho2 = n * rho * rho
        let width = s2.squareRoot() * (2 * (nrho2 + 1) * log((nrho2 + 1).squareRoot() / alpha) / ((n * rho) * (n * rho))).squareRoot()
        let st2 = estimate * estimate * n / variance
        let evalue = exp(rho * rho * st2 / (2 * (nrho2 + 1))) / (nrho2 + 1).squareRoot()
        return FrequentistEstimate(
            estimate: estimate, interval: Interval(estimate - width, estimate + width), pValue: min(1 / evalue, 1),
            standardError: variance.squareRoot(), degreesOfFreedom: degreesOfFreedom(a, b))
    }

    /// gbstats' `EffectBayesianABTest`: a Gaussian posterior of the effect from its normal
    /// likelihood and the prior (flat by default, so the posterior mean is the estimate).
    /// `lowerIsBetter` is gbstats' `inverse`: the chance to win is that of a decrease, and
    /// the risks swap.
    public static func bayesian(
        control a: VariantMoments, treatment b: VariantMoments, type: DifferenceType, alpha: Double,
        prior: GaussianPrior = GaussianPrior(), lowerIsBetter: Bool = false
    ) throws(EngineProblem) -> BayesianEstimate {
        try check(a, b, type)
        // The prior on the scale of the difference type.
        var priorMean = prior.mean
        var priorVariance = prior.variance
        if type == .relative && prior.scale == .absolute {
            priorMean = prior.mean / abs(a.unadjustedMean)
            priorVariance = prior.variance / (a.unadjustedMean * a.unadjustedMean)
        } else if type == .absolute && prior.scale == .relative {
            priorMean = prior.mean * abs(a.unadjustedMean)
            priorVariance = prior.variance * a.unadjustedMean * a.unadjustedMean
        }
        let (dataMean, dataVariance) = difference(a, b, type)
        let precision = 1 / dataVariance + (prior.proper ? 1 / priorVariance : 0)
        let mean = prior.proper ? (dataMean / dataVariance + priorMean / priorVariance) / precision : dataMean
        let sd = (1 / precision).squareRoot()
        let z = Normal.quantile(1 - alpha / 2)
        let win = Normal.survival(-mean / sd)  // P(effect > 0)
        let risk = risks(mean: mean, sd: sd)
        return BayesianEstimate(
            expected: mean, interval: Interval(mean - z * sd, mean + z * sd),
            chanceToWin: lowerIsBetter ? 1 - win : win,
            riskControl: lowerIsBetter ? risk.treatment : risk.control,
            riskTreatment: lowerIsBetter ? risk.control : risk.treatment, standardDeviation: sd)
    }

    /// Expected losses under N(mean, sd²), as gbstats' `get_risk`: choosing the control
    /// loses P(effect > 0)·E[effect | effect > 0]; choosing the treatment loses
    /// −P(effect < 0)·E[effect | effect < 0].
    static func risks(mean: Double, sd: Double) -> (control: Double, treatment: Double) {
        let z = mean / sd
        let density = exp(-z * z / 2) / (2 * Double.pi).squareRoot()
        let below = Normal.survival(z)  // P(effect < 0) = Φ(−z)
        let above = Normal.survival(-z)  // P(effect > 0) = Φ(z)
        // Truncated normal means: mean ∓ sd·φ(z)/P(side); a side of probability 0 adds nothing.
        let control = above == 0 ? 0 : above * (mean + sd * density / above)
        let treatment = below == 0 ? 0 : -below * (mean - sd * density / below)
        return (control, treatment)
    }
}

/// Every analysis of one treatment against the control for one metric, as stored in
/// `lake.experiment_results`: the frequentist test on the unadjusted statistics, the same on
/// the CUPED-adjusted ones when the metric has covariates, and the sequential and Bayesian
/// engines on the adjusted statistics when there are any (as gbstats does with regression
/// adjustment on), else the unadjusted ones.
public struct ExperimentAnalysis: Sendable {
    public typealias Outcome<T: Sendable> = Result<T, EngineProblem>

    public var control: VariantMoments
    public var treatment: VariantMoments
    /// CUPED's θ for this pair; nil without covariates.
    public var theta: Double?
    public var frequentist: [DifferenceType: Outcome<FrequentistEstimate>] = [:]
    /// On the CUPED-adjusted statistics; empty without covariates.
    public var cuped: [DifferenceType: Outcome<FrequentistEstimate>] = [:]
    public var sequential: [DifferenceType: Outcome<FrequentistEstimate>] = [:]
    public var bayesian: [DifferenceType: Outcome<BayesianEstimate>] = [:]

    /// The settings an experiment gives its analyses.
    public struct Settings: Sendable, Hashable {
        public var alpha: Double
        public var prior: GaussianPrior
        public var sequentialTuning: Double
        public init(alpha: Double = 0.05, prior: GaussianPrior = GaussianPrior(), sequentialTuning: Double = Engines.defaultSequentialTuning) {
            self.alpha = alpha
            self.prior = prior
            self.sequentialTuning = sequentialTuning
        }
    }

    public init(
        control: SufficientStatistics, treatment: SufficientStatistics, kind: VariantMoments.Kind, lowerIsBetter: Bool,
        settings: Settings
    ) {
        let plain = (VariantMoments(control, kind: kind), VariantMoments(treatment, kind: kind))
        let pair = VariantMoments.pair(control: control, treatment: treatment, kind: kind)
        self.control = plain.0
        self.treatment = plain.1
        theta = pair.theta
        let alpha = settings.alpha
        for type in DifferenceType.allCases {
            frequentist[type] = Result { () throws(EngineProblem) in
                try Engines.frequentist(control: plain.0, treatment: plain.1, type: type, alpha: alpha)
            }
            if pair.theta != nil {
                cuped[type] = Result { () throws(EngineProblem) in
                    try Engines.frequentist(control: pair.control, treatment: pair.treatment, type: type, alpha: alpha)
                }
            }
            sequential[type] = Result { () throws(EngineProblem) in
                try Engines.sequential(
                    control: pair.control, treatment: pair.treatment, type: type, alpha: alpha, tuning: settings.sequentialTuning)
            }
            bayesian[type] = Result { () throws(EngineProblem) in
                try Engines.bayesian(
                    control: pair.control, treatment: pair.treatment, type: type, alpha: alpha, prior: settings.prior,
                    lowerIsBetter: lowerIsBetter)
            }
        }
    }

    /// Why analyses have no result, once each (for the row's note).
    public var problems: [EngineProblem] {
        var seen: [EngineProblem] = []
        func note<T>(_ outcome: Outcome<T>?) {
            if case .failure(let problem) = outcome, !seen.contains(problem) { seen.append(problem) }
        }
        for type in DifferenceType.allCases {
            note(frequentist[type])
            note(cuped[type])
            note(sequential[type])
            note(bayesian[type])
        }
        return seen
    }
}
