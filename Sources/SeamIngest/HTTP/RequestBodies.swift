import Hummingbird
import NIOCore

/// Reading request bodies within a size limit.
enum RequestBodies {
    struct Failure: Error {
        var status: HTTPResponse.Status
        var reason: String
    }

    /// The whole body; 413 above `limit` bytes, 415 for a content encoding Seam does not speak.
    static func read(_ request: Request, limit: Int) async throws -> [UInt8] {
        if let encoding = request.headers[.contentEncoding]?.lowercased(), encoding != "identity" {
            throw Failure(status: .unsupportedMediaType, reason: "Content-Encoding \(encoding) is not supported here")
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw Failure(status: .contentTooLarge, reason: "body of \(length) bytes exceeds the limit of \(limit) bytes")
        }
        var buffer = ByteBuffer()
        for try await chunk in request.body {
            guard buffer.readableBytes + chunk.readableBytes <= limit else {
                throw Failure(status: .contentTooLarge, reason: "body exceeds the limit of \(limit) bytes")
            }
            var chunk = chunk
            buffer.writeBuffer(&chunk)
        }
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }
}
