import Foundation
import Testing

/// Reference values computed by another statistics package (SciPy, gbstats): the file an
/// environment variable names (ops/test regenerates it with the package it installs), or
/// the committed copy under Fixtures.
enum ReferenceValues {
    static func load(environment variable: String, fixture: String) -> [String: Any] {
        let url = ProcessInfo.processInfo.environment[variable].map { URL(fileURLWithPath: $0) }
            ?? Bundle.module.url(forResource: fixture, withExtension: "json", subdirectory: "Fixtures")!
        return (try? JSONSerialization.jsonObject(with: Data(contentsOf: url))) as? [String: Any] ?? [:]
    }

    /// Equal to 1e-9 relative error; below 1e-15 absolute the two agree to what `1 − cdf` in
    /// double precision can say (how both packages compute tail probabilities).
    static func close(_ actual: Double, _ expected: Double, _ what: String, package: String) {
        let scale = max(abs(expected), 1e-300)
        #expect(abs(actual - expected) / scale <= 1e-9 || abs(actual - expected) < 1e-15, "\(what): Seam \(actual), \(package) \(expected)")
    }
}
