import Foundation
import Testing

@testable import SeamETL

/// Seam's three engines against GrowthBook's gbstats 0.8.0 (tests/stats/gbstats_reference.py)
/// on the same sufficient statistics: every field of every comparison, both difference
/// types, to 1e-9 relative error. ops/test regenerates the reference with the gbstats it
/// installs (SEAM_GBSTATS_REFERENCE); without it the committed copy is used.
@Suite("Engines against gbstats")
struct EngineParityTests {
    static var reference: [String: Any] { ReferenceValues.load(environment: "SEAM_GBSTATS_REFERENCE", fixture: "gbstats-reference") }

    static var cases: [[String: Any]] { reference["cases"] as? [[String: Any]] ?? [] }

    static func close(_ actual: Double, _ expected: Double, _ what: String) {
        ReferenceValues.close(actual, expected, what, package: "gbstats")
    }

    static func statistics(_ variant: [String: Any]) -> SufficientStatistics {
        func triple(_ key: String) -> (Double, Double, Double)? {
            (variant[key] as? [Double]).map { ($0[0], $0[1], $0[2]) }
        }
        return SufficientStatistics(
            n: (variant["n"] as! NSNumber).doubleValue, sum: (variant["sum"] as! NSNumber).doubleValue,
            sumSquares: (variant["sum_squares"] as! NSNumber).doubleValue, denominator: triple("denominator"),
            covariate: triple("covariate"))
    }

    @Test func referenceCoversTheRequiredCases() {
        let names = Set(Self.cases.compactMap { $0["name"] as? String })
        for required in [
            "proportion", "mean", "mean capped", "ratio", "mean CUPED", "proportion CUPED", "proportion three variants",
            "mean CUPED three variants", "proportion tiny", "mean large", "mean zero-variance control",
        ] {
            #expect(names.contains(required), "the reference lacks \(required)")
        }
    }

    @Test("every engine, both difference types, every field", arguments: 0..<21)
    func parity(index: Int) throws {
        let cases = Self.cases
        try #require(index < cases.count, "the reference has \(cases.count) cases")
        let c = cases[index]
        let name = c["name"] as! String
        let kind: VariantMoments.Kind = ["proportion": .proportion, "mean": .mean, "ratio": .ratio][c["kind"] as! String]!
        let alpha = (c["alpha"] as! NSNumber).doubleValue
        let tuning = (c["tuning"] as! NSNumber).doubleValue
        let lowerIsBetter = c["lower_is_better"] as! Bool
        var prior = GaussianPrior()
        if let p = c["prior"] as? [String: Any], let g = p["gaussian"] as? [String: Any] {
            prior = GaussianPrior(
                mean: (g["mean"] as! NSNumber).doubleValue, variance: (g["variance"] as! NSNumber).doubleValue,
                proper: g["proper"] as! Bool, scale: DifferenceType(rawValue: p["type"] as! String)!)
        }
        let variants = (c["variants"] as! [[String: Any]]).map(Self.statistics)
        for comparison in c["comparisons"] as! [[String: Any]] {
            let treatment = comparison["treatment"] as! Int
            let pair = VariantMoments.pair(control: variants[0], treatment: variants[treatment], kind: kind)
            for type in DifferenceType.allCases {
                let expected = comparison[type.rawValue] as! [String: [String: Any]]
                let label = "\(name), variant \(treatment), \(type.rawValue)"
                for engine in ["frequentist", "sequential"] {
                    let reference = expected[engine]!
                    let result: FrequentistEstimate?
                    do {
                        result = try engine == "frequentist"
                            ? Engines.frequentist(control: pair.control, treatment: pair.treatment, type: type, alpha: alpha)
                            : Engines.sequential(control: pair.control, treatment: pair.treatment, type: type, alpha: alpha, tuning: tuning)
                    } catch {
                        result = nil
                    }
                    if let error = reference["error"] {
                        #expect(result == nil, "\(label) \(engine): gbstats gives no result (\(error)), Seam gave \(String(describing: result))")
                        continue
                    }
                    let r = try #require(result, "\(label) \(engine): Seam gave no result")
                    let ci = reference["ci"] as! [Double]
                    Self.close(r.estimate, (reference["expected"] as! NSNumber).doubleValue, "\(label) \(engine) estimate")
                    Self.close(r.interval.lowerBound, ci[0], "\(label) \(engine) ci low")
                    Self.close(r.interval.upperBound, ci[1], "\(label) \(engine) ci high")
                    Self.close(r.pValue, (reference["p_value"] as! NSNumber).doubleValue, "\(label) \(engine) p-value")
                }
                let reference = expected["bayesian"]!
                let bayes = try? Engines.bayesian(
                    control: pair.control, treatment: pair.treatment, type: type, alpha: alpha, prior: prior, lowerIsBetter: lowerIsBetter)
                if let error = reference["error"] {
                    #expect(bayes == nil, "\(label) bayesian: gbstats gives no result (\(error))")
                    continue
                }
                let b = try #require(bayes, "\(label) bayesian: Seam gave no result")
                let ci = reference["ci"] as! [Double]
                let risk = reference["risk"] as! [Double]
                Self.close(b.expected, (reference["expected"] as! NSNumber).doubleValue, "\(label) bayesian expected")
                Self.close(b.interval.lowerBound, ci[0], "\(label) bayesian ci low")
                Self.close(b.interval.upperBound, ci[1], "\(label) bayesian ci high")
                Self.close(b.chanceToWin, (reference["chance_to_win"] as! NSNumber).doubleValue, "\(label) chance to win")
                Self.close(b.riskControl, risk[0], "\(label) risk of the control")
                Self.close(b.riskTreatment, risk[1], "\(label) risk of the treatment")
            }
        }
    }
}
