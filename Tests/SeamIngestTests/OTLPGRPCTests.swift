import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import Logging
import SeamModel
import SeamOTLP
import SeamRecords
import SeamSpool
import ServiceLifecycle
import SwiftProtobuf
import Testing

@testable import SeamGRPC
@testable import SeamIngest

/// OTLP/gRPC against a real server on a free port, with the generated client over HTTP/2:
/// what is acknowledged is in the spool, and each refusal has the status code the OTLP
/// specification gives it.
@Suite("OTLP/gRPC")
struct OTLPGRPCTests {
    static func span(_ n: UInt8, startNanos: UInt64 = UInt64(Date().timeIntervalSince1970 * 1e9)) -> Opentelemetry_Proto_Trace_V1_Span {
        var span = Opentelemetry_Proto_Trace_V1_Span()
        span.traceID = Data(repeating: n, count: 16)
        span.spanID = Data(repeating: n, count: 8)
        span.name = "GET /product/{id}"
        span.startTimeUnixNano = startNanos
        span.endTimeUnixNano = startNanos + 1_000_000
        return span
    }

    static func traces(_ spans: [Opentelemetry_Proto_Trace_V1_Span]) -> TraceExportRequest {
        var scope = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        scope.spans = spans
        var resource = Opentelemetry_Proto_Trace_V1_ResourceSpans()
        resource.scopeSpans = [scope]
        var request = TraceExportRequest()
        request.resourceSpans = [resource]
        return request
    }

