/// An error from PostgreSQL or from talking to it.
///
/// Server errors carry the SQLSTATE and the fields PostgreSQL sends with it, so callers
/// can react to a class of failure (`sqlState == "23505"`) and people can read what to do.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let raw: String
        /// The connection could not be opened.
        public static let connectionFailed = Code(raw: "connectionFailed")
        /// The connection broke while in use; the next use reconnects.
        public static let connectionLost = Code(raw: "connectionLost")
        /// The server rejected a statement; see `sqlState`.
        public static let server = Code(raw: "server")
        /// A value could not be decoded into the requested Swift type.
        public static let decoding = Code(raw: "decoding")
        /// The client was used incorrectly (wrong parameter, closed pool...).
        public static let misuse = Code(raw: "misuse")
        /// A migration file or the migration history is inconsistent.
        public static let migration = Code(raw: "migration")
        /// The embedded cluster could not be managed.
        public static let embeddedCluster = Code(raw: "embeddedCluster")
        public var description: String { raw }
    }

    public var code: Code
    /// Human-readable primary message.
    public var message: String
    /// Five-character SQLSTATE for server errors (`23505` unique violation, `42601` syntax error...).
    public var sqlState: String?
    public var detail: String?
    public var hint: String?
    /// The table or constraint involved, when the server names one.
    public var constraint: String?

    public init(
        code: Code, message: String, sqlState: String? = nil, detail: String? = nil,
        hint: String? = nil, constraint: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
    }

    public var description: String {
        var text = message
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let detail, !detail.isEmpty { text += "\nDETAIL: \(detail)" }
        if let hint, !hint.isEmpty { text += "\nHINT: \(hint)" }
        return text
    }

    /// True for `unique_violation` (23505).
    public var isUniqueViolation: Bool { sqlState == "23505" }
}

extension PostgresError {
    /// True when the failure says the database is unavailable or overloaded, not that the
    /// statement or its data is bad: the connection failed or broke, or SQLSTATE class 08
    /// (connection), 53 (insufficient resources), 57 (operator intervention: shutdown,
    /// cannot connect now), 58 (system error), or a serialization failure or deadlock
    /// (40001, 40P01). Retrying such a failure later can succeed; it never marks a record
    /// as poison.
    public var isOutage: Bool {
        switch code {
        case .connectionFailed, .connectionLost: return true
        case .server:
            guard let sqlState else { return true }
            return ["08", "53", "57", "58"].contains(where: sqlState.hasPrefix) || sqlState == "40001" || sqlState == "40P01"
                || sqlState == "55P03"
        default: return false
        }
    }
}

extension Error {
    /// `PostgresError.isOutage` for PostgreSQL errors; false for every other error.
    public var isDatabaseOutage: Bool { (self as? PostgresError)?.isOutage ?? false }
}
