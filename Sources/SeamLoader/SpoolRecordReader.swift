import Foundation
import SeamModel
import SeamOTLP
import SeamRecords

/// Spool records → lake rows: the loader's one reader, for every kind and encoding. Spans
/// are read straight from protobuf (`WireTraceMapper`), with the judgement the
/// acknowledgement used, so exactly the records the client was told were accepted are stored.
enum SpoolRecordReader {
    struct Rows: Sendable {
        var spans: [SpanRecord] = []
        /// Each span's message in the record's body (`spans[i]` came from `spanOrigins[i]`).
        var spanOrigins: [ArraySlice<UInt8>] = []
        var logs: [LogRecordRow] = []
        /// Each log record's message in the record's body, when the body is protobuf.
        var logOrigins: [ArraySlice<UInt8>] = []
        var events: [TagEventRecord] = []
        /// Records refused at the acknowledgement, for lake.rejected.
        var refusedAtAcknowledgement: [RefusedRecord] = []
        /// Records the loader's judgement refuses, and why (normally 0: the acknowledgement
        /// refused them already; more only for a record acknowledged under older rules).
        var refused = 0
        var refusal = ""
    }

    struct UnreadableRecord: Error, CustomStringConvertible {
        var description: String
    }

    static func read(_ record: SpoolRecord) throws -> Rows {
        var rows = Rows()
        // Structural validation only: age and future limits were applied when the request
        // was acknowledged, and must not change the outcome if the configuration changed since.
        let limits = RecordLimits(receivedMicros: record.receivedMicros, maximumFutureMicros: .max / 2, maximumAgeMicros: nil)
        switch (record.kind, record.encoding) {
        case (.spans, .protobuf), (.spans, .json):
            // The acknowledgement spools JSON traces in their protobuf form; a JSON body is
            // read the same way after conversion.
            let body: [UInt8] = record.encoding == .json ? try OTLPJSON.traces(record.body).serializedBytes() : record.body
            let batch = try WireTraceMapper.map(body, limits: limits)
            rows.spans = batch.records
            rows.spanOrigins = batch.origins.map { body[$0] }
            (rows.refused, rows.refusal) = (batch.rejected, batch.message)
        case (.logs, .protobuf), (.logs, .json):
            let request = record.encoding == .json ? try OTLPJSON.logs(record.body) : try OTLPProtobuf.decode(LogsExportRequest.self, record.body)
            let batch = LogMapper.map(request, limits: limits)
            rows.logs = batch.records
            if record.encoding == .protobuf, let ranges = try? OTLPWire.logRecordRanges(record.body),
                batch.indices.allSatisfy({ $0 < ranges.count })
            {
                rows.logOrigins = batch.indices.map { record.body[ranges[$0]] }
            }
            (rows.refused, rows.refusal) = (batch.rejected, batch.message)
        case (.tagEvents, .tagEventFrames):
            rows.events = try TagEventFrames.decode(record.body, receivedMicros: record.receivedMicros)
        case (.refused, .rejectionFrames):
            rows.refusedAtAcknowledgement = try RejectionFrames.decode(record.body)
        default:
            throw UnreadableRecord(description: "a \(record.kind) record cannot be encoded as \(record.encoding)")
        }
        return rows
    }
}

extension SpoolRecord {
    /// `receivedMicros` as a date.
    var receivedAt: Date { Date(timeIntervalSince1970: Double(receivedMicros) / 1_000_000) }
}
