import Foundation
import Synchronization

/// The ingest benchmark's HTTP client: HTTP/1.1 with keep-alive on blocking sockets, one
/// thread per connection, nothing parsed but the status line and the body's length.
///
/// The benchmark measures the server's CPU per record, and the client shares the machine's
/// two cores with it. Foundation's `URLSession` (libcurl underneath) took so much of them
/// that the server idled between requests and paid a wake-up for each one; this client
/// costs a few microseconds a request, so the server sees the load the concurrency asks for.
enum BenchHTTPClient {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// POSTs every body to `path` on 127.0.0.1:`port`, `connections` at a time, each on its
    /// own connection; throws if any answer is not 2xx or a connection fails.
    static func post(_ bodies: [[UInt8]], port: Int, path: String, contentType: String, connections: Int) async throws {
        let shared = Shared(threads: max(1, min(connections, bodies.count)))
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            for index in 0..<shared.threads {
                let thread = Thread {
                    do {
                        var connection = try Connection(port: port)
                        while !shared.failed {
                            let (taken, _) = shared.next.wrappingAdd(1, ordering: .relaxed)
                            guard taken < bodies.count else { break }
                            if try !connection.post(bodies[taken], path: path, contentType: contentType) {
                                connection = try Connection(port: port)
                            }
                        }
                    } catch {
                        shared.fail((error as? Failure) ?? Failure(description: "\(error)"))
                    }
                    if shared.threadFinished() {
                        if let error = shared.firstError.withLock({ $0 }) {
                            continuation.resume(throwing: error)
                        } else {
                            continuation.resume()
                        }
                    }
                }
                thread.name = "bench-http-\(index)"
                thread.start()
            }
        }
    }

    /// What the connections' threads share.
    private final class Shared: Sendable {
        let threads: Int
        let next = Atomic<Int>(0)
        let firstError = Mutex<Failure?>(nil)
        let finished = Mutex(0)

        init(threads: Int) { self.threads = threads }

        var failed: Bool { firstError.withLock { $0 != nil } }

        func fail(_ error: Failure) {
            firstError.withLock { stored in
                if stored == nil { stored = error }
            }
        }

        /// True for the last thread to finish.
        func threadFinished() -> Bool {
            finished.withLock { done in
                done += 1
                return done == threads
            }
        }
    }

    /// One keep-alive connection.
    struct Connection: ~Copyable {
        let fd: Int32
        let port: Int
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)

        init(port: Int) throws {
            self.port = port
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port)).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                let code = errno
                close(fd)
                throw Failure(description: "connect to 127.0.0.1:\(port): errno \(code)")
            }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }

        deinit { close(fd) }

        /// Sends one request and reads its answer. Returns false if the server closes the
        /// connection after it (the caller opens a new one).
        mutating func post(_ body: [UInt8], path: String, contentType: String) throws -> Bool {
            let head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n\r\n"
            try sendAll(Array(head.utf8))
            try sendAll(body)
            return try readResponse()
        }

        private func sendAll(_ bytes: [UInt8]) throws {
            var sent = 0
            while sent < bytes.count {
                let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Failure(description: "send: errno \(errno)")
                }
                sent += n
            }
        }

        /// Reads at least `minimum` bytes into `buffer` from `filled` on.
        private mutating func fill(_ filled: inout Int, minimum: Int) throws {
            while filled < minimum {
                if filled == buffer.count { buffer += [UInt8](repeating: 0, count: buffer.count) }
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + filled, $0.count - filled, 0) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Failure(description: "recv: errno \(errno)")
                }
                if n == 0 { throw Failure(description: "the server closed the connection mid-answer") }
                filled += n
            }
        }

        private mutating func readResponse() throws -> Bool {
            var filled = 0
            var headerEnd: Int?
            while headerEnd == nil {
                try fill(&filled, minimum: filled + 1)
                headerEnd = Self.find([13, 10, 13, 10], in: buffer[0..<filled])
            }
            guard let headerEnd else { return false }
            let head = String(decoding: buffer[0..<headerEnd], as: UTF8.self)
            let lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
            let statusParts = lines.first?.split(separator: " ") ?? []
            guard statusParts.count >= 2, let status = Int(statusParts[1]) else {
                throw Failure(description: "not an HTTP answer: \(lines.first ?? "")")
            }
            var length = 0
            var keepAlive = true
            var chunked = false
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces).lowercased()
                switch name {
                case "content-length": length = Int(value) ?? 0
                case "connection": keepAlive = value != "close"
                case "transfer-encoding": chunked = value.contains("chunked")
                default: break
                }
            }
            guard !chunked else { throw Failure(description: "chunked answers are not read by the benchmark's client") }
            let bodyStart = headerEnd + 4
            if status != 204 && status != 304 { try fill(&filled, minimum: bodyStart + length) }
            guard (200..<300).contains(status) else {
                let text = String(decoding: buffer[bodyStart..<min(filled, bodyStart + length)], as: UTF8.self)
                throw Failure(description: "seam serve answered \(status): \(text)")
            }
            return keepAlive
        }

        private static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
            guard haystack.count >= needle.count else { return nil }
            var i = haystack.startIndex
            while i + needle.count <= haystack.endIndex {
                if haystack[i] == needle[0] && haystack[i..<i + needle.count].elementsEqual(needle) { return i }
                i += 1
            }
            return nil
        }
    }
}
