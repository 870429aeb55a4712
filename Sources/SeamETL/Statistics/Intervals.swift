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
