import Foundation

/// A confidence interval. Not a `ClosedRange`: statistics of hostile or degenerate data
/// (a control mean of 0, infinite variances) give NaN or infinite bounds, and a range
/// built from them traps. Non-finite bounds are stored as NULL.
public struct Interval: Sendable, Equatable {
    public var lowerBound: Double
    public var upperBound: Double

    public init(_ lowerBound: Double, _ upperBound: Double) {
        self.lowerBound = lowerBound
        self.upperBound = upperBound
    }

    /// `center ± margin`.
    public init(center: Double, margin: Double) {
        self.init(center - margin, center + margin)
    }
}

/// A treatment variant against the control for one metric.
public struct Comparison: Sendable, Equatable {
    public var absoluteDifference: Double
    public var absoluteInterval: Interval
    public var relativeLift: Double
    public var relativeInterval: Interval
    public var degreesOfFreedom: Double
    public var tStatistic: Double
    public var pValue: Double
    /// The CUPED-adjusted comparison, when both sides have covariates.
    public var cuped: Adjusted?

    public struct Adjusted: Sendable, Equatable {
        public var theta: Double
        public var absoluteDifference: Double
        public var relativeLift: Double
        public var interval: Interval
        public var degreesOfFreedom: Double
        public var pValue: Double
    }

    /// Welch's t-test from summary statistics: mean, variance and n of each side.
    /// Returns the difference, its (1 - alpha) interval with Welch–Satterthwaite degrees of
    /// freedom, the two-sided p-value, and the relative lift with a delta-method interval
    /// (normal quantile).
    public static func welch(
        treatment: (mean: Double, variance: Double, n: Double), control: (mean: Double, variance: Double, n: Double),
        alpha: Double
    ) -> Comparison? {
        guard treatment.n > 1, control.n > 1 else { return nil }
        let vt = treatment.variance / treatment.n
        let vc = control.variance / control.n
        let se2 = vt + vc
        guard se2 > 0, se2.isFinite else { return nil }
        let se = se2.squareRoot()
        let df = se2 * se2 / (vt * vt / (treatment.n - 1) + vc * vc / (control.n - 1))
        let difference = treatment.mean - control.mean
        let t = difference / se
        let margin = StudentT.quantile(1 - alpha / 2, df: df) * se
        let lift = difference / control.mean
        let liftSE = (vt / (control.mean * control.mean)
            + treatment.mean * treatment.mean * vc / (control.mean * control.mean * control.mean * control.mean)).squareRoot()
        let z = Normal.quantile(1 - alpha / 2)
        return Comparison(
            absoluteDifference: difference, absoluteInterval: Interval(center: difference, margin: margin),
            relativeLift: lift,
            relativeInterval: Interval(center: lift, margin: z * liftSE),
            degreesOfFreedom: df, tStatistic: t, pValue: StudentT.twoSidedPValue(t, df: df), cuped: nil)
    }

    /// Compares two variants' sufficient statistics. `pooled` (all variants of the slice)
    /// gives CUPED's theta = cov(y, c) / var(c), so that each variant's adjusted values are
    /// y - theta·(c - mean c over the slice).
    public static func compare(
        treatment: SufficientStatistics, control: SufficientStatistics, pooled: SufficientStatistics, alpha: Double
    ) -> Comparison? {
        guard
            var result = welch(
                treatment: (treatment.mean, treatment.variance, treatment.n),
                control: (control.mean, control.variance, control.n), alpha: alpha)
        else { return nil }
        if treatment.denominator == nil, let pc = pooled.covariate, let tc = treatment.covariate, let cc = control.covariate {
            let varC = SufficientStatistics.sampleCovariance(n: pooled.n, sumA: pc.sum, sumB: pc.sum, sumAB: pc.sumSquares)
            let cov = SufficientStatistics.sampleCovariance(n: pooled.n, sumA: pooled.sum, sumB: pc.sum, sumAB: pc.crossSum)
            if varC > 0 {
                let theta = cov / varC
                let grandMean = pc.sum / pooled.n
                func adjusted(_ s: SufficientStatistics, _ c: (sum: Double, sumSquares: Double, crossSum: Double)) -> (Double, Double, Double) {
                    let varY = s.variance
                    let varCv = SufficientStatistics.sampleCovariance(n: s.n, sumA: c.sum, sumB: c.sum, sumAB: c.sumSquares)
                    let covYC = SufficientStatistics.sampleCovariance(n: s.n, sumA: s.sum, sumB: c.sum, sumAB: c.crossSum)
                    let mean = s.sum / s.n - theta * (c.sum / s.n - grandMean)
                    return (mean, varY - 2 * theta * covYC + theta * theta * varCv, s.n)
                }
                let t = adjusted(treatment, tc)
                let c = adjusted(control, cc)
                if let welch = welch(treatment: t, control: c, alpha: alpha) {
                    result.cuped = Adjusted(
                        theta: theta, absoluteDifference: welch.absoluteDifference,
                        relativeLift: welch.absoluteDifference / control.mean, interval: welch.absoluteInterval,
                        degreesOfFreedom: welch.degreesOfFreedom, pValue: welch.pValue)
                }
            }
        }
        return result
    }
}

/// Multiple-comparison adjustments of a family of p-values (same order in, same order out).
public enum PValueAdjustment {
    /// Holm's step-down adjustment (controls the family-wise error rate).
    public static func holm(_ p: [Double]) -> [Double] {
        let m = p.count
        let order = p.indices.sorted { p[$0] < p[$1] }
        var adjusted = [Double](repeating: 0, count: m)
        var running = 0.0
        for (rank, index) in order.enumerated() {
            running = max(running, min(1, Double(m - rank) * p[index]))
            adjusted[index] = running
        }
        return adjusted
    }

    /// Benjamini–Hochberg step-up adjustment (controls the false discovery rate).
    public static func benjaminiHochberg(_ p: [Double]) -> [Double] {
        let m = p.count
        let order = p.indices.sorted { p[$0] < p[$1] }
        var adjusted = [Double](repeating: 0, count: m)
        var running = 1.0
        for rank in stride(from: m - 1, through: 0, by: -1) {
            let index = order[rank]
            running = min(running, Double(m) * p[index] / Double(rank + 1))
            adjusted[index] = running
        }
        return adjusted
    }
}

/// The sample-ratio-mismatch check: units per variant against the expected weights.
public enum SampleRatioMismatch {
    /// Chi-square goodness of fit; nil with fewer than two variants or no units.
    public static func test(observed: [Double], expectedWeights: [Double]) -> (chiSquare: Double, pValue: Double)? {
        guard observed.count >= 2, observed.count == expectedWeights.count else { return nil }
        let total = observed.reduce(0, +)
        let weightTotal = expectedWeights.reduce(0, +)
        guard total > 0, weightTotal > 0 else { return nil }
        var chi = 0.0
        for (o, w) in zip(observed, expectedWeights) {
            let e = total * w / weightTotal
            guard e > 0 else { return nil }
            chi += (o - e) * (o - e) / e
        }
        return (chi, ChiSquare.survival(chi, df: Double(observed.count - 1)))
    }

    /// Below this p-value the split is flagged.
    public static let threshold = 0.001
}
