/// A join request Seam refuses before it reaches PostgreSQL.
public struct JoinError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case emptyRange }
        private let base: Base
        /// A rebuild's time range contains no instant (`--from` is not before `--to`).
        public static let emptyRange = Code(base: .emptyRange)
        public var description: String {
            switch base {
            case .emptyRange: "emptyRange"
            }
        }
    }

    public var code: Code
    public var message: String

    public var description: String { message }
}
