import Foundation
import SeamModel

/// What a spool frame holds (the spool's `kind` byte). Values are stored on disk: never reuse one.
public enum SpoolKind: UInt8, Sendable {
    case spans = 1
    case logs = 2
    case tagEvents = 3
}

