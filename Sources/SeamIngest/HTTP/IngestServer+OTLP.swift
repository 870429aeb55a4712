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
    package enum Signal: Sendable {
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
        let outcome: OTLPOutcome
        do {
            outcome = try await acknowledgeOTLP(body, signal: signal, encoding: encoding)
        } catch {
            switch error {
            case .undecodable(let reason): throw HTTPFailure(.badRequest, reason)
            case .spoolFull(let reason): throw HTTPFailure(.serviceUnavailable, reason, headers: retryAfter)
            }
        }
        do {
            switch signal {
            case .traces: return try respond(outcome.traceResponse, encoding: encoding)
            case .logs: return try respond(outcome.logsResponse, encoding: encoding)
            }
        } catch {
            throw HTTPFailure(.internalServerError, "cannot encode the response: \(error)")
        }
    }

    /// What the acknowledgement of an OTLP request gave: the counts and the reason for the
    /// refused records (OTLP's partial success).
    package struct OTLPOutcome: Sendable {
        package var accepted: Int
        package var rejected: Int
        package var message: String

        package var traceResponse: TraceExportResponse {
            var reply = TraceExportResponse()
            if rejected > 0 {
                reply.partialSuccess.rejectedSpans = Int64(truncatingIfNeeded: rejected)
                reply.partialSuccess.errorMessage = message
            }
            return reply
        }

        package var logsResponse: LogsExportResponse {
            var reply = LogsExportResponse()
            if rejected > 0 {
                reply.partialSuccess.rejectedLogRecords = Int64(truncatingIfNeeded: rejected)
                reply.partialSuccess.errorMessage = message
            }
            return reply
        }
    }

    /// Why an OTLP request was not acknowledged, whatever the transport renders of it.
    package enum OTLPRefusal: Error {
        /// The request is not OTLP (not retryable).
        case undecodable(String)
        /// The spool cannot take it now (retryable, after `retryAfterSeconds`).
        case spoolFull(String)
    }

    /// The acknowledgement of an OTLP export request, for OTLP/HTTP and OTLP/gRPC alike:
    /// every record judged, the accepted ones durable in the spool on return.
    package func acknowledgeOTLP(_ body: [UInt8], signal: Signal, encoding: OTLPEncoding) async throws(OTLPRefusal) -> OTLPOutcome {
        let received = Self.nowMicros()
        let limits = RecordLimits(receivedMicros: received, maximumAgeMicros: otlpMaximumAgeMicros)
        // What the spool keeps: the request in protobuf, which the loader reads with the
        // judgement the acknowledgement used (`OTLPWire.judgeTraces`).
        var spooled: [UInt8] = []
        let outcome: OTLPOutcome
        do {
            switch signal {
            case .traces where encoding == .protobuf:
                // The hot path: judged on the wire, spooled byte for byte.
                let batch = try OTLPWire.validateTraces(body, limits: limits)
                outcome = OTLPOutcome(accepted: batch.accepted, rejected: batch.rejected, message: batch.message)
                spooled = body
            case .traces:
                // JSON: converted to protobuf once, then judged by the same wire reader the
                // loader maps with (one judgement for every span, whatever its encoding).
                // Spooling the protobuf form is measured cheaper than spooling the JSON and
                // parsing it again at load: see "JSON traces" in docs/benchmarks.md.
                let protobuf: [UInt8] = try OTLPJSON.traces(body).serializedBytes()
                let batch = try OTLPWire.validateTraces(protobuf, limits: limits)
                outcome = OTLPOutcome(accepted: batch.accepted, rejected: batch.rejected, message: batch.message)
                spooled = protobuf
            case .logs:
                let export = encoding == .protobuf ? try OTLPProtobuf.decode(LogsExportRequest.self, body) : try OTLPJSON.logs(body)
                let batch = LogMapper.validate(export, limits: limits)
                outcome = OTLPOutcome(accepted: batch.accepted, rejected: batch.rejected, message: batch.message)
                spooled = encoding == .protobuf ? body : try export.serializedBytes()
            }
        } catch let error as OTLPDecodeError {
            throw .undecodable("cannot decode the OTLP \(encoding == .json ? "JSON" : "protobuf") request: \(error.message)")
        } catch {
            throw .undecodable("cannot decode the OTLP request: \(error)")
        }
        if outcome.accepted > 0 {
            do {
                try await appendToSpool(SpoolRecord(kind: signal.kind, encoding: .protobuf, receivedMicros: received, body: spooled))
            } catch {
                throw .spoolFull(error.message)
            }
        }
        metrics.accepted(signal.label, outcome.accepted)
        metrics.rejected(signal.label, reason: "invalid", outcome.rejected)
        return outcome
    }

    private func respond<M: SwiftProtobuf.Message>(_ message: M, encoding: OTLPEncoding) throws -> Response {
        let bytes: [UInt8] = encoding == .protobuf ? try message.serializedBytes() : Array(try message.jsonUTF8Data())
        return Response(
            status: .ok, headers: [.contentType: encoding.contentType], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func nowMicros() -> Int64 { Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()) }
}
