import Foundation

/// A SQL statement and the values it binds, built by string interpolation: every
/// interpolated value becomes a parameter (`$1`, `$2`…) sent apart from the text, so no data
/// is ever spliced into SQL (postgres-nio's `PostgresQuery` is the model).
///
///     try c.query("SELECT count(*) FROM lake.tag_events WHERE name = \(text: name) AND occurred_at >= \(since)")
///
/// Text that must be part of the statement itself (a table or column list Seam writes, a
/// fragment of SQL) is interpolated with `unescaped:`, or as another `SQLQuery` (its
/// parameters are renumbered). Never pass client data with `unescaped:`.
public struct SQLQuery: Sendable, Hashable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public private(set) var sql: String
    public private(set) var binds: [PostgresValue]

    /// Statement text with `$n` placeholders for `binds` (for statements kept in files or
    /// written with explicit placeholders).
    public init(_ sql: String, binds: [PostgresValue] = []) {
        self.sql = sql
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        sql = value
        binds = []
    }

    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        binds = stringInterpolation.binds
    }

    public var description: String { sql }

    /// `text` as a SQL string literal, for the one place a value must be written into
    /// statement text: inside a `DO` block, which cannot take parameters.
    public static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    /// `name` as a quoted SQL identifier.
    public static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    /// `self` followed by `other` (its parameters renumbered).
    public static func + (lhs: SQLQuery, rhs: SQLQuery) -> SQLQuery {
        var interpolation = StringInterpolation(literalCapacity: 0, interpolationCount: 0)
        interpolation.appendInterpolation(lhs)
        interpolation.appendInterpolation(rhs)
        return SQLQuery(stringInterpolation: interpolation)
    }

    /// `queries` joined by `separator` (a list of SQL fragments).
    public static func joined(_ queries: [SQLQuery], separator: String) -> SQLQuery {
        var interpolation = StringInterpolation(literalCapacity: 0, interpolationCount: queries.count)
        for (index, query) in queries.enumerated() {
            if index > 0 { interpolation.appendLiteral(separator) }
            interpolation.appendInterpolation(query)
        }
        return SQLQuery(stringInterpolation: interpolation)
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [PostgresValue] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
        }

        public mutating func appendLiteral(_ literal: String) { sql += literal }

        /// A bound parameter.
        public mutating func appendInterpolation(_ value: PostgresValue) {
            binds.append(value)
            sql += "$\(binds.count)"
        }

        /// A text value. (Labelled: an unlabelled `String` does not compile, so statement
        /// text and values are never confused; statement text is `unescaped:`.)
        public mutating func appendInterpolation(text value: String?) { appendInterpolation(PostgresValue.text(value)) }
        public mutating func appendInterpolation(_ value: Int) { appendInterpolation(PostgresValue.int64(Int64(value))) }
        public mutating func appendInterpolation(_ value: Int64) { appendInterpolation(PostgresValue.int64(value)) }
        public mutating func appendInterpolation(_ value: Int64?) { appendInterpolation(value.map(PostgresValue.int64) ?? .null) }
        public mutating func appendInterpolation(_ value: Int32) { appendInterpolation(PostgresValue.int32(value)) }
        public mutating func appendInterpolation(_ value: Int16) { appendInterpolation(PostgresValue.int16(value)) }
        public mutating func appendInterpolation(_ value: Double) { appendInterpolation(PostgresValue.float64(value)) }
        public mutating func appendInterpolation(_ value: Bool) { appendInterpolation(PostgresValue.bool(value)) }
        public mutating func appendInterpolation(_ value: Date?) { appendInterpolation(PostgresValue.timestamp(value)) }
        public mutating func appendInterpolation(_ value: UUID) { appendInterpolation(PostgresValue.uuid(value)) }
        public mutating func appendInterpolation(_ value: [UInt8]) { appendInterpolation(PostgresValue.bytea(value)) }
        /// An `interval` (microsecond precision).
        public mutating func appendInterpolation(_ value: Duration) { appendInterpolation(PostgresValue.interval(value)) }
        /// A `text[]` (for `= ANY(…)`).
        public mutating func appendInterpolation(_ value: [String]) { appendInterpolation(PostgresValue.textArray(value)) }
        /// An `int4[]`.
        public mutating func appendInterpolation(_ value: [Int32]) { appendInterpolation(PostgresValue.int32Array(value)) }

        /// Statement text, not a value: identifiers and SQL fragments Seam writes itself.
        public mutating func appendInterpolation(unescaped text: String) { sql += text }

        /// An identifier (a role, schema or table name), double-quoted.
        public mutating func appendInterpolation(identifier name: String) { sql += SQLQuery.quoted(name) }

        /// Another statement fragment, its parameters renumbered after this one's.
        public mutating func appendInterpolation(_ fragment: SQLQuery) {
            sql += fragment.binds.isEmpty ? fragment.sql : Self.renumbered(fragment.sql, by: binds.count)
            binds += fragment.binds
        }

        /// `text` with every placeholder `$n` moved to `$(n + offset)`. Seam's fragments hold
        /// no dollar-quoted strings, so every `$` followed by digits is a placeholder.
        static func renumbered(_ text: String, by offset: Int) -> String {
            var out = ""
            out.reserveCapacity(text.count + 8)
            var index = text.startIndex
            while index < text.endIndex {
                let character = text[index]
                index = text.index(after: index)
                guard character == "$" else {
                    out.append(character)
                    continue
                }
                let digitsEnd = text[index...].firstIndex { !$0.isASCII || !$0.isNumber } ?? text.endIndex
                if digitsEnd > index, let number = Int(text[index..<digitsEnd]) {
                    out += "$\(number + offset)"
                    index = digitsEnd
                } else {
                    out.append(character)
                }
            }
            return out
        }
    }
}
