import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import Logging
import SeamIngest
import SeamOTLP
import ServiceLifecycle
import SwiftProtobuf

/// OTLP/gRPC: `TraceService/Export` and `LogsService/Export` on their own port (4317 by
/// default), with the same judgement, spool and acknowledgement as OTLP/HTTP
/// (`IngestServer.acknowledgeOTLP`): an answer without error means the accepted records are
/// fsync'd; refused records are counted in `partial_success`.
///
/// Status codes follow the OTLP specification's rules for retries:
/// - `UNAUTHENTICATED` without a known ingestion token (`authorization: Bearer <token>`
///   metadata), `PERMISSION_DENIED` for a browser token;
/// - `INVALID_ARGUMENT` for a request that is not OTLP (not retryable);
/// - `UNAVAILABLE` with a `google.rpc.RetryInfo` (`grpc-status-details-bin`) when the spool is
///   full or the request memory budget is spent: retryable, after the delay given.
///
/// The request's bytes go to the same wire reader as OTLP/HTTP's protobuf body: the
/// messages are not decoded into objects first (`RawBytes`).
public struct OTLPGRPCServer: Service {
    public typealias Configuration = OTLPGRPCConfiguration

    let ingest: IngestServer
    let configuration: Configuration
    let logger: Logger
    let onListening: @Sendable (Int) async -> Void

    /// `ingest` supplies the acknowledgement, tokens and memory budget; `onListening`
    /// receives the bound port (useful with port 0).
    public init(ingest: IngestServer, configuration: Configuration, logger: Logger, onListening: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.ingest = ingest
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
    }

    public func run() async throws {
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: configuration.host, port: configuration.port), transportSecurity: .plaintext,
            config: .defaults { config in
                config.compression.enabledAlgorithms = [.gzip, .deflate]
                config.rpc.maxRequestPayloadSize = configuration.maximumMessageBytes
                // Export requests are large (hundreds of KB): larger frames and window mean
                // fewer frames and window updates per request (measured in `seam bench ingest`).
                config.http2.maxFrameSize = 1 << 20
                config.http2.targetWindowSize = 16 << 20
            })
        let server = GRPCServer(
            transport: transport, services: [OTLPExportService(ingest: ingest)],
            interceptors: [IngestTokenInterceptor(configuration: ingest.configuration)])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                let address = try await transport.listeningAddress
                let port = address.ipv4?.port ?? address.ipv6?.port ?? configuration.port
                logger.info("OTLP/gRPC listening", metadata: ["address": "\(configuration.host):\(port)"])
                await onListening(port)
            }
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }
}

/// The two Export methods, registered with the generated descriptors and a pass-through
/// deserializer.
struct OTLPExportService: RegistrableRPCService {
    let ingest: IngestServer

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        register(Opentelemetry_Proto_Collector_Trace_V1_TraceService.Method.Export.descriptor, signal: .traces, with: &router) { $0.traceResponse }
        register(Opentelemetry_Proto_Collector_Logs_V1_LogsService.Method.Export.descriptor, signal: .logs, with: &router) { $0.logsResponse }
    }

    /// One Export method: the request's bytes acknowledged as `signal`, answered with `reply`.
    private func register<Transport: ServerTransport, Reply: SwiftProtobuf.Message & Sendable>(
        _ descriptor: MethodDescriptor, signal: IngestServer.Signal, with router: inout RPCRouter<Transport>,
        reply: @escaping @Sendable (IngestServer.OTLPOutcome) -> Reply
    ) {
        let ingest = self.ingest
        router.registerHandler(forMethod: descriptor, deserializer: RawBytes(), serializer: ProtobufSerializer<Reply>()) { request, _ in
            let body = try await ServerRequest(stream: request).message
            let outcome = try await Self.acknowledge(body, signal: signal, ingest: ingest)
            return StreamingServerResponse(single: ServerResponse(message: reply(outcome)))
        }
    }

    static func acknowledge(_ body: [UInt8], signal: IngestServer.Signal, ingest: IngestServer) async throws(RPCError) -> IngestServer.OTLPOutcome {
        var lease = MemoryBudget.Lease(ingest.budget)
        defer { lease.release() }
        do {
            // The message is held already; what decoding builds from it is charged as for HTTP.
            try lease.take(body.count * 3)
        } catch {
            throw retryLater("Seam is decoding too many requests at once; retry later", ingest: ingest)
        }
        do {
            return try await ingest.acknowledgeOTLP(body, signal: signal, encoding: .protobuf)
        } catch {
            switch error {
            case .undecodable(let reason): throw RPCError(code: .invalidArgument, message: reason)
            case .spoolFull(let reason): throw retryLater(reason, ingest: ingest)
            }
        }
    }

    /// `UNAVAILABLE` with `google.rpc.RetryInfo` (the OTLP specification's retryable
    /// answer: the client waits the delay, then retries).
    static func retryLater(_ message: String, ingest: IngestServer) -> RPCError {
        let seconds = ingest.configuration.retryAfterSeconds
        return RPCError(
            code: .unavailable, message: message,
            metadata: ["grpc-status-details-bin": .binary(RetryInfo.statusDetails(code: 14, message: message, retryDelaySeconds: seconds))])
    }
}

