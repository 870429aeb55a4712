import SeamModel
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
    /// Where each record is in the request, as the byte range of its message (the client's
    /// own bytes, kept with a record the lake later refuses); empty when the reader does not
    /// track it.
    public var origins: [Range<Int>] = []
    /// Each record's position among all records of the request (`records[i]` was record
    /// `indices[i]`); empty when the reader does not track it.
    public var indices: [Int] = []
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

    /// Attribute limits (the same for every request; see `AttributeLimits`).
    public var attributes: AttributeLimits

    public init(
        receivedMicros: Int64, maximumFutureMicros: Int64 = 86_400_000_000, maximumAgeMicros: Int64? = Int64(Retention.defaultDays) * 86_400_000_000,
        attributes: AttributeLimits = .init()
    ) {
        self.receivedMicros = receivedMicros
        self.maximumFutureMicros = maximumFutureMicros
        self.maximumAgeMicros = maximumAgeMicros
        self.attributes = attributes
    }

    func problem(atMicros time: Int64) -> String? {
        if time - receivedMicros > maximumFutureMicros { return "time lies more than a day in the future" }
        if let maximumAgeMicros, receivedMicros - time > maximumAgeMicros { return "older than the lake's retention" }
        return nil
    }
}

/// Bounds on attributes, the same in the acknowledgement check and the loader.
///
/// The OpenTelemetry specification lets a receiver either drop what exceeds its attribute
/// limits (and count it) or refuse; Seam refuses, so that what it stores is exactly what
/// the client sent: a span or log record that breaks a limit is refused through
/// `partial_success` with a reason naming the limit, and when a resource or scope breaks
/// one, every record under it is refused. The limits apply to every attribute list
/// (resource, scope, span, event, link, log record) and to log bodies.
public struct AttributeLimits: Sendable, Equatable {
    /// Deepest nesting of `AnyValue`s: a plain attribute value is depth 1, a value inside
    /// an array or map one deeper. Also bounds the recursion of every reader.
    public var maximumDepth: Int
    /// Most attributes in one list.
    public var maximumCount: Int
    /// Longest string or bytes value, and longest key, in bytes.
    public var maximumValueBytes: Int
    /// Longest value, in bytes, of the attributes Seam copies into key columns that the
    /// join and the ETL index and join on (`identifierKeys`), as for tag event ids.
    public var maximumIdentifierBytes: Int

    public init(maximumDepth: Int = 32, maximumCount: Int = 1024, maximumValueBytes: Int = 262_144, maximumIdentifierBytes: Int = 256) {
        self.maximumDepth = maximumDepth
        self.maximumCount = maximumCount
        self.maximumValueBytes = maximumValueBytes
        self.maximumIdentifierBytes = maximumIdentifierBytes
    }

    /// Attributes that become identifiers in the lake: sessions, users, services,
    /// experiments and their variants and units, event names.
    public static let identifierKeys: Set<String> = [
        "session.id", "enduser.id", "user.id", "service.name", "feature_flag.key", "feature_flag.result.variant",
        "feature_flag.variant", "feature_flag.context.id", "event.name",
    ]
    static let identifierKeyBytes: [[UInt8]] = identifierKeys.sorted().map { Array($0.utf8) }
}

/// Protobuf decoding of OTLP requests with swift-protobuf, with its recursion bounded: deep
/// enough for `AttributeLimits.maximumDepth` (each `AnyValue` level is up to three messages
/// deep), far below what would overflow a stack. Deeper requests are not valid OTLP for Seam.
public enum OTLPProtobuf {
    public static let messageDepthLimit = 8 + 3 * (AttributeLimits().maximumDepth + 1)

    public static func decode<M: SwiftProtobuf.Message>(_ type: M.Type, _ bytes: some Collection<UInt8>) throws(OTLPDecodeError) -> M {
        var options = BinaryDecodingOptions()
        options.messageDepthLimit = messageDepthLimit
        do {
            return try M(serializedBytes: Array(bytes), options: options)
        } catch {
            throw OTLPDecodeError("not a valid \(M.protoMessageName) (\(error)); nesting is limited to \(AttributeLimits().maximumDepth) attribute levels")
        }
    }
}
