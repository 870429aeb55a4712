/// What a variant's units add up to for one metric: enough to recompute any statistic.
public struct SufficientStatistics: Sendable, Equatable {
    /// Units with a value.
    public var n: Double
    /// Σ y (numerator for ratio metrics).
    public var sum: Double
    /// Σ y².
    public var sumSquares: Double
    /// Ratio metrics: Σ x, Σ x², Σ x·y of the denominators.
    public var denominator: (sum: Double, sumSquares: Double, crossSum: Double)?
    /// CUPED: Σ c, Σ c², Σ c·y of the pre-exposure covariate.
    public var covariate: (sum: Double, sumSquares: Double, crossSum: Double)?

    public init(
        n: Double, sum: Double, sumSquares: Double,
        denominator: (sum: Double, sumSquares: Double, crossSum: Double)? = nil,
        covariate: (sum: Double, sumSquares: Double, crossSum: Double)? = nil
    ) {
        self.n = n
        self.sum = sum
        self.sumSquares = sumSquares
        self.denominator = denominator
        self.covariate = covariate
    }

    /// Summary statistics of a sample of values (and optional denominators or covariates).
    public init(values: [Double], denominators: [Double]? = nil, covariates: [Double]? = nil) {
        n = Double(values.count)
        sum = values.reduce(0, +)
        sumSquares = values.reduce(0) { $0 + $1 * $1 }
        if let denominators {
            denominator = (
                denominators.reduce(0, +), denominators.reduce(0) { $0 + $1 * $1 },
                zip(values, denominators).reduce(0) { $0 + $1.0 * $1.1 }
            )
        }
        if let covariates {
            covariate = (
                covariates.reduce(0, +), covariates.reduce(0) { $0 + $1 * $1 },
                zip(values, covariates).reduce(0) { $0 + $1.0 * $1.1 }
            )
        }
    }

    public static func == (l: Self, r: Self) -> Bool {
        l.n == r.n && l.sum == r.sum && l.sumSquares == r.sumSquares
            && l.denominator.map { [$0.sum, $0.sumSquares, $0.crossSum] } == r.denominator.map { [$0.sum, $0.sumSquares, $0.crossSum] }
            && l.covariate.map { [$0.sum, $0.sumSquares, $0.crossSum] } == r.covariate.map { [$0.sum, $0.sumSquares, $0.crossSum] }
    }

    /// The point estimate: the mean, or Σy / Σx for ratio metrics.
    public var mean: Double {
        if let denominator { return sum / denominator.sum }
        return sum / n
    }

    /// Sample variance (n - 1) of the per-unit value; for ratios, n times the delta-method
    /// variance of Σy/Σx, so that `variance / n` is always the squared standard error.
    public var variance: Double {
        let varY = Self.sampleCovariance(n: n, sumA: sum, sumB: sum, sumAB: sumSquares)
        guard let denominator else { return varY }
        let meanY = sum / n
        let meanX = denominator.sum / n
        let varX = Self.sampleCovariance(n: n, sumA: denominator.sum, sumB: denominator.sum, sumAB: denominator.sumSquares)
        let cov = Self.sampleCovariance(n: n, sumA: sum, sumB: denominator.sum, sumAB: denominator.crossSum)
        return varY / (meanX * meanX) - 2 * meanY * cov / (meanX * meanX * meanX)
            + meanY * meanY * varX / (meanX * meanX * meanX * meanX)
    }

    static func sampleCovariance(n: Double, sumA: Double, sumB: Double, sumAB: Double) -> Double {
        guard n > 1 else { return .nan }
        return (sumAB - sumA * sumB / n) / (n - 1)
    }

    /// Adds another set of units (used to pool the variants of a slice for CUPED's theta).
    static func + (l: Self, r: Self) -> Self {
        func add(_ a: (Double, Double, Double)?, _ b: (Double, Double, Double)?) -> (sum: Double, sumSquares: Double, crossSum: Double)? {
            guard let a, let b else { return nil }
            return (a.0 + b.0, a.1 + b.1, a.2 + b.2)
        }
        return Self(
            n: l.n + r.n, sum: l.sum + r.sum, sumSquares: l.sumSquares + r.sumSquares,
            denominator: add(l.denominator, r.denominator), covariate: add(l.covariate, r.covariate))
    }
}
