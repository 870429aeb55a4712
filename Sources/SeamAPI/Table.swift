import Foundation
import SeamPostgres

/// Rows of a query as JSON values (numbers as numbers, booleans, text, NULL as null), with
/// a CSV form.
struct Table {
    var columns: [String]
    var rows: [[Any]]

    init(_ result: PostgresResult) throws {
        columns = result.columnNames
        rows = try result.rows.map { row in
            try (0..<result.columnCount).map { column -> Any in
                let cell = row[column]
                if cell.isNull { return NSNull() }
                switch cell.typeOID {
                case 16: return try cell.decode(Bool.self)
                case 20, 21, 23: return try cell.decode(Int.self)
                case 700, 701, 1700:
                    // JSON has no NaN or infinity: a non-finite value is answered as null.
                    let number = try cell.decode(Double.self)
                    return number.isFinite ? number : NSNull()
                case 3802, 114:
                    let text = cell.string ?? "null"
                    return (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) ?? text
                default: return cell.string ?? ""
                }
            }
        }
    }

    /// One JSON object per row.
    var objects: [[String: Any]] {
        rows.map { Dictionary(uniqueKeysWithValues: zip(columns, $0)) }
    }

    /// Text from data that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab
    /// or carriage return first) gets a leading `'`, which spreadsheets show as text.
    /// Numbers are typed cells and never changed (a negative number stays a number).
    static func neutralized(_ text: String) -> String {
        guard let first = text.unicodeScalars.first, "=+-@\t\r".unicodeScalars.contains(first) else { return text }
        return "'" + text
    }

    /// RFC 4180 CSV with a header line.
    var csv: String {
        func field(_ value: Any) -> String {
            let text: String
            switch value {
            case is NSNull: return ""
            case let bool as Bool: text = bool ? "true" : "false"
            case let number as Double: text = "\(number)"
            case let number as Int: text = "\(number)"
            case let string as String: text = Self.neutralized(string)
            default:
                text = Self.neutralized(
                    (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) } ?? "")
            }
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        var lines = [columns.map(field).joined(separator: ",")]
        for row in rows { lines.append(row.map(field).joined(separator: ",")) }
        return lines.joined(separator: "\r\n") + "\r\n"
    }
}

/// Timestamps as RFC 3339 UTC text with microseconds, for JSON and CSV.
func rfc3339(_ column: String, as name: String? = nil) -> String {
    "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS \(name ?? column)"
}
