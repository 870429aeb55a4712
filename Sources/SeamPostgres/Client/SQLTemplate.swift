/// SQL kept in `.sql` files that a reader can open and run in psql, with psql's variables:
/// `:'name'` is a value (psql quotes it as a literal; Seam binds it as a parameter) and
/// `:name` is statement text (psql substitutes it as is; Seam substitutes another SQL
/// fragment, never a value). In psql:
///
///     \set horizon '7 days'
///     \set spans 'SELECT s.* FROM lake.spans s'
///     \i Sources/SeamJoin/SQL/trace_rows.sql
///
/// Quoted strings ('…' with '' inside; not E'…' strings with backslash escapes), quoted
/// identifiers, comments and `::` casts are left alone. A file may hold several statements,
/// each ending with `;` at the end of a line (`statements`).
public struct SQLTemplate: Sendable {
    /// Where the text came from (a file name), for errors.
    public let name: String
    private let parts: [Part]

    enum Part: Sendable, Equatable {
        case text(String)
        case value(String)
        case fragment(String)
    }

    /// What a template's variables are given.
    public enum Argument: Sendable {
        /// A value, bound as a parameter (`:'name'`).
        case value(PostgresValue)
        /// Statement text (`:name`).
        case fragment(SQLQuery)
    }

    public struct MissingArgument: Error, CustomStringConvertible {
        public var template: String
        public var variable: String
        public var description: String { "\(template) needs a value for :\(variable)" }
    }

    public init(_ text: String, name: String) {
        self.name = name
        parts = Self.parse(text)
    }

    /// The variables the text uses, values and fragments.
    public var variables: Set<String> {
        Set(parts.compactMap {
            switch $0 {
            case .value(let name), .fragment(let name): name
            case .text: nil
            }
        })
    }

    /// The whole text as one statement (or script), variables substituted.
    public func render(_ arguments: [String: Argument] = [:]) throws(MissingArgument) -> SQLQuery {
        var interpolation = SQLQuery.StringInterpolation(literalCapacity: 0, interpolationCount: parts.count)
        for part in parts {
            switch part {
            case .text(let text): interpolation.appendLiteral(text)
            case .value(let variable), .fragment(let variable):
                switch arguments[variable] {
                case .value(let value)?: interpolation.appendInterpolation(value)
                case .fragment(let fragment)?: interpolation.appendInterpolation(fragment)
                case nil: throw MissingArgument(template: name, variable: variable)
                }
            }
        }
        return SQLQuery(stringInterpolation: interpolation)
    }

    /// Each statement of the text (ended by `;` at the end of a line), rendered: for a
    /// pipeline, where each statement binds its own values.
    public func statements(_ arguments: [String: Argument] = [:]) throws(MissingArgument) -> [SQLQuery] {
        var statements: [SQLTemplate] = []
        var current: [Part] = []
        for part in parts {
            guard case .text(let text) = part else {
                current.append(part)
                continue
            }
            var rest = Substring(text)
            while let end = Self.statementEnd(in: rest) {
                current.append(.text(String(rest[..<end])))
                statements.append(SQLTemplate(parts: current, name: name))
                current = []
                rest = rest[rest.index(after: end)...]
            }
            current.append(.text(String(rest)))
        }
        if current.contains(where: { if case .text(let text) = $0 { !Self.isBlank(text) } else { true } }) {
            statements.append(SQLTemplate(parts: current, name: name))
        }
        var rendered: [SQLQuery] = []
        for statement in statements { rendered.append(try statement.render(arguments)) }
        return rendered
    }

    private init(parts: [Part], name: String) {
        self.parts = parts
        self.name = name
    }

    /// A `;` that ends a line (only blanks after it) that is not a comment line. (Text
    /// parts hold quoted strings verbatim: a `;` ending a line inside one would split it;
    /// Seam's files have none.)
    private static func statementEnd(in text: Substring) -> Substring.Index? {
        var index = text.startIndex
        while let semicolon = text[index...].firstIndex(of: ";") {
            let after = text.index(after: semicolon)
            let lineRest = text[after...].prefix { $0 != "\n" }
            let lineStart = text[..<semicolon].lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex
            let isComment = text[lineStart..<semicolon].drop { $0 == " " || $0 == "\t" }.hasPrefix("--")
            if !isComment, lineRest.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { return semicolon }
            index = after
        }
        return nil
    }

    private static func isBlank(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy { line in
            let trimmed = line.trimmingPrefix(while: { $0 == " " || $0 == "\t" })
            return trimmed.isEmpty || trimmed.hasPrefix("--")
        }
    }

    /// Splits `text` into literal text and variables, skipping quoted strings, quoted
    /// identifiers, comments and `::`.
    static func parse(_ text: String) -> [Part] {
        let scalars = Array(text.unicodeScalars)
        var parts: [Part] = []
        var literal = String.UnicodeScalarView()
        var i = 0
        func isNameStart(_ c: Unicode.Scalar) -> Bool { c == "_" || (c.isASCII && c.properties.isAlphabetic) }
        func isName(_ c: Unicode.Scalar) -> Bool { isNameStart(c) || (c.isASCII && c.properties.numericType != nil) }
        func flush() {
            if !literal.isEmpty { parts.append(.text(String(literal))) }
            literal = String.UnicodeScalarView()
        }
        while i < scalars.count {
            let c = scalars[i]
            switch c {
            case "'", "\"":
                // A quoted string or identifier, doubled quotes inside.
                literal.append(c)
                i += 1
                while i < scalars.count {
                    literal.append(scalars[i])
                    if scalars[i] == c {
                        if i + 1 < scalars.count && scalars[i + 1] == c {
                            literal.append(scalars[i + 1])
                            i += 2
                            continue
                        }
                        i += 1
                        break
                    }
                    i += 1
                }
            case "-" where i + 1 < scalars.count && scalars[i + 1] == "-":
                while i < scalars.count && scalars[i] != "\n" {
                    literal.append(scalars[i])
                    i += 1
                }
            case "/" where i + 1 < scalars.count && scalars[i + 1] == "*":
                literal.append(c)
                literal.append(scalars[i + 1])
                i += 2
                while i < scalars.count && !(scalars[i] == "*" && i + 1 < scalars.count && scalars[i + 1] == "/") {
                    literal.append(scalars[i])
                    i += 1
                }
                if i < scalars.count {
                    literal.append(scalars[i])
                    literal.append(scalars[i + 1])
                    i += 2
                }
            case ":" where i + 1 < scalars.count && scalars[i + 1] == ":":
                literal.append(c)
                literal.append(scalars[i + 1])
                i += 2
            case ":" where i + 2 < scalars.count && scalars[i + 1] == "'" && isNameStart(scalars[i + 2]):
                var j = i + 2
                var name = String.UnicodeScalarView()
                while j < scalars.count && isName(scalars[j]) {
                    name.append(scalars[j])
                    j += 1
                }
                if j < scalars.count && scalars[j] == "'" {
                    flush()
                    parts.append(.value(String(name)))
                    i = j + 1
                } else {
                    literal.append(c)
                    i += 1
                }
            case ":" where i + 1 < scalars.count && isNameStart(scalars[i + 1]) && !(i > 0 && scalars[i - 1] == ":"):
                var j = i + 1
                var name = String.UnicodeScalarView()
                while j < scalars.count && isName(scalars[j]) {
                    name.append(scalars[j])
                    j += 1
                }
                flush()
                parts.append(.fragment(String(name)))
                i = j
            default:
                literal.append(c)
                i += 1
            }
        }
        flush()
        return parts
    }
}
