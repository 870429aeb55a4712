import Foundation
import Testing

@testable import SeamETL

@Suite("Statistics of degenerate and hostile data")
struct DegenerateStatisticsTests {
    @Test(
        "control mean 0, infinite or NaN inputs never trap; each engine gives a finite result or names the reason",
        arguments: [
            ((0.0, 25.0, 100.0), (0.0, 25.0, 100.0)),  // both means 0 with variance: the revenue +5/-5 case
            ((1.0, 2.0, 50.0), (0.0, 3.0, 50.0)),  // control mean 0
            ((Double.infinity, 1.0, 10.0), (1.0, 1.0, 10.0)),
            ((Double.nan, Double.nan, 10.0), (1.0, 1.0, 10.0)),
            ((1e300, 1e300, 10.0), (-1e300, 1e300, 10.0)),
            ((2.0, 0.0, 10.0), (1.0, 0.0, 10.0)),  // no variance
            ((2.0, 1.0, 0.0), (1.0, 1.0, 10.0)),  // no units
        ])
    func engines(_ treatment: (Double, Double, Double), _ control: (Double, Double, Double)) {
        let t = VariantMoments(n: treatment.2, mean: treatment.0, variance: treatment.1)
        let c = VariantMoments(n: control.2, mean: control.0, variance: control.1)
        for type in DifferenceType.allCases {
            let outcomes: [Result<[Double], EngineProblem>] = [
                Result { () throws(EngineProblem) in
                    let r = try Engines.frequentist(control: c, treatment: t, type: type, alpha: 0.05)
                    return [r.estimate, r.interval.lowerBound, r.interval.upperBound, r.pValue]
                },
                Result { () throws(EngineProblem) in
                    let r = try Engines.sequential(control: c, treatment: t, type: type, alpha: 0.05)
                    return [r.estimate, r.interval.lowerBound, r.interval.upperBound, r.pValue]
                },
                Result { () throws(EngineProblem) in
                    let r = try Engines.bayesian(control: c, treatment: t, type: type, alpha: 0.05)
                    return [r.expected, r.interval.lowerBound, r.interval.upperBound, r.chanceToWin, r.riskControl, r.riskTreatment]
                },
            ]
            for outcome in outcomes {
                switch outcome {
                case .success(let values):
                    // Figures beyond double precision (the 1e300 case) are stored as NULL with a note.
                    #expect(
                        values.allSatisfy(\.isFinite) || [treatment.0, treatment.1, control.0, control.1].contains { abs($0) > 1e150 },
                        "\(type): \(values)")
                case .failure(let problem):
                    #expect(!problem.rawValue.isEmpty)
                    if control.0 == 0 && type == .relative { #expect(problem == .baselineZero || problem == .notFinite || problem == .noUnits) }
                }
            }
            if control.0 == 0, type == .relative {
                #expect(throws: EngineProblem.self) { try Engines.frequentist(control: c, treatment: t, type: type, alpha: 0.05) }
            }
            if treatment.1 == 0 {
                #expect(throws: EngineProblem.zeroVariance) { try Engines.bayesian(control: c, treatment: t, type: type, alpha: 0.05) }
            }
        }
    }

    @Test("sufficient statistics with a NaN sum compare without trapping and say why")
    func nanSums() {
        let a = SufficientStatistics(n: 10, sum: .nan, sumSquares: .nan, denominator: nil, covariate: nil)
        let b = SufficientStatistics(n: 10, sum: 5, sumSquares: 30, denominator: nil, covariate: nil)
        let analysis = ExperimentAnalysis(control: b, treatment: a, kind: .mean, lowerIsBetter: false, settings: .init())
        #expect(analysis.problems == [.notFinite])
    }
}
