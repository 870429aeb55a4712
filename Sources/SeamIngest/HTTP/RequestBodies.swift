import Foundation
import Hummingbird
import NIOCore
import SeamGzip

/// Reading request bodies within a size limit, decompressing gzip.
package enum RequestBodies {
    package struct Failure: Error {
        var status: HTTPResponse.Status
        var reason: String
        /// The client should retry later (503 with `Retry-After`).
        var retry = false
    }

    /// The whole body, gunzipped when `Content-Encoding: gzip`. 413 when it exceeds `limit`
    /// bytes before or after decompression (decompression stops at the limit, so a
    /// decompression bomb cannot exhaust memory); 415 for other encodings; 400 for corrupt,
    /// truncated or trailing-garbage gzip (see `Gzip`).
    ///
    /// Every byte held is charged to `lease` (raw and decompressed); a body that takes
    /// longer than `timeout` to arrive is cut off with 408, however slowly it trickles (a
    /// body that stops arriving altogether is closed by the server's idle timeout).
    static func read(
        _ request: Request, limit: Int, lease: inout MemoryBudget.Lease, timeout: Duration = .seconds(30)
    ) async throws -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
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
            guard ContinuousClock.now < deadline else {
                throw Failure(status: .requestTimeout, reason: "the request body arrived too slowly; send it within \(timeout.components.seconds) seconds")
            }
            try lease.take(chunk.readableBytes)
            var chunk = chunk
            buffer.writeBuffer(&chunk)
        }
        let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
        guard encoding == "gzip" else { return bytes }
        do {
            let decoded = try Gzip.decompress(bytes, limit: limit)
            try lease.take(decoded.count)
            return decoded
        } catch let error as Failure {
            throw error
        } catch let error as Gzip.Failure {
            switch error.code {
            case .tooLarge: throw Failure(status: .contentTooLarge, reason: error.message)
            case .invalid: throw Failure(status: .badRequest, reason: "body is not valid gzip: \(error.message)")
            }
        }
    }
}
