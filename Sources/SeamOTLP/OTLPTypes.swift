import SwiftProtobuf

/// Short names for the generated OTLP messages.
public typealias TraceExportRequest = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceRequest
public typealias TraceExportResponse = Opentelemetry_Proto_Collector_Trace_V1_ExportTraceServiceResponse
public typealias LogsExportRequest = Opentelemetry_Proto_Collector_Logs_V1_ExportLogsServiceRequest
public typealias LogsExportResponse = Opentelemetry_Proto_Collector_Logs_V1_ExportLogsServiceResponse
public typealias RPCStatus = Google_Rpc_Status
typealias KeyValue = Opentelemetry_Proto_Common_V1_KeyValue
typealias AnyValue = Opentelemetry_Proto_Common_V1_AnyValue

/// A request body that is not a valid OTLP export request (answered with 400).
public struct OTLPDecodeError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The records of one export request that passed validation, and what was refused.
public struct MappedBatch<Record: Sendable>: Sendable {
    public var records: [Record] = []
    /// Records that passed validation (`records.count` once mapped).
    public var accepted = 0
    /// Records refused (reported to the client as partial success).
    public var rejected = 0
    /// The first few problems, each naming the record and the reason.
    public var problems: [String] = []

    mutating func refuse(_ problem: String) {
        rejected += 1
        if problems.count < 5 { problems.append(problem) }
    }

    /// The partial-success message: the count and the first problems.
    public var message: String {
        guard rejected > 0 else { return "" }
        return "\(rejected) rejected: " + problems.joined(separator: "; ") + (rejected > problems.count ? "; …" : "")
    }
}

/// Time limits that keep records inside the lake's partitions and retention.
public struct RecordLimits: Sendable {
    /// Microseconds since 1970 when Seam received the request (`received_at`).
    public var receivedMicros: Int64
    /// Records further ahead of `receivedMicros` are refused.
    public var maximumFutureMicros: Int64
    /// Records older than this are refused (outside retention); nil: any age.
    public var maximumAgeMicros: Int64?

    public init(receivedMicros: Int64, maximumFutureMicros: Int64 = 86_400_000_000, maximumAgeMicros: Int64? = 90 * 86_400_000_000) {
        self.receivedMicros = receivedMicros
        self.maximumFutureMicros = maximumFutureMicros
        self.maximumAgeMicros = maximumAgeMicros
    }

    func problem(atMicros time: Int64) -> String? {
        if time - receivedMicros > maximumFutureMicros { return "time lies more than a day in the future" }
        if let maximumAgeMicros, receivedMicros - time > maximumAgeMicros { return "older than the lake's retention" }
        return nil
    }
}
