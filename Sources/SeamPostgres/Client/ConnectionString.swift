import CLibPQ
import Foundation

/// Reading and rewriting libpq connection strings (URIs or `key=value` lists) with libpq's
/// own parser, so every form libpq accepts works here too.
public enum ConnectionString {
    /// The keywords set in `connectionString`, e.g. `["host": "/tmp", "dbname": "seam"]`.
    public static func parse(_ connectionString: String) throws -> [String: String] {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(connectionString, &errorMessage) else {
            let message = errorMessage.map { String(cString: $0) } ?? "out of memory"
            if let errorMessage { PQfreemem(errorMessage) }
            throw PostgresError(
                code: .misuse, message: "invalid PostgreSQL connection string: \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        defer { PQconninfoFree(options) }
        var values: [String: String] = [:]
        var option = options
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { values[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        return values
    }

    /// `connectionString` with some keywords replaced, as a `key='value'` list.
    public static func replacing(_ replacements: [String: String], in connectionString: String) throws -> String {
        var values = try parse(connectionString)
        values.merge(replacements) { _, new in new }
        return values.keys.sorted().map { key in
            let escaped = values[key]!.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            return "\(key)='\(escaped)'"
        }.joined(separator: " ")
    }

    /// The connection string with any password replaced by `***`, for logs and messages.
    public static func redacted(_ connectionString: String) -> String {
        guard var values = try? parse(connectionString) else { return "(unparsable connection string)" }
        if values["password"] != nil { values["password"] = "***" }
        return values.keys.sorted().map { "\($0)=\(values[$0]!)" }.joined(separator: " ")
    }
}
