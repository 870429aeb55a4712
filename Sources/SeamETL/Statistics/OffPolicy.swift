import Foundation

/// Off-policy estimates of a bandit's policies from its logged decisions: what a policy would
/// have earned, from decisions another (the logging) policy took with known probabilities.
///
/// For the constant policy that always takes action a, over the n decisions where a was
/// feasible, with w = 1[logged action = a] / p(logged action):
/// - inverse propensity scoring: V = (1/n) Σ w·r, standard error √(var(w·r) / n);
/// - self-normalized IPS: V = Σ w·r / Σ w, standard error by the delta method,
///   √(Σ w²·(r − V)²) / Σ w.
/// The logged policy's value is its mean reward. Intervals are V ± z·SE (normal).
public enum OffPolicy {
    /// Sums over decisions, enough for every estimate: n, and over the decisions whose
    /// logged action is the policy's (matched), Σ w, Σ w², Σ w·r, Σ w²·r, Σ w²·r².
    public struct Sums: Sendable, Equatable {
        public var n: Double = 0
        public var matched: Double = 0
        public var w: Double = 0
        public var w2: Double = 0
        public var wr: Double = 0
        public var w2r: Double = 0
        public var w2r2: Double = 0

        public init() {}

        /// Adds one decision: its reward, the probability of its logged action, and whether
        /// that action is the evaluated policy's.
        public mutating func add(reward r: Double, probability p: Double, matches: Bool) {
            n += 1
            guard matches else { return }
            let weight = 1 / p
            matched += 1
            w += weight
            w2 += weight * weight
            wr += weight * r
            w2r += weight * weight * r
            w2r2 += weight * weight * r * r
        }
    }

    public struct Estimate: Sendable, Equatable {
        public var value: Double
        public var interval: Interval
    }

    /// Inverse propensity scoring.
    public static func ips(_ s: Sums, z: Double = 1.959963984540054) -> Estimate? {
        guard s.n > 0 else { return nil }
        let value = s.wr / s.n
        // Terms x = w·r are 0 for unmatched decisions: Σx = Σwr, Σx² = Σw²r².
        let variance = s.n > 1 ? max(0, (s.w2r2 - s.wr * s.wr / s.n) / (s.n - 1)) : 0
        let se = (variance / s.n).squareRoot()
        return Estimate(value: value, interval: Interval(value - z * se, value + z * se))
    }

    /// Self-normalized inverse propensity scoring; nil when no decision took the action.
    public static func snips(_ s: Sums, z: Double = 1.959963984540054) -> Estimate? {
        guard s.w > 0 else { return nil }
        let value = s.wr / s.w
        let spread = max(0, s.w2r2 - 2 * value * s.w2r + value * value * s.w2)
        let se = spread.squareRoot() / s.w
        return Estimate(value: value, interval: Interval(value - z * se, value + z * se))
    }

    /// The mean of `rewards` with a normal interval (the logged policy's value).
    public static func mean(count n: Double, sum: Double, sumSquares: Double, z: Double = 1.959963984540054) -> Estimate? {
        guard n > 0 else { return nil }
        let value = sum / n
        let variance = n > 1 ? max(0, (sumSquares - sum * sum / n) / (n - 1)) : 0
        let se = (variance / n).squareRoot()
        return Estimate(value: value, interval: Interval(value - z * se, value + z * se))
    }
}
