import Foundation
import SeamModel

/// What a spool frame holds (the spool's `kind` byte). Values are stored on disk: never reuse one.
public enum SpoolKind: UInt8, Sendable {
    case spans = 1
    case logs = 2
    case tagEvents = 3

    /// The `lake.rejected.source` of records of this kind.
    var source: String {
        switch self {
        case .spans: "traces"
        case .logs: "logs"
        case .tagEvents: "events"
        }
    }
}

