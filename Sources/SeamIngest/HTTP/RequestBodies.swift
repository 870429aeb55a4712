import Foundation
import Hummingbird
import NIOCore
import SeamGzip

/// Reading request bodies within a size limit, decompressing gzip.
enum RequestBodies {
    struct Failure: Error {
        var status: HTTPResponse.Status
        var reason: String
    }

    /// The whole body, gunzipped when `Content-Encoding: gzip`. 413 when it exceeds `limit`
    /// bytes before or after decompression (decompression stops at the limit, so a
    /// decompression bomb cannot exhaust memory); 415 for other encodings; 400 for corrupt,
    /// truncated or trailing-garbage gzip (see `Gzip`).
    static func read(_ request: Request, limit: Int) async throws -> [UInt8] {
        let encoding = request.headers[.contentEncoding]?.lowercased().trimmingCharacters(in: .whitespaces)
        guard encoding == nil || encoding == "identity" || encoding == "gzip" else {
            throw Failure(status: .unsupportedMediaType, reason: "Content-Encoding \(encoding!) is not supported (use gzip or none)")
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
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        guard encoding == "gzip" else { return bytes }
        do {
            return try Gzip.decompress(bytes, limit: limit)
        } catch {
            switch error.code {
            case .tooLarge: throw Failure(status: .contentTooLarge, reason: error.message)
            case .invalid: throw Failure(status: .badRequest, reason: "body is not valid gzip: \(error.message)")
            }
        }
    }
}