/// A deserializer that hands the message's bytes over as they are.
struct RawBytes: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}

/// `google.rpc.Status` with one `google.rpc.RetryInfo` detail, as the bytes of
/// `grpc-status-details-bin`. Written by hand: three small messages (Status, Any, RetryInfo
/// and its Duration), field numbers from googleapis' google/rpc/status.proto and
/// error_details.proto.
enum RetryInfo {
    static func statusDetails(code: Int, message: String, retryDelaySeconds: Int) -> [UInt8] {
        var duration: [UInt8] = []
        field(1, varint: UInt64(clamping: retryDelaySeconds), into: &duration)  // Duration.seconds
        var retryInfo: [UInt8] = []
        field(1, bytes: duration, into: &retryInfo)  // RetryInfo.retry_delay
        var any: [UInt8] = []
        field(1, bytes: Array("type.googleapis.com/google.rpc.RetryInfo".utf8), into: &any)  // Any.type_url
        field(2, bytes: retryInfo, into: &any)  // Any.value
        var status: [UInt8] = []
        field(1, varint: UInt64(clamping: code), into: &status)  // Status.code
        field(2, bytes: Array(message.utf8), into: &status)  // Status.message
        field(3, bytes: any, into: &status)  // Status.details
        return status
    }

    static func varint(_ value: UInt64, into out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(truncatingIfNeeded: v))
    }

    static func field(_ number: UInt64, varint value: UInt64, into out: inout [UInt8]) {
        varint(number << 3, into: &out)
        varint(value, into: &out)
    }

    static func field(_ number: UInt64, bytes: [UInt8], into out: inout [UInt8]) {
        varint(number << 3 | 2, into: &out)
        varint(UInt64(truncatingIfNeeded: bytes.count), into: &out)
        out.append(contentsOf: bytes)
    }
}

/// Ingestion tokens on the gRPC services: `authorization: Bearer <token>` metadata (how
/// OpenTelemetry exporters send headers over gRPC). With no tokens configured every call
/// passes; browser tokens are refused, as on OTLP/HTTP.
struct IngestTokenInterceptor: ServerInterceptor {
    let configuration: IngestConfiguration

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        guard !configuration.tokens.isEmpty else { return try await next(request, context) }
        var token: String?
        for value in request.metadata[stringValues: "authorization"] {
            let parts = value.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { token = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        guard let token, configuration.tokens[token] != nil else {
            throw RPCError(code: .unauthenticated, message: "a valid ingestion token is required (metadata authorization: Bearer <token>)")
        }
        guard !configuration.browserTokens.contains(token) else {
            throw RPCError(code: .permissionDenied, message: "a browser token may post tag events only; OTLP needs a service token")
        }
        return try await next(request, context)
    }
}
