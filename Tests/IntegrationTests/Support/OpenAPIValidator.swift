import DatabaseSupport
import Foundation
import Yams

/// Checks JSON responses against `schemas/openapi.yaml`: types, nullability, required and
/// declared properties, enums, arrays, `$ref`s. Enough of JSON Schema for Seam's API.
struct OpenAPIValidator {
    let document: [String: Any]

    init() throws {
        let text = try String(contentsOf: TestServer.repositoryRoot.appendingPathComponent("schemas/openapi.yaml"), encoding: .utf8)
        document = try Yams.load(yaml: text) as? [String: Any] ?? [:]
    }

    /// The JSON schema of a path's GET answer for `status`.
    func responseSchema(path: String, status: String) -> [String: Any]? {
        let paths = document["paths"] as? [String: Any]
        let operation = (paths?[path] as? [String: Any])?["get"] as? [String: Any]
        var response = (operation?["responses"] as? [String: Any])?[status] as? [String: Any]
        if let ref = response?["$ref"] as? String { response = resolve(ref) }
        let content = response?["content"] as? [String: Any]
        return (content?["application/json"] as? [String: Any])?["schema"] as? [String: Any]
    }

    func resolve(_ ref: String) -> [String: Any]? {
        var node: Any? = document
        for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] }
        return node as? [String: Any]
    }

    /// Problems of `value` against `schema`; empty when it conforms.
    func problems(_ value: Any, _ schema: [String: Any], at path: String = "$") -> [String] {
        if let ref = schema["$ref"] as? String {
            guard let target = resolve(ref) else { return ["\(path): unresolved \(ref)"] }
            return problems(value, target, at: path)
        }
        if value is NSNull {
            return schema["nullable"] as? Bool == true ? [] : ["\(path): null but not nullable"]
        }
        var found: [String] = []
        if let allowed = schema["enum"] as? [Any], !allowed.contains(where: { "\($0)" == "\(value)" }) {
            found.append("\(path): \(value) not in \(allowed)")
        }
        switch schema["type"] as? String {
        case "object":
            guard let object = value as? [String: Any] else { return ["\(path): expected an object"] }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for name in schema["required"] as? [String] ?? [] where object[name] == nil {
                found.append("\(path): missing required \(name)")
            }
            for (name, item) in object {
                guard let property = properties[name] as? [String: Any] else {
                    found.append("\(path): property \(name) is not in the schema")
                    continue
                }
                found += problems(item, property, at: "\(path).\(name)")
            }
        case "array":
            guard let array = value as? [Any] else { return ["\(path): expected an array"] }
            let items = schema["items"] as? [String: Any] ?? [:]
            for (index, item) in array.enumerated() { found += problems(item, items, at: "\(path)[\(index)]") }
        case "string":
            if !(value is String) { found.append("\(path): expected a string, got \(value)") }
        case "boolean":
            if !(value is Bool) { found.append("\(path): expected a boolean, got \(value)") }
        case "integer":
            if value is String || (value as? Double).map({ $0 != $0.rounded() }) ?? true {
                found.append("\(path): expected an integer, got \(value)")
            }
        case "number":
            if value is String || (value as? Double) == nil { found.append("\(path): expected a number, got \(value)") }
        default: break
        }
        return found
    }
}
