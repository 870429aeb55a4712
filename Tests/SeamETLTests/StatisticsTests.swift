import Foundation
import Testing

@testable import SeamETL

/// Seam's statistics against SciPy (tests/stats/scipy_reference.py) to 1e-9 relative error.
/// ops/test regenerates the reference with the SciPy it installs (SEAM_SCIPY_REFERENCE);
/// without it the committed copy is used.
@Suite("Statistics against SciPy")
struct StatisticsTests {
    static var reference: [String: Any] { ReferenceValues.load(environment: "SEAM_SCIPY_REFERENCE", fixture: "scipy-reference") }

    static func close(_ actual: Double, _ expected: Double, _ what: String) {
        ReferenceValues.close(actual, expected, what, package: "SciPy")
    }

    static func cases(_ name: String) -> [[String: Any]] { reference[name] as? [[String: Any]] ?? [] }

    @Test func referenceIsPresent() {
        #expect(Self.cases("welch").count >= 5)
        #expect(Self.cases("chisquare").count >= 5)
        #expect(Self.reference["cuped"] != nil)
    }

    @Test func welchFromSummaryStatistics() throws {
        for item in Self.cases("welch") {
            let t = item["treatment"] as! [Double]
            let c = item["control"] as! [Double]
            let result = try Engines.frequentist(
                control: VariantMoments(n: c[2], mean: c[0], variance: c[1]), treatment: VariantMoments(n: t[2], mean: t[0], variance: t[1]),
                type: .absolute, alpha: item["alpha"] as! Double)
            Self.close(result.estimate / result.standardError, item["t"] as! Double, "t")
            Self.close(result.degreesOfFreedom, item["df"] as! Double, "df")
            Self.close(result.pValue, item["p_value"] as! Double, "p")
            Self.close(result.interval.lowerBound, item["ci_low"] as! Double, "ci low")
            Self.close(result.interval.upperBound, item["ci_high"] as! Double, "ci high")
        }
    }

    @Test func studentTAndNormalQuantiles() {
        for item in Self.cases("t_quantiles") {
            let p = item["p"] as! Double
            let df = item["df"] as! Double
            Self.close(StudentT.quantile(p, df: df), item["quantile"] as! Double, "t.ppf(\(p), \(df))")
            Self.close(StudentT.survival(2, df: df), item["survival_at_2"] as! Double, "t.sf(2, \(df))")
        }
        for item in Self.cases("normal_quantiles") {
            let p = item["p"] as! Double
            Self.close(Normal.quantile(p), item["quantile"] as! Double, "norm.ppf(\(p))")
        }
    }

    @Test func chiSquareGoodnessOfFit() throws {
        for item in Self.cases("chisquare") {
            let observed = (item["observed"] as! [Double])
            let weights = item["weights"] as! [Double]
            let result = try #require(SampleRatioMismatch.test(observed: observed, expectedWeights: weights))
            Self.close(result.chiSquare, item["statistic"] as! Double, "chi2 \(observed)")
            Self.close(result.pValue, item["p_value"] as! Double, "p \(observed)")
        }
    }

    @Test func cupedMatchesRegressionAdjustedWelch() throws {
        let item = try #require(Self.reference["cuped"] as? [String: Any])
        let tx = try #require(item["treatment_covariates"] as? [Double])
        let cx = try #require(item["control_covariates"] as? [Double])
        let treatment = SufficientStatistics(values: item["treatment_values"] as! [Double], covariates: tx)
        let control = SufficientStatistics(values: item["control_values"] as! [Double], covariates: cx)
        let analysis = ExperimentAnalysis(
            control: control, treatment: treatment, kind: .mean, lowerIsBetter: false,
            settings: .init(alpha: item["alpha"] as! Double))
        guard case .success(let cuped)? = analysis.cuped[.absolute], case .success(let plain)? = analysis.frequentist[.absolute] else {
            Issue.record("no CUPED or unadjusted result")
            return
        }
        Self.close(try #require(analysis.theta), item["theta"] as! Double, "theta")
        Self.close(cuped.estimate, item["difference"] as! Double, "adjusted difference")
        Self.close(cuped.pValue, item["p_value"] as! Double, "adjusted p")
        Self.close(cuped.degreesOfFreedom, item["df"] as! Double, "adjusted df")
        Self.close(cuped.interval.lowerBound, item["ci_low"] as! Double, "adjusted ci low")
        Self.close(plain.pValue, item["unadjusted_p_value"] as! Double, "unadjusted p")
        // The covariate explains variance: the adjusted interval is narrower.
        #expect(cuped.interval.upperBound - cuped.interval.lowerBound < plain.interval.upperBound - plain.interval.lowerBound)
    }

    @Test func holmAndBenjaminiHochberg() throws {
        let item = try #require(Self.reference["adjustments"] as? [String: Any])
        let p = item["p"] as! [Double]
        for (actual, expected) in zip(PValueAdjustment.holm(p), item["holm"] as! [Double]) { Self.close(actual, expected, "holm") }
        for (actual, expected) in zip(PValueAdjustment.benjaminiHochberg(p), item["bh"] as! [Double]) { Self.close(actual, expected, "bh") }
    }

    @Test func ratioDeltaMethodMatchesLinearisation() {
        // Var(Σy/Σx) by the delta method equals the variance of the linearised values
        // (y - r·x) / mean(x), divided by n.
        let y: [Double] = [3, 0, 5, 2, 8, 1, 0, 4]
        let x: [Double] = [2, 1, 3, 2, 4, 1, 1, 3]
        let stats = SufficientStatistics(values: y, denominators: x)
        let r = y.reduce(0, +) / x.reduce(0, +)
        let meanX = x.reduce(0, +) / Double(x.count)
        let linear = zip(y, x).map { ($0 - r * $1) / meanX }
        let mean = linear.reduce(0, +) / Double(linear.count)
        let variance = linear.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(linear.count - 1)
        Self.close(stats.mean, r, "ratio")
        Self.close(stats.variance, variance, "delta variance")
    }
}
