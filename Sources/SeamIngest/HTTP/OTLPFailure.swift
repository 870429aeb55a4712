import Hummingbird
import NIOCore
import SeamHTTP
import SeamOTLP
import SwiftProtobuf

/// A refused OTLP request, answered as the OTLP/HTTP specification asks: its HTTP status
/// and a `google.rpc.Status` body in the request's encoding (protobuf or JSON).
struct OTLPFailure: HTTPResponseError {
    var status: HTTPResponse.Status
    /// The `google.rpc.Code` (3 invalid argument, 8 resource exhausted, 14 unavailable,
    /// 16 unauthenticated, 7 permission denied).
    var code: Int32
    var message: String
    var encoding: OTLPEncoding
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, code: Int32? = nil, _ message: String, encoding: OTLPEncoding, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code ?? Self.code(for: status)
        self.message = message
        self.encoding = encoding
        self.headers = headers
    }

    /// The `google.rpc.Code` that goes with an HTTP status.
    static func code(for status: HTTPResponse.Status) -> Int32 {
        switch status {
        case .unauthorized: 16
        case .forbidden: 7
        case .contentTooLarge: 8
        case .serviceUnavailable, .tooManyRequests: 14
        case .internalServerError: 13
        default: 3
        }
    }

    /// A failure of an OTLP route in OTLP's form (an `HTTPFailure` keeps its status,
    /// message and headers; anything else is a 500).
    init(_ error: any Error, encoding: OTLPEncoding) {
        if let failure = error as? HTTPFailure {
            self.init(failure.status, failure.message, encoding: encoding, headers: failure.headers)
        } else {
            self.init(.internalServerError, "\(error)", encoding: encoding)
        }
    }

    func response(from request: Request, context: some RequestContext) throws -> Response { response }

    var response: Response {
        var body = RPCStatus()
        body.code = code
        body.message = message
        let bytes: [UInt8]
        switch encoding {
        case .protobuf: bytes = (try? body.serializedBytes()) ?? []
        case .json: bytes = (try? Array(body.jsonUTF8Data())) ?? []
        }
        var fields = headers
        fields[.contentType] = encoding.contentType
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// The two encodings of OTLP/HTTP.
package enum OTLPEncoding: Sendable {
    case protobuf, json

    var contentType: String { self == .protobuf ? "application/x-protobuf" : "application/json" }

    /// The request's encoding from its `Content-Type`; nil for any other type.
    init?(_ request: Request) {
        switch request.headers[.contentType]?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() {
        case "application/x-protobuf": self = .protobuf
        case "application/json": self = .json
        default: return nil
        }
    }
}
