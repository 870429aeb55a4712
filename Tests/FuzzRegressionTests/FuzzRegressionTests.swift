import Foundation
import SeamFuzzing
import Testing

/// Every input under `Inputs/<target>/` (crashes the fuzzer found, once fixed, and seeds of
/// the hostile classes) runs through its fuzz target with every `swift test`.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let inputs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Inputs")

    static func files(_ target: FuzzTarget) -> [URL] {
        let directory = inputs.appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0) }
    }

    @Test("every committed input keeps its target's invariants", arguments: FuzzTarget.allCases)
    func replay(_ target: FuzzTarget) throws {
        let files = Self.files(target)
        #expect(!files.isEmpty, "no inputs for \(target.rawValue)")
        for file in files {
            let bytes = Array(try Data(contentsOf: file))
            let problem = target.run(bytes)
            #expect(problem == nil, "\(target.rawValue)/\(file.lastPathComponent): \(problem ?? "")")
        }
    }
}
