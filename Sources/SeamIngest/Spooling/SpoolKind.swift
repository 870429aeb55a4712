import Foundation
import SeamModel

/// What a spool frame holds (the spool's `kind` byte). Values are stored on disk: never reuse one.
public enum SpoolKind: UInt8, Sendable {
    case spans = 1
    case logs = 2
    case tagEvents = 3
}

/// Encoding of tag event records into spool frame payloads and back.
public enum TagEventFrames {
    public static func encode(_ records: [TagEventRecord]) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        return Array(try encoder.encode(records))
    }

    public static func decode(_ payload: [UInt8]) throws -> [TagEventRecord] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .secondsSince1970
        return try decoder.decode([TagEventRecord].self, from: Data(payload))
    }
}
