import Foundation
import Testing

@testable import SeamETL

@Suite("Statistics of degenerate and hostile data")
struct DegenerateStatisticsTests {
    @Test(
        "control mean 0, infinite or NaN inputs never trap; non-finite results are reported as such",
        arguments: [
            ((0.0, 25.0, 100.0), (0.0, 25.0, 100.0)),  // both means 0 with variance: the revenue +5/-5 case
            ((1.0, 2.0, 50.0), (0.0, 3.0, 50.0)),  // control mean 0
            ((Double.infinity, 1.0, 10.0), (1.0, 1.0, 10.0)),
            ((Double.nan, Double.nan, 10.0), (1.0, 1.0, 10.0)),
            ((1e300, 1e300, 10.0), (-1e300, 1e300, 10.0)),
        ])
    func welch(_ treatment: (Double, Double, Double), _ control: (Double, Double, Double)) {
        let comparison = Comparison.welch(
            treatment: (treatment.0, treatment.1, treatment.2), control: (control.0, control.1, control.2), alpha: 0.05)
        if let comparison {
            // Reading every field is what the job does; none may trap.
            let values = [
                comparison.absoluteDifference, comparison.absoluteInterval.lowerBound, comparison.absoluteInterval.upperBound,
                comparison.relativeLift, comparison.relativeInterval.lowerBound, comparison.relativeInterval.upperBound,
                comparison.pValue, comparison.degreesOfFreedom,
            ]
            #expect(values.count == 8)
            if control.0 == 0 { #expect(!comparison.relativeLift.isFinite) }
        }
    }

    @Test("sufficient statistics with a NaN sum compare without trapping")
    func nanSums() {
        let a = SufficientStatistics(n: 10, sum: .nan, sumSquares: .nan, denominator: nil, covariate: nil)
        let b = SufficientStatistics(n: 10, sum: 5, sumSquares: 30, denominator: nil, covariate: nil)
        let comparison = Comparison.compare(treatment: a, control: b, pooled: a + b, alpha: 0.05)
        #expect(comparison == nil || !(comparison!.absoluteDifference.isFinite))
    }
}
