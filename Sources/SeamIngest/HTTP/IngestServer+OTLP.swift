import Foundation
import Hummingbird
import NIOCore
import SeamHTTP
import SeamModel
import SeamOTLP
import SeamRecords
import SeamSpool
import SwiftProtobuf

/// OTLP/HTTP: `POST /v1/traces` and `POST /v1/logs`, protobuf or JSON, optionally gzip.
extension IngestServer {
    enum Signal {
        case traces, logs

        var kind: SpoolRecord.Kind { self == .traces ? .spans : .logs }
        var label: String { self == .traces ? "traces" : "logs" }
    }

    /// Every failure of the route is thrown as `OTLPFailure` (a `google.rpc.Status` in the
    /// request's encoding).
    func postOTLP(_ request: Request, signal: Signal) async throws -> Response {
        guard let encoding = OTLPEncoding(request) else {
            let given = request.headers[.contentType] ?? "none"
            throw HTTPFailure(.unsupportedMediaType, "Content-Type must be application/x-protobuf or application/json, got \(given)")
        }
        do {
            return try await acceptOTLP(request, signal: signal, encoding: encoding)
        } catch {
            throw OTLPFailure(error, encoding: encoding)
        }
    }

    private func acceptOTLP(_ request: Request, signal: Signal, encoding: OTLPEncoding) async throws(HTTPFailure) -> Response {
        var lease = MemoryBudget.Lease(budget)
        defer { lease.release() }
        // Decoded messages take a few times the protobuf; parsed JSON many more.
        let body = try await readBody(request, lease: &lease, expansion: encoding == .json ? MemoryBudget.jsonExpansion : 2)
        let received = Self.nowMicros()
        let limits = RecordLimits(receivedMicros: received, maximumAgeMicros: otlpMaximumAgeMicros)
        // What the spool keeps: the request in protobuf, which the loader reads with the
        // judgement the acknowledgement used (`OTLPWire.judgeTraces`).
        var spooled: [UInt8] = []
        let accepted: Int
        let rejected: Int
        let message: String
        do {
            switch signal {
            case .traces where encoding == .protobuf:
                // The hot path: judged on the wire, spooled byte for byte.
                let batch = try OTLPWire.validateTraces(body, limits: limits)
                (accepted, rejected, message) = (batch.accepted, batch.rejected, batch.message)
                spooled = body
            case .traces:
                // JSON: converted to protobuf once, then judged by the same wire reader the
                // loader maps with (one judgement for every span, whatever its encoding).
                // Spooling the protobuf form is measured cheaper than spooling the JSON and
                // parsing it again at load: see "JSON traces" in docs/benchmarks.md.
                let protobuf: [UInt8] = try OTLPJSON.traces(body).serializedBytes()
                let batch = try OTLPWire.validateTraces(protobuf, limits: limits)
                (accepted, rejected, message) = (batch.accepted, batch.rejected, batch.message)
                spooled = protobuf
            case .logs:
                let export = encoding == .protobuf ? try OTLPProtobuf.decode(LogsExportRequest.self, body) : try OTLPJSON.logs(body)
                let batch = LogMapper.validate(export, limits: limits)
                (accepted, rejected, message) = (batch.accepted, batch.rejected, batch.message)
                spooled = encoding == .protobuf ? body : try export.serializedBytes()
            }
        } catch let error as OTLPDecodeError {
            throw HTTPFailure(.badRequest, "cannot decode the OTLP \(encoding == .json ? "JSON" : "protobuf") request: \(error.message)")
        } catch {
            throw HTTPFailure(.badRequest, "cannot decode the OTLP request: \(error)")
        }
        if accepted > 0 {
            try await appendToSpool(SpoolRecord(kind: signal.kind, encoding: .protobuf, receivedMicros: received, body: spooled))
        }
        metrics.accepted(signal.label, accepted)
        metrics.rejected(signal.label, reason: "invalid", rejected)
        do {
            switch signal {
            case .traces:
                var reply = TraceExportResponse()
                if rejected > 0 {
                    reply.partialSuccess.rejectedSpans = Int64(rejected)
                    reply.partialSuccess.errorMessage = message
                }
                return try respond(reply, encoding: encoding)
            case .logs:
                var reply = LogsExportResponse()
                if rejected > 0 {
                    reply.partialSuccess.rejectedLogRecords = Int64(rejected)
                    reply.partialSuccess.errorMessage = message
                }
                return try respond(reply, encoding: encoding)
            }
        } catch {
            throw HTTPFailure(.internalServerError, "cannot encode the response: \(error)")
        }
    }

    private func respond<M: SwiftProtobuf.Message>(_ message: M, encoding: OTLPEncoding) throws -> Response {
        let bytes: [UInt8] = encoding == .protobuf ? try message.serializedBytes() : Array(try message.jsonUTF8Data())
        return Response(
            status: .ok, headers: [.contentType: encoding.contentType], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func nowMicros() -> Int64 { Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()) }
}
