import Foundation
import SeamETL
import SeamGzip
import SeamIngest
import SeamModel
import SeamOTLP
import SeamRecords
import SeamSettings
import SeamSpool

/// The fuzz targets: each takes arbitrary bytes, runs them through one of Seam's readers of
/// untrusted input, and returns nil, or a broken invariant (which the fuzzer reports as a
/// crash). A crash inside a reader is found by the fuzzer itself. `ops/fuzz` runs them
/// under libFuzzer (`seam-fuzz`); `FuzzRegressionTests` replays the committed inputs
/// under `Tests/FuzzRegressions/<target>/` with every `swift test`.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case tagEvents = "tag-events"
    case segment
    case ga4
    case otlpJSON = "otlp-json"
    case otlpProtobuf = "otlp-protobuf"
    case gzip
    case spoolFrames = "spool-frames"
    case spoolRecords = "spool-records"
    case config
    case cron

    /// Runs one input; nil when every invariant held.
    public func run(_ bytes: [UInt8]) -> String? {
        switch self {
        case .tagEvents: Self.tagEvents(bytes)
        case .segment: Self.segment(bytes)
        case .ga4: Self.ga4(bytes)
        case .otlpJSON: Self.otlpJSON(bytes)
        case .otlpProtobuf: Self.otlpProtobuf(bytes)
        case .gzip: Self.gzip(bytes)
        case .spoolFrames: Self.spoolFrames(bytes)
        case .spoolRecords: Self.spoolRecords(bytes)
        case .config: Self.config(bytes)
        case .cron: Self.cron(bytes)
        }
    }

    static let received = Date(timeIntervalSince1970: 1_795_262_400)
    static let receivedMicros: Int64 = 1_795_262_400_000_000

    /// Segment: whatever the body, a batch and each single call either refuse it whole or
    /// account for every message (accepted or refused, the refused with their bytes), and
    /// what is accepted survives the spool frames.
    static func segment(_ bytes: [UInt8]) -> String? {
        let decoder = SegmentDecoder(configuration: .init(events: .init(maximumAge: nil)))
        for call in [nil] + SegmentDecoder.Call.allCases.map(Optional.some) {
            guard let request = try? decoder.read(bytes, call: call),
                let outcome = try? decoder.decode(request, call: call, receivedAt: received, source: "fuzz")
            else { continue }
            if call != nil, outcome.accepted.count + outcome.rejected.count != 1 {
                return "a single \(call!.rawValue) call gave \(outcome.accepted.count) records and \(outcome.rejected.count) refusals"
            }
            if let problem = survivesSpool(outcome.accepted, refused: outcome.rejected.map { ($0.index, $0.reason, $0.payload) }, source: "segment") {
                return problem
            }
        }
        return nil
    }

    /// GA4: every event of the request is accepted or refused (or the request refused whole,
    /// with a validation message), and what is accepted survives the spool frames.
    static func ga4(_ bytes: [UInt8]) -> String? {
        let decoder = GA4Decoder(configuration: .init(events: .init(maximumAge: nil)))
        let outcome = decoder.decode(bytes, stream: .init(measurementID: "G-FUZZ", firebaseAppID: nil), receivedAt: received, source: "fuzz")
        if !outcome.rejected.isEmpty || !outcome.accepted.isEmpty, outcome.messages.isEmpty != outcome.rejected.isEmpty {
            return "refusals and validation messages disagree (\(outcome.rejected.count) refused, \(outcome.messages.count) messages)"
        }
        return survivesSpool(outcome.accepted, refused: outcome.rejected.map { ($0.index, $0.reason, $0.payload) }, source: "ga4")
    }

    /// Accepted records (times in range) and refused ones survive their spool records.
    static func survivesSpool(_ accepted: [TagEventRecord], refused: [(Int?, String, [UInt8])], source: String) -> String? {
        for record in accepted where !Timestamps.isAccepted(record.occurredAt) {
            return "accepted a record at \(record.occurredAt.timeIntervalSince1970) s, outside the range"
        }
        do {
            let events = try TagEventFrames.decode(TagEventFrames.encode(accepted), receivedMicros: receivedMicros)
            if events.map(\.eventID) != accepted.map(\.eventID) || events.map(\.properties) != accepted.map(\.properties) {
                return "the tag event frames changed the records"
            }
            let records = refused.map { RefusedRecord(source: source, reason: $0.1, recordIndex: $0.0, payload: $0.2) }
            if try RejectionFrames.decode(RejectionFrames.encode(records)) != records { return "the rejection frames changed the refusals" }
        } catch {
            return "records do not survive their spool frames: \(error)"
        }
        return nil
    }

    /// Tag events: every accepted event has a time in range and survives the spool frame.
    static func tagEvents(_ bytes: [UInt8]) -> String? {
        let decoder = TagEventDecoder(configuration: .init(maximumAge: nil))
        guard let batch = try? decoder.decode(bytes, receivedAt: received, source: "fuzz") else { return nil }
        for record in batch.accepted where !Timestamps.isAccepted(record.occurredAt) {
            return "accepted an event at \(record.occurredAt.timeIntervalSince1970) s, outside the range"
        }
        guard !batch.accepted.isEmpty else { return nil }
        do {
            let frame = SpoolRecord(
                kind: .tagEvents, encoding: .tagEventFrames, receivedMicros: receivedMicros, body: TagEventFrames.encode(batch.accepted)
            ).frame
            let record = try SpoolRecord.decode(frameKind: frame.kind, payload: frame.payload)
            let decoded = try TagEventFrames.decode(record.body, receivedMicros: record.receivedMicros)
            if decoded.map(\.eventID) != batch.accepted.map(\.eventID) { return "spool frame round trip changed the events" }
        } catch {
            return "accepted events do not survive the spool frame: \(error)"
        }
        return nil
    }

    /// OTLP JSON: what the acknowledgement accepts, the loader maps, one for one.
    static func otlpJSON(_ bytes: [UInt8]) -> String? {
        let limits = RecordLimits(receivedMicros: receivedMicros, maximumAgeMicros: nil)
        if let traces = try? OTLPJSON.traces(bytes), let protobuf: [UInt8] = try? traces.serializedBytes(),
            let problem = judgedEqualsMapped(protobuf, limits)
        {
            return "traces: \(problem)"
        }
        if let logs = try? OTLPJSON.logs(bytes) {
            let validated = LogMapper.validate(logs, limits: limits)
            let mapped = LogMapper.map(logs, limits: limits)
            if validated.accepted != mapped.records.count || validated.problems != mapped.problems {
                return "logs: validation accepted \(validated.accepted), mapping produced \(mapped.records.count)"
            }
        }
        return nil
    }

    /// OTLP protobuf in both modes (differential): the wire judgement of the acknowledgement
    /// and the loader's mapping agree on every request; logs likewise through swift-protobuf.
    static func otlpProtobuf(_ bytes: [UInt8]) -> String? {
        let limits = RecordLimits(receivedMicros: receivedMicros, maximumAgeMicros: nil)
        if let problem = judgedEqualsMapped(bytes, limits) { return "traces: \(problem)" }
        if let logs = try? OTLPProtobuf.decode(LogsExportRequest.self, bytes) {
            let validated = LogMapper.validate(logs, limits: limits)
            let mapped = LogMapper.map(logs, limits: limits)
            if validated.accepted != mapped.records.count { return "logs: validation and mapping disagree" }
        }
        return nil
    }

    static func judgedEqualsMapped(_ protobuf: [UInt8], _ limits: RecordLimits) -> String? {
        guard let judged = try? OTLPWire.validateTraces(protobuf, limits: limits) else { return nil }
        do {
            let mapped = try WireTraceMapper.map(protobuf, limits: limits)
            guard mapped.records.count == judged.accepted, mapped.rejected == judged.rejected else {
                return "acknowledged \(judged.accepted) spans, the loader mapped \(mapped.records.count)"
            }
            for record in mapped.records {
                guard JSONDepth.problem(Array(record.attributes.utf8)) == nil,
                    (try? JSONSerialization.jsonObject(with: Data(record.attributes.utf8))) != nil
                else { return "mapped attributes are not valid JSON: \(record.attributes.prefix(200))" }
            }
        } catch {
            return "acknowledged \(judged.accepted) spans, the loader fails: \(error)"
        }
        return nil
    }

    /// gzip: never more than the limit; a body that decodes re-decodes identically.
    static func gzip(_ bytes: [UInt8]) -> String? {
        let limit = 1 << 20
        guard let output = try? Gzip.decompress(bytes, limit: limit) else { return nil }
        if output.count > limit { return "decoded \(output.count) bytes past the limit" }
        return nil
    }

    /// Spool segments: verification (the frame reader, resynchronization after damage, the
    /// torn-tail rule) on arbitrary bytes as a segment file.
    static func spoolFrames(_ bytes: [UInt8]) -> String? {
        let directory = scratch.appendingPathComponent("spool")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let segment = directory.appendingPathComponent("00000000000000000001.seg")
        do {
            try Data(bytes).write(to: segment)
            let verification = try SpoolVerification.run(directory: directory)
            for segment in verification.segments where segment.payloadBytes < 0 || segment.bytes != UInt64(bytes.count) {
                return "verification misread the segment"
            }
        } catch {
            return "verifying a readable segment failed: \(error)"
        }
        return nil
    }

    /// Spool records: the first byte as a frame's kind, the rest as its payload, read as the
    /// loader reads them (`SpoolRecord.decode`, then the tag events' binary body). No trap;
    /// what decodes survives being written again.
    static func spoolRecords(_ bytes: [UInt8]) -> String? {
        guard let kind = bytes.first else { return nil }
        guard let record = try? SpoolRecord.decode(frameKind: kind, payload: Array(bytes.dropFirst())) else { return nil }
        let again = record.frame
        guard let reread = try? SpoolRecord.decode(frameKind: again.kind, payload: again.payload), reread == record else {
            return "a decoded spool record does not survive being written again"
        }
        guard record.kind == .tagEvents, let events = try? TagEventFrames.decode(record.body, receivedMicros: record.receivedMicros) else {
            return nil
        }
        guard let decoded = try? TagEventFrames.decode(TagEventFrames.encode(events), receivedMicros: record.receivedMicros),
            decoded.map(\.eventID) == events.map(\.eventID), decoded.map(\.clientJSON) == events.map(\.clientJSON)
        else { return "decoded tag events do not survive being written again" }
        return nil
    }

    /// seam.yaml: any file is either settings or an error naming the problem.
    static func config(_ bytes: [UInt8]) -> String? {
        let file = scratch.appendingPathComponent("seam.yaml")
        guard (try? Data(bytes).write(to: file)) != nil else { return nil }
        _ = try? Settings.resolve(options: .init(config: file.path), environment: [:])
        return nil
    }

    /// Cron expressions: a parsed expression's next time lies after the start.
    static func cron(_ bytes: [UInt8]) -> String? {
        guard let expression = try? CronExpression(String(decoding: bytes.prefix(256), as: UTF8.self)) else { return nil }
        if let next = expression.next(after: received), next <= received { return "next fire time \(next) is not after the start" }
        return nil
    }

    /// A per-process scratch directory (tmpfs when there is one: targets write files).
    static let scratch: URL = {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? URL(fileURLWithPath: "/dev/shm") : FileManager.default.temporaryDirectory
        let url = base.appendingPathComponent("seam-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()
}
