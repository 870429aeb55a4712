import Foundation
import Yams

/// `seam.yaml`: nested mappings whose leaf key paths are the settings' key paths.
///
/// ```yaml
/// database:
///   url: postgresql://seam@db.internal/seam
/// lake:
///   retention_days: 30
/// ```
struct ConfigFile {
    var path: String
    var values: [(keyPath: String, value: String, line: Int)]

    static func load(path: String) throws -> ConfigFile {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw SettingsError("cannot read config file \(path): \(error.localizedDescription)")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw SettingsError("\(path): not valid YAML: \(error)")
        }
        var file = ConfigFile(path: path, values: [])
        guard let root else { return file }  // empty file
        guard case .mapping = root else {
            throw SettingsError("\(path): the top level must be a mapping of settings")
        }
        try file.collect(root, prefix: "")
        return file
    }

    private mutating func collect(_ node: Node, prefix: String) throws {
        guard let mapping = node.mapping else { return }
        for (key, value) in mapping {
            guard let name = key.string else {
                throw SettingsError("\(path):\(line(key)): keys must be strings")
            }
            let keyPath = prefix.isEmpty ? name : "\(prefix).\(name)"
            // Metric, segment and experiment definitions: ETLDefinitionsFile reads them.
            if prefix.isEmpty, ETLDefinitionsFile.sections.contains(name) { continue }
            switch value {
            case .mapping:
                guard Settings.keyPaths.contains(where: { $0.hasPrefix(keyPath + ".") }) else {
                    throw SettingsError("\(path):\(line(key)): unknown section \(keyPath)")
                }
                try collect(value, prefix: keyPath)
            case .scalar(let scalar) where ["", "~", "null"].contains(scalar.string) && scalar.style == .plain:
                // An empty section or setting (everything under it commented out): nothing to set.
                guard Settings.keyPaths.contains(where: { $0 == keyPath || $0.hasPrefix(keyPath + ".") }) else {
                    throw SettingsError("\(path):\(line(key)): unknown setting \(keyPath)")
                }
            case .scalar(let scalar):
                guard Settings.keyPaths.contains(keyPath) else {
                    throw SettingsError(
                        "\(path):\(line(key)): unknown setting \(keyPath) (known: \(Settings.keyPaths.joined(separator: ", ")))")
                }
                values.append((keyPath, scalar.string, line(key)))
            case .sequence, .alias:
                throw SettingsError("\(path):\(line(key)): \(keyPath) must be a single value")
            }
        }
    }

    private func line(_ node: Node) -> Int { (node.mark?.line ?? 0) }

    func apply(to settings: inout Settings) throws {
        for (keyPath, value, line) in values {
            try settings.set(keyPath, to: value, source: "\(path):\(line)")
        }
    }
}
