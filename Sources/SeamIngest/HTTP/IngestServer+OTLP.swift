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
        var recordName: String { self == .traces ? "spans" : "log records" }
    }

    enum Encoding {
        case protobuf, json

        var contentType: String { self == .protobuf ? "application/x-protobuf" : "application/json" }
    }

    func postOTLP(_ request: Request, signal: Signal) async -> Response {
        let contentType = request.headers[.contentType]?.split(separator: ";").first?
            .trimmingCharacters(in: .whitespaces).lowercased()
        let encoding: Encoding
        switch contentType {
        case "application/x-protobuf": encoding = .protobuf
        case "application/json": encoding = .json
        default:
            return HTTPFailure(
                .unsupportedMediaType, "Content-Type must be application/x-protobuf or application/json, got \(contentType ?? "none")").response
        }
        if case .failure(let failure) = authenticate(request, browser: false) {
            return status(failure.status, code: failure.status == .forbidden ? 7 : 16, failure.message, encoding: encoding)
        }
        var lease = MemoryBudget.Lease(budget)
        defer { lease.release() }
        let body: [UInt8]
        do {
            body = try await RequestBodies.read(
                request, limit: configuration.maximumBodyBytes, lease: &lease, timeout: .seconds(configuration.bodyTimeoutSeconds))
            // Decoded messages take a few times the protobuf; parsed JSON many more.
            try lease.take(body.count * (encoding == .json ? MemoryBudget.jsonExpansion : 2))
        } catch let error as RequestBodies.Failure {
            let code: Int32 = error.status == .contentTooLarge ? 8 : error.retry ? 14 : 3
            let response = status(error.status, code: code, error.reason, encoding: encoding)
            return error.retry ? retryLater(response) : response
        } catch {
            return status(.badRequest, code: 3, "cannot read the request body: \(error)", encoding: encoding)
        }

        let received = Self.nowMicros()
        let limits = RecordLimits(receivedMicros: received, maximumAgeMicros: otlpMaximumAgeMicros)
        var spooled: [UInt8] = []
        let accepted: Int
        let rejected: Int
        let message: String
        do {
            switch signal {
            case .traces where encoding == .protobuf:
                // The hot path: validated on the wire, spooled byte for byte.
                let batch = try OTLPWire.validateTraces(body, limits: limits)
                (accepted, rejected, message) = (batch.accepted, batch.rejected, batch.message)
                if accepted > 0 { spooled = body }
            case .traces:
                // JSON: converted to protobuf, then judged by the same wire reader the
                // loader maps with (one judgement for every span, whatever its encoding).
                // Spooling the protobuf form is measured cheaper than spooling the JSON:
                // see "JSON traces" in docs/benchmarks.md.
                let protobuf: [UInt8] = try OTLPJSON.traces(body).serializedBytes()
                let batch = try OTLPWire.validateTraces(protobuf, limits: limits)
                (accepted, rejected, message) = (batch.accepted, batch.rejected, batch.message)
                if accepted > 0 { spooled = protobuf }
            case .logs:
                let export = try decode(LogsExportRequest.self, body, encoding: encoding, json: OTLPJSON.logs)
                let batch = LogMapper.validate(export, limits: limits)
                (accepted, rejected, message) = (batch.accepted, batch.rejected, batch.message)
                if accepted > 0 { spooled = encoding == .protobuf ? body : try export.serializedBytes() }
            }
        } catch let error as OTLPDecodeError {
            return status(.badRequest, code: 3, "cannot decode the OTLP \(encoding == .json ? "JSON" : "protobuf") request: \(error.message)", encoding: encoding)
        } catch {
            return status(.badRequest, code: 3, "cannot decode the OTLP request: \(error)", encoding: encoding)
        }

        let record = SpoolRecord(kind: signal.kind, encoding: .protobuf, receivedMicros: received, body: spooled)
        if accepted > 0, let problem = await appendToSpool(record) {
            return retryLater(status(.serviceUnavailable, code: 14, problem, encoding: encoding))
        }

        metrics.accepted(signal == .traces ? "traces" : "logs", accepted)
        metrics.rejected(signal == .traces ? "traces" : "logs", reason: "invalid", rejected)
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
            return HTTPFailure(.internalServerError, "cannot encode the response: \(error)").response
        }
    }

    private func decode<M: SwiftProtobuf.Message>(
        _ type: M.Type, _ body: [UInt8], encoding: Encoding, json: ([UInt8]) throws(OTLPDecodeError) -> M
    ) throws -> M {
        switch encoding {
        case .protobuf: return try OTLPProtobuf.decode(M.self, body)
        case .json: return try json(body)
        }
    }

    private func respond<M: SwiftProtobuf.Message>(_ message: M, encoding: Encoding) throws -> Response {
        let bytes: [UInt8] = encoding == .protobuf ? try message.serializedBytes() : Array(try message.jsonUTF8Data())
        return Response(
            status: .ok, headers: [.contentType: encoding.contentType], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// An error response with a `google.rpc.Status` body in the request's encoding.
    func status(_ httpStatus: HTTPResponse.Status, code: Int32, _ message: String, encoding: Encoding) -> Response {
        var status = RPCStatus()
        status.code = code
        status.message = message
        let bytes: [UInt8]
        switch encoding {
        case .protobuf: bytes = (try? status.serializedBytes()) ?? []
        case .json: bytes = (try? Array(status.jsonUTF8Data())) ?? []
        }
        return Response(status: httpStatus, headers: [.contentType: encoding.contentType], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func nowMicros() -> Int64 { Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()) }
}
