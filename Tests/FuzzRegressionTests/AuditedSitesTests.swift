import Foundation
import Testing

/// The audit of traps reachable from input (issue 12): every conversion that can trap
/// (`Int(…)`, `Int64(…)`, … without `exactly:`, `clamping:`, `truncatingIfNeeded:` or
/// `bitPattern:`), force unwrap, `try!`, `as!`, `precondition` and `fatalError` in the
/// modules that handle client data is listed in `audited-sites.txt` with the reason it
/// cannot be reached by input. A new one fails this test until it is audited and listed.
@Suite("Audited trap sites")
struct AuditedSitesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modules = [
        "SeamModel", "SeamOTLP", "SeamGzip", "SeamSpool", "SeamRecords", "SeamIngest", "SeamLoader", "SeamHTTP", "SeamMetrics", "SeamJoin",
        "SeamETL", "SeamAPI", "SeamPostgres", "SeamLake",
    ]
    static let pattern = try! NSRegularExpression(
        pattern: #"(?<![\w.])(U?Int(?:8|16|32|64)?)\((?!ascii:|exactly:|clamping:|truncatingIfNeeded:|bitPattern:|littleEndian:|bigEndian:|\))|try!|as!|fatalError\(|precondition(?:Failure)?\(|(?<=[\w\)\]])!(?=[\.\)\],\s;]|$)"#)

    /// "path | code" of every site in the sources.
    static func sites() throws -> Set<String> {
        var found = Set<String>()
        for module in modules {
            let directory = root.appendingPathComponent("Sources/\(module)")
            guard let files = FileManager.default.enumerator(atPath: directory.path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") && !file.contains("Generated/") {
                let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
                for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                    var code = String(line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                    code = code.replacingOccurrences(of: #""(?:[^"\\]|\\.)*""#, with: "\"\"", options: .regularExpression)
                    let range = NSRange(code.startIndex..., in: code)
                    if pattern.firstMatch(in: code, range: range) != nil {
                        found.insert("Sources/\(module)/\(file) | \(line.trimmingCharacters(in: .whitespaces))")
                    }
                }
            }
        }
        return found
    }

    static func audited() throws -> [String: String] {
        let text = try String(contentsOf: root.appendingPathComponent("Tests/FuzzRegressionTests/audited-sites.txt"), encoding: .utf8)
        var entries: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.components(separatedBy: " | ")
            guard parts.count >= 3 else { continue }
            entries[parts[0] + " | " + parts[1...(parts.count - 2)].joined(separator: " | ")] = parts.last
        }
        return entries
    }

    @Test("every site that could trap is audited, with a reason")
    func everySiteAudited() throws {
        let sites = try Self.sites()
        let audited = try Self.audited()
        #expect(sites.count > 100, "the scan found too little; is the source tree there?")
        let unaudited = sites.subtracting(audited.keys).sorted()
        #expect(unaudited.isEmpty, "not audited (add to audited-sites.txt with the reason input cannot reach a trap):\n\(unaudited.joined(separator: "\n"))")
        let stale = Set(audited.keys).subtracting(sites).sorted()
        #expect(stale.isEmpty, "audited-sites.txt lists lines that no longer exist:\n\(stale.joined(separator: "\n"))")
        #expect(audited.values.allSatisfy { !$0.isEmpty && $0 != "TODO" })
    }
}
