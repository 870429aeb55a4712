/// A lake that cannot be set up for a reason outside PostgreSQL (PostgreSQL's own refusals
/// are `PostgresError`s).
public struct LakeError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case migrationsNotFound }
        private let base: Base
        /// The migrations directory is not where it was said to be, or nowhere Seam looks.
        public static let migrationsNotFound = Code(base: .migrationsNotFound)
        public var description: String {
            switch base {
            case .migrationsNotFound: "migrationsNotFound"
            }
        }
    }

    public var code: Code
    /// What is wrong and what to do about it.
    public var message: String

    public var description: String { message }
}
