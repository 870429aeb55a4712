/// A loader failure that is not PostgreSQL's.
public struct LoaderError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case invalidProgress }
        private let base: Base
        /// `seam_meta.spool_progress` holds a position no spool can have.
        public static let invalidProgress = Code(base: .invalidProgress)
        public var description: String {
            switch base {
            case .invalidProgress: "invalidProgress"
            }
        }
    }

    public var code: Code
    public var message: String

    public var description: String { message }
}