    /// A server on a free port with a spool of `spoolBytes`, and a client for it.
    static func withServer(
        _ configuration: IngestConfiguration = .init(), spoolBytes: Int = 8 << 20,
        _ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, Spool) async throws -> Void
    ) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("seam-grpc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let spool = try Spool(configuration: .init(directory: directory, segmentBytes: 1 << 20, maximumBytes: spoolBytes))
        let ingest = IngestServer(
            configuration: configuration, spool: spool, databaseCheck: { nil }, events: TagEventDecoder(), logger: Logger(label: "test.grpc"))
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let server = OTLPGRPCServer(
            ingest: ingest, configuration: .init(host: "127.0.0.1", port: 0), logger: Logger(label: "test.grpc")
        ) { port in continuation.yield(port) }
        let group = ServiceGroup(services: [server], logger: Logger(label: "test"))
        let running = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        let client = GRPCClient(
            transport: try .http2NIOPosix(
                target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext,
                config: .defaults { $0.compression.enabledAlgorithms = .gzip }))
        let clientTask = Task { try await client.runConnections() }
        do {
            try await body(client, spool)
        } catch {
            client.beginGracefulShutdown()
            _ = await clientTask.result
            await group.triggerGracefulShutdown()
            _ = await running.result
            await spool.close()
            throw error
        }
        client.beginGracefulShutdown()
        _ = await clientTask.result
        await group.triggerGracefulShutdown()
        try await running.value
        await spool.close()
    }

    static func spooled(_ spool: Spool) throws -> [SpoolRecord] {
        try spool.read(from: spool.start, maximumBytes: 1 << 30).entries.compactMap { entry in
            guard case .frame(let frame) = entry else { return nil }
            return try SpoolRecord.decode(frameKind: frame.kind, payload: frame.payload)
        }
    }

    @Test("spans and logs exported over gRPC (gzip) are in the spool when acknowledged, byte for byte as sent; refused spans are counted in partial_success")
    func export() async throws {
        try await Self.withServer { client, spool in
            let traces = Opentelemetry_Proto_Collector_Trace_V1_TraceService.Client(wrapping: client)
            var bad = Self.span(9)
            bad.traceID = Data(repeating: 0, count: 16)  // an all-zero trace id is invalid
            let request = Self.traces([Self.span(1), Self.span(2), bad])
            let reply = try await traces.export(request, options: { var o = CallOptions.defaults; o.compression = .gzip; return o }())
            #expect(reply.partialSuccess.rejectedSpans == 1)
            #expect(reply.partialSuccess.errorMessage.contains("trace_id"))

            var logs = LogsExportRequest()
            var record = Opentelemetry_Proto_Logs_V1_LogRecord()
            record.timeUnixNano = UInt64(Date().timeIntervalSince1970 * 1e9)
            record.body.stringValue = "flag evaluated"
            var scope = Opentelemetry_Proto_Logs_V1_ScopeLogs()
            scope.logRecords = [record]
            var resource = Opentelemetry_Proto_Logs_V1_ResourceLogs()
            resource.scopeLogs = [scope]
            logs.resourceLogs = [resource]
            let logReply = try await Opentelemetry_Proto_Collector_Logs_V1_LogsService.Client(wrapping: client).export(logs)
            #expect(logReply.partialSuccess.rejectedLogRecords == 0)

            let records = try Self.spooled(spool)
            #expect(records.map(\.kind) == [.spans, .logs])
            let sent: [UInt8] = try request.serializedBytes()
            #expect(records[0].encoding == .protobuf && records[0].body == sent)
        }
    }

    @Test("tokens: none or an unknown one is UNAUTHENTICATED, a browser token PERMISSION_DENIED, a service token passes")
    func tokens() async throws {
        let configuration = IngestConfiguration(tokens: ["svc": "backend", "pub": "web"], browserTokens: ["pub"])
        try await Self.withServer(configuration) { client, spool in
            let traces = Opentelemetry_Proto_Collector_Trace_V1_TraceService.Client(wrapping: client)
            func code(_ token: String?) async -> RPCError.Code? {
                var metadata = Metadata()
                if let token { metadata.addString("Bearer \(token)", forKey: "authorization") }
                do {
                    _ = try await traces.export(Self.traces([Self.span(3)]), metadata: metadata)
                    return nil
                } catch let error as RPCError {
                    return error.code
                } catch {
                    return .unknown
                }
            }
            #expect(await code(nil) == .unauthenticated)
            #expect(await code("nope") == .unauthenticated)
            #expect(await code("pub") == .permissionDenied)
            #expect(await code("svc") == nil)
            let spooled = try Self.spooled(spool)
            #expect(spooled.count == 1)
        }
    }

    @Test("bytes that are not OTLP are INVALID_ARGUMENT (not retryable); a full spool is UNAVAILABLE with RetryInfo (retryable)")
    func refusals() async throws {
        try await Self.withServer(spoolBytes: 64 << 10) { client, spool in
            // Not OTLP: a field of wire type 7 does not exist.
            do {
                try await client.unary(
                    request: ClientRequest(message: [UInt8](arrayLiteral: 0x0F, 0x01)),
                    descriptor: Opentelemetry_Proto_Collector_Trace_V1_TraceService.Method.Export.descriptor,
                    serializer: RawSerializer(), deserializer: ProtobufDeserializer<TraceExportResponse>(), options: .defaults
                ) { response in _ = try response.message }
                Issue.record("garbage was accepted")
            } catch let error as RPCError {
                #expect(error.code == .invalidArgument)
            }
            let traces = Opentelemetry_Proto_Collector_Trace_V1_TraceService.Client(wrapping: client)
            var large = Self.span(4)
            // Random letters: the spool's LZ4 cannot shrink them, so the spool fills.
            let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            large.name = String((0..<40_000).map { _ in letters.randomElement()! })
            var sawFull = false
            for n in 0..<8 {
                large.spanID = Data(repeating: UInt8(n + 10), count: 8)
                do {
                    _ = try await traces.export(Self.traces([large]))
                } catch let error as RPCError {
                    #expect(error.code == .unavailable)
                    let details = try #require(error.metadata[binaryValues: "grpc-status-details-bin"].first(where: { _ in true }))
                    let status = try RPCStatus(serializedBytes: details)
                    #expect(status.code == 14 && status.message.contains("retry"))
                    #expect(status.details.first?.typeURL == "type.googleapis.com/google.rpc.RetryInfo")
                    // RetryInfo { retry_delay { seconds: 5 } }
                    #expect(status.details.first.map { Array($0.value) } == [0x0A, 0x02, 0x08, 0x05])
                    sawFull = true
                    break
                }
            }
            #expect(sawFull, "the spool never filled")
        }
    }
}

struct RawSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}
