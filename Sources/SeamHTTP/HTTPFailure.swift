import Foundation
import Hummingbird
import NIOCore

/// A request Seam refuses, with the status that says why and a message a person can act
/// on (naming the field or parameter). Rendered as `{"error": message}`; both HTTP servers
/// (ingestion and the read API) answer their failures with it.
public struct HTTPFailure: HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var message: String
    /// Extra headers (`WWW-Authenticate`, `Retry-After`).
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response
    }

    /// The response, for handlers that answer rather than throw.
    public var response: Response {
        var fields = headers
        fields[.contentType] = "application/json"
        let body = (try? JSONSerialization.data(withJSONObject: ["error": message], options: [.sortedKeys])) ?? Data(#"{"error":"unknown"}"#.utf8)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// `Authorization: Bearer <token>` (the scheme is case-insensitive, RFC 7235), the one
/// parser both servers use.
public enum BearerToken {
    public static func from(_ request: Request) -> String? {
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else { return nil }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

/// `GET /healthz`: 200 while the process runs. Both servers mount this one route.
public enum HealthRoute {
    public static func add(to router: Router<some RequestContext>) {
        router.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
    }
}
