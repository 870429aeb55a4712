import Testing

@testable import SeamETL

@Suite("Definitions digests")
struct DefinitionsDigestTests {
    static let variants = ["control", "treatment"] + (2...11).map { "v\($0)" }

    /// The same weights in dictionaries of different histories, which list them in
    /// different orders (as two processes do).
    static func configuration(capacity: Int, order: [String], weight: (String) -> Double = { _ in 1 }) -> ETLConfiguration {
        var weights = [String: Double](minimumCapacity: capacity)
        for variant in order { weights[variant] = weight(variant) }
        var configuration = ETLConfiguration()
        configuration.experiments = [ExperimentDefinition(key: "checkout", control: "control", weights: weights)]
        return configuration
    }

    @Test("experiment_results' digest does not depend on the order a dictionary lists the weights in, only on the weights")
    func weightsInAnyOrder() {
        let small = Self.configuration(capacity: 0, order: Self.variants)
        let large = Self.configuration(capacity: 256, order: Self.variants.reversed())
        // The premise: the two dictionaries list the same weights in different orders.
        #expect("\(small.experiments[0].weights)" != "\(large.experiments[0].weights)")
        #expect(small.experiments == large.experiments)
        #expect(ExperimentResultsJob(configuration: small).digest == ExperimentResultsJob(configuration: large).digest)
        let reweighted = Self.configuration(capacity: 0, order: Self.variants) { $0 == "v11" ? 2 : 1 }
        #expect(ExperimentResultsJob(configuration: reweighted).digest != ExperimentResultsJob(configuration: small).digest)
    }
}
