/// Work handed to a `BlockingThread` that it will not run.
public struct BlockingThreadError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable { case shutDown }
        private let base: Base
        /// The thread was shut down before the work was handed to it.
        public static let shutDown = Code(base: .shutDown)
        public var description: String {
            switch base {
            case .shutDown: "shutDown"
            }
        }
    }

    public var code: Code
    /// The thread's name.
    public var thread: String

    public var description: String { "\(thread) is shut down" }
}
