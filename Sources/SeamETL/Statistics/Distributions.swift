import Foundation

/// The standard normal distribution.
public enum Normal {
    /// P(Z > z).
    public static func survival(_ z: Double) -> Double { 0.5 * erfc(z / 2.0.squareRoot()) }

    /// The p-quantile, 0 < p < 1: Acklam's rational approximation refined by Halley steps on erfc.
    /// NaN outside (0, 1): never a trap, whatever statistics feed it.
    public static func quantile(_ p: Double) -> Double {
        guard p > 0 && p < 1 else { return .nan }
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
                 -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
                 -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
                 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        var x: Double
        if p < 0.02425 {
            let q = (-2 * log(p)).squareRoot()
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p > 1 - 0.02425 {
            let q = (-2 * log1p(-p)).squareRoot()
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else {
            let q = p - 0.5
            let r = q * q
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
                / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        }
        for _ in 0..<3 {
            let e = 0.5 * erfc(-x / 2.0.squareRoot()) - p
            let u = e * (2 * Double.pi).squareRoot() * exp(x * x / 2)
            x -= u / (1 + x * u / 2)
        }
        return x
    }
}

/// Student's t distribution with `df` degrees of freedom (df may be fractional, as Welch's is).
public enum StudentT {
    /// P(T > t).
    public static func survival(_ t: Double, df: Double) -> Double {
        if df.isInfinite { return Normal.survival(t) }
        let tail = 0.5 * tailBeta(t, df: df)
        return t >= 0 ? tail : 1 - tail
    }

    /// I_{df/(df+t²)}(df/2, 1/2) = P(|T| > |t|), with x's logarithms taken from t directly.
    static func tailBeta(_ t: Double, df: Double) -> Double {
        if t == 0 { return 1 }
        let ratio = t * t / df
        let logX = -log1p(ratio)
        return SpecialFunctions.incompleteBeta(
            1 / (1 + ratio), a: df / 2, b: 0.5, oneMinusX: ratio / (1 + ratio), logX: logX,
            logOneMinusX: log(ratio) + logX)
    }

    /// Two-sided p-value of a t statistic.
    public static func twoSidedPValue(_ t: Double, df: Double) -> Double {
        if df.isInfinite { return 2 * Normal.survival(abs(t)) }
        return tailBeta(t, df: df)
    }

    /// The p-quantile: Newton's method on the CDF from the normal quantile, guarded by bisection.
    /// NaN outside (0, 1) or without degrees of freedom: never a trap.
    public static func quantile(_ p: Double, df: Double) -> Double {
        guard p > 0 && p < 1, df > 0 else { return .nan }
        if df.isInfinite { return Normal.quantile(p) }
        if p == 0.5 { return 0 }
        // Solve for the upper tail and mirror: P(T > t) = 1 - p.
        let upper = p > 0.5
        let target = upper ? 1 - p : p
        var low = 0.0
        var high = 1.0
        while survival(high, df: df) > target { low = high; high *= 2 }
        var t = min(max(abs(Normal.quantile(p)), low), high)
        let logNormalizer = lgamma((df + 1) / 2) - lgamma(df / 2) - 0.5 * log(df * Double.pi)
        for _ in 0..<200 {
            let f = survival(t, df: df) - target
            if f > 0 { low = t } else { high = t }
            let density = exp(logNormalizer - (df + 1) / 2 * log1p(t * t / df))
            var next = t + f / density
            if !(next > low && next < high) { next = (low + high) / 2 }
            if abs(next - t) <= 1e-15 * max(1, abs(t)) { t = next; break }
            t = next
        }
        return upper ? t : -t
    }
}

/// The chi-square distribution.
public enum ChiSquare {
    /// P(X > x) with `df` degrees of freedom.
    public static func survival(_ x: Double, df: Double) -> Double {
        SpecialFunctions.upperIncompleteGamma(df / 2, x / 2)
    }
}
