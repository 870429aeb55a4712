import SeamSettings
import ArgumentParser
import Foundation
import SeamIngest
import SeamLoader
import SeamModel
import SeamOTLP
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import SeamGRPC
import SeamRecords
import SeamMetrics
import SeamPostgres
import SeamProgress
import SwiftProtobuf

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// `seam bench ingest`: OTLP protobuf batches through a real `seam serve` process.
///
/// 1. Acknowledgement path: `seam serve` with its loader off receives the batches over
///    HTTP (decode, validate, fsync'd spool); the figure is spans/s and the server's CPU
///    time per span, read from /proc. Then tag events, Segment and GA4 through the same
///    server. HTTP requests go through `BenchHTTPClient` (keep-alive, blocking sockets);
///    GA4 is sent once more through URLSession, the earlier client, as a reference.
/// 2. End to end: `seam serve` restarted with its loader on drains that spool into
///    `lake.spans`; the figure is rows/s.
/// 3. Baseline, same run: a plain binary COPY of the same rows into the same table.
struct IngestBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Spans/s and server CPU per span to the durable acknowledgement, and end-to-end load rate against plain COPY.")

    @OptionGroup var options: GlobalOptions

    @Option(help: "Requests to send.")
    var requests: Int = 200

    @Option(help: "Spans per request.")
    var spansPerRequest: Int = 500

    @Option(help: "Requests in flight at once.")
    var concurrency: Int = 4

    @Flag(help: "Only the browser formats' readers alone, on one thread: no database, no server.")
    var readersOnly = false

    func run() async throws {
        if readersOnly {
            try Self.browserDecoding()
            return
        }
        let runtime = try Runtime(options: options)
        try await runtime.withDatabase { adminURL in
            try await runtime.withBenchDatabase(adminURL: adminURL) { url in
                let home = URL(fileURLWithPath: "/tmp/seam-bench-\(UUID().uuidString.prefix(8))")
                try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: home) }
                try await phases(url: url, home: home)
            }
        }
    }

    private func phases(url: String, home: URL) async throws {
        let totalSpans = requests * spansPerRequest
        print("ingest benchmark: \(requests) OTLP protobuf requests × \(spansPerRequest) spans (~20 attributes each), \(concurrency) in flight")
        let bodies: [[UInt8]] = try (0..<requests).map { try BenchSpans.request(index: $0, spans: spansPerRequest).serializedBytes() }
        let port = Self.freePort()
        var environment = ProcessInfo.processInfo.environment
        environment["SEAM_DATABASE_URL"] = url
        environment["SEAM_HOME"] = home.path
        environment["SEAM_HTTP_ADDR"] = "127.0.0.1:\(port)"
        let grpcPort = Self.freePort()
        environment["SEAM_GRPC_ADDR"] = "127.0.0.1:\(grpcPort)"
        environment["SEAM_LOG_LEVEL"] = "warning"

        let progress = ProgressReporter(label: "seam bench ingest")
        progress.step("1 of 4, the acknowledgement path")
        // 1. Acknowledgement path (loader off).
        environment["SEAM_LOADER"] = "off"
        var server = try ServerProcess(environment: environment, port: port)
        try await server.waitUntilHealthy()
        let (ackSeconds, ackCPU) = try await server.measure { try await Self.send(bodies, port: port, concurrency: concurrency) }

        // The browser formats through the same server, each measured alone: Seam's tag
        // events and Segment batches of 100, GA4 requests of 25 events (GA4's maximum).
        let browserRequests = max(1, requests * 2)
        var formats: [(name: String, records: Int, seconds: Double, cpu: Double)] = []
        let ga4Path = "/mp/collect?measurement_id=G-BENCH&api_secret=bench"
        let ga4Bodies = (0..<browserRequests * 4).map { BenchEvents.ga4Request(index: $0, events: 25) }
        for (name, path, perRequest, bodies) in [
            ("tag events (JSON batches of 100)", "/v1/events", 100, (0..<browserRequests).map { BenchEvents.batch(index: $0, events: 100) }),
            ("Segment (batches of 100 messages)", "/v1/batch", 100, (0..<browserRequests).map { BenchEvents.segmentBatch(index: $0, messages: 100) }),
            ("GA4 (requests of 25 events)", ga4Path, 25, ga4Bodies),
        ] {
            let (seconds, cpu) = try await server.measure {
                try await Self.send(bodies, port: port, path: path, contentType: "application/json", concurrency: concurrency)
            }
            formats.append((name, bodies.count * perRequest, seconds, cpu))
        }
        // Reference: the GA4 requests again through Foundation's URLSession (libcurl), the
        // client this benchmark used until 2026-11-26. It takes so much of the shared cores
        // that the server waits between requests and wakes for each: the same server code
        // measures more CPU per record.
        let (urlSessionSeconds, urlSessionCPU) = try await server.measure {
            try await Self.sendThroughURLSession(ga4Bodies, port: port, path: ga4Path, contentType: "application/json", concurrency: concurrency)
        }
        formats.append(("reference: GA4 through URLSession, the earlier client", ga4Bodies.count * 25, urlSessionSeconds, urlSessionCPU))
        try server.stop()

        progress.finish("done")
        progress.step("2 of 4, OTLP/gRPC")
        // The same requests over OTLP/gRPC, to a server with a spool of its own (the load
        // phase below drains the first one only).
        var grpcEnvironment = environment
        grpcEnvironment["SEAM_HOME"] = home.appendingPathComponent("grpc").path
        server = try ServerProcess(environment: grpcEnvironment, port: port)
        try await server.waitUntilHealthy()
        let (grpcSeconds, grpcCPU) = try await server.measure { try await Self.sendGRPC(bodies, port: grpcPort, concurrency: concurrency) }
        try server.stop()

        progress.finish("done")
        progress.step("3 of 4, loading into lake.spans", total: totalSpans)
        // 2. End to end: the loader drains that spool into lake.spans.
        environment["SEAM_LOADER"] = "on"
        let pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1))
        server = try ServerProcess(environment: environment, port: port)
        // Timed from when the server is up (startup is not loading), counting only the rows
        // stored from then on.
        try await server.waitUntilHealthy()
        let loadStarted = ContinuousClock.now
        // Progress from the server's own counter: polling count(*) would compete with the load.
        let storedAtStart = try await server.loadedSpans()
        var stored = storedAtStart
        while stored < totalSpans {
            try await Task.sleep(for: .milliseconds(20))
            stored = try await server.loadedSpans()
            progress.update(done: min(stored, totalSpans))
            if (ContinuousClock.now - loadStarted) > .seconds(600) { throw ValidationError("loading took over 10 minutes") }
        }
        let loadSeconds = (ContinuousClock.now - loadStarted).seconds
        let transactionSeconds = try await server.metric("seam_loader_batch_seconds_sum")
        let transactions = try await server.metric("seam_loader_batch_seconds_count")
        try server.stop()

        progress.finish("done")
        progress.step("4 of 4, the plain-COPY baseline and the readers alone")
        // 3. Baseline: plain COPY of the same rows into the same table.
        let decodeStarted = ContinuousClock.now
        let records = try bodies.flatMap { body in
            try WireTraceMapper.map(body, limits: .init(receivedMicros: Self.nowMicros())).records
        }
        let decodeSeconds = (ContinuousClock.now - decodeStarted).seconds
        let copySeconds = try await pool.withConnection { c -> Double in
            try c.executeScript("TRUNCATE lake.spans")
            let begin = ContinuousClock.now
            try SpanCopy.copy(records, into: "lake.spans", on: c)
            return (ContinuousClock.now - begin).seconds
        }
        await pool.close()

        let ackRate = Double(totalSpans) / ackSeconds
        let loadRate = Double(totalSpans - storedAtStart) / loadSeconds
        let copyRate = Double(records.count) / copySeconds
        print(String(format: "  acknowledged (HTTP → decode → validate → fsync'd spool): %9.0f spans/s", ackRate))
        print(String(format: "  server CPU per span to the acknowledgement:              %9.2f µs", ackCPU * 1e6 / Double(totalSpans)))
        print(String(format: "  OTLP/gRPC, the same requests: acknowledged               %9.0f spans/s", Double(totalSpans) / grpcSeconds))
        print(String(format: "  OTLP/gRPC server CPU per span:                           %9.2f µs (%.2f× OTLP/HTTP protobuf)",
                     grpcCPU * 1e6 / Double(totalSpans), grpcCPU / ackCPU))
        print(String(format: "  end to end into lake.spans (spool → decode → COPY):        %9.0f rows/s", loadRate))
        print(String(format: "  baseline: plain binary COPY of the same rows into lake.spans: %5.0f rows/s", copyRate))
        print(String(format: "  ratio end to end / plain COPY:                            %9.2f", loadRate / copyRate))
        print(String(format: "  loader: %.0f transactions, %.2f s inside them of %.2f s loading", transactions, transactionSeconds, loadSeconds))
        for format in formats {
            print("  \(format.name):")
            print(String(format: "    acknowledged:                                          %9.0f records/s", Double(format.records) / format.seconds))
            print(String(format: "    server CPU per record to the acknowledgement:          %9.2f µs", format.cpu * 1e6 / Double(format.records)))
        }
        print(String(format: "  loader decoding alone (protobuf → rows, one thread):      %9.0f rows/s", Double(records.count) / decodeSeconds))
        try Self.jsonTraces(bodies.prefix(40).map { $0 })
        try Self.browserDecoding()
        progress.finish("done")
    }

    /// The browser formats' readers alone, one thread, no HTTP: what the acknowledgement
    /// spends per record on reading and validating, and on the spool record's encoding.
    static func browserDecoding() throws {
        let received = Date()
        let events = TagEventDecoder()
        let segment = SegmentDecoder()
        let ga4 = GA4Decoder()
        let rounds = 200
        func measure(_ name: String, _ perRound: () throws -> Int) rethrows {
            var records = 0
            let started = ContinuousClock.now
            for _ in 0..<rounds { records += try perRound() }
            let seconds = (ContinuousClock.now - started).seconds
            print(String(format: "    %@ %9.2f µs/record", name.padding(toLength: 52, withPad: " ", startingAt: 0), seconds * 1e6 / Double(max(records, 1))))
        }
        let tagBody = BenchEvents.batch(index: 0, events: 100)
        let segmentBody = BenchEvents.segmentBatch(index: 0, messages: 100)
        let ga4Body = BenchEvents.ga4Request(index: 0, events: 25)
        print("  browser formats, reading and validating alone (one thread), then the spool record:")
        try measure("tag events (batch of 100)") { try events.decode(tagBody, receivedAt: received, source: nil).accepted.count }
        try measure("Segment (batch of 100)") {
            try segment.decode(try segment.read(segmentBody, call: nil), call: nil, receivedAt: received, source: nil).accepted.count
        }
        measure("GA4 (request of 25)") { ga4.decode(ga4Body, stream: .init(measurementID: "G-1", firebaseAppID: nil), receivedAt: received, source: nil).accepted.count }
        let records = try events.decode(tagBody, receivedAt: received, source: nil).accepted
        measure("spool record encoding (TagEventFrames, 100)") { TagEventFrames.encode(records).count > 0 ? records.count : 0 }
        // Baseline: Foundation's parser on the same batch, parsing alone (what the tag-event
        // decoder used before JSONTape, before any validation or copying).
        try measure("baseline: JSONSerialization of the tag-event batch") {
            let object = try JSONSerialization.jsonObject(with: Data(tagBody)) as? [String: Any]
            return (object?["events"] as? [Any])?.count ?? 0
        }
    }

    /// Why OTLP/JSON traces are spooled in their protobuf form: the acknowledgement must
    /// parse the JSON anyway (to judge every span), and converts it once; the loader then
    /// maps protobuf. Spooling the client's JSON instead would make the loader parse it again.
    /// Measured on the same requests, one thread: the loader's cost per span both ways, and
    /// the spool bytes per span.
    static func jsonTraces(_ bodies: [[UInt8]]) throws {
        let jsonBodies = try bodies.map { try BenchSpans.otlpJSON($0) }
        let limits = RecordLimits(receivedMicros: nowMicros(), maximumAgeMicros: nil)
        var spans = 0
        var started = ContinuousClock.now
        var converted: [[UInt8]] = []
        for json in jsonBodies {
            let protobuf: [UInt8] = try OTLPJSON.traces(json).serializedBytes()
            spans += try OTLPWire.validateTraces(protobuf, limits: limits).accepted
            converted.append(protobuf)
        }
        let ackSeconds = (ContinuousClock.now - started).seconds
        started = ContinuousClock.now
        for protobuf in converted { _ = try WireTraceMapper.map(protobuf, limits: limits) }
        let loadProtobuf = (ContinuousClock.now - started).seconds
        started = ContinuousClock.now
        for json in jsonBodies { _ = try WireTraceMapper.map(try OTLPJSON.traces(json).serializedBytes() as [UInt8], limits: limits) }
        let loadJSON = (ContinuousClock.now - started).seconds
        let perSpan = { (seconds: Double) in seconds * 1e6 / Double(max(spans, 1)) }
        print("  JSON traces (\(jsonBodies.count) requests, \(spans) spans, one thread):")
        print(String(format: "    acknowledgement (parse JSON, convert once, judge):       %9.2f µs/span", perSpan(ackSeconds)))
        print(String(format: "    loader, spooled protobuf form (as Seam does):              %9.2f µs/span, %6.0f spool bytes/span",
                     perSpan(loadProtobuf), Double(converted.map(\.count).reduce(0, +)) / Double(max(spans, 1))))
        print(String(format: "    baseline: loader re-reading the client's JSON:             %9.2f µs/span, %6.0f spool bytes/span",
                     perSpan(loadJSON), Double(jsonBodies.map(\.count).reduce(0, +)) / Double(max(spans, 1))))
    }

    static func send(
        _ bodies: [[UInt8]], port: Int, path: String = "/v1/traces", contentType: String = "application/x-protobuf",
        concurrency: Int
    ) async throws {
        try await BenchHTTPClient.post(bodies, port: port, path: path, contentType: contentType, connections: concurrency)
    }

    /// One URLSession for every request through it: a session per call leaked its
    /// connections and, after a few hundred calls, could leave a request hanging.
    static let urlSession = URLSession(configuration: .ephemeral)

    /// As `send`, through Foundation's URLSession (the reference line of the GA4 figures).
    static func sendThroughURLSession(_ bodies: [[UInt8]], port: Int, path: String, contentType: String, concurrency: Int) async throws {
        let session = Self.urlSession
        guard let url = URL(string: "http://127.0.0.1:\(port)\(path)") else { throw ValidationError("bad path \(path)") }
        try await inFlight(bodies, concurrency: concurrency) { body in
            var request = URLRequest(url: url)
            request.httpMethod = "POST"
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body)
            request.timeoutInterval = 60
            let (_, response) = try await session.data(for: request)
            guard let status = (response as? HTTPURLResponse)?.statusCode, (200..<300).contains(status) else {
                throw ValidationError("seam serve answered \((response as? HTTPURLResponse)?.statusCode ?? 0)")
            }
        }
    }

    /// Runs `send` for every body, `concurrency` at a time.
    static func inFlight(_ bodies: [[UInt8]], concurrency: Int, _ send: @escaping @Sendable ([UInt8]) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            while next < min(concurrency, bodies.count) {
                let body = bodies[next]
                group.addTask { try await send(body) }
                next += 1
            }
            while try await group.next() != nil {
                if next < bodies.count {
                    let body = bodies[next]
                    group.addTask { try await send(body) }
                    next += 1
                }
            }
        }
    }

    /// OTLP/gRPC export requests (already protobuf), `concurrency` in flight on one HTTP/2 connection.
    static func sendGRPC(_ bodies: [[UInt8]], port: Int, concurrency: Int) async throws {
        let client = GRPCClient(
            transport: try .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await client.runConnections() }
            try await inFlight(bodies, concurrency: concurrency) { body in
                try await client.unary(
                    request: ClientRequest(message: body), descriptor: Opentelemetry_Proto_Collector_Trace_V1_TraceService.Method.Export.descriptor,
                    serializer: PassThrough(), deserializer: ProtobufDeserializer<TraceExportResponse>(), options: .defaults
                ) { response in
                    let reply = try response.message
                    guard reply.partialSuccess.rejectedSpans == 0 else { throw ValidationError("spans refused over gRPC") }
                }
            }
            client.beginGracefulShutdown()
        }
    }

    /// Requests that are protobuf already.
    struct PassThrough: MessageSerializer {
        func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
    }

    static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(fd, $0, length)
                _ = getsockname(fd, $0, &length)
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func nowMicros() -> Int64 { Int64(Date().timeIntervalSince1970 * 1_000_000) }
}

/// A `seam serve` child process.
struct ServerProcess {
    let process: Process
    let port: Int

    init(environment: [String: String], port: Int) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        process.arguments = ["serve"]
        process.environment = environment
        self.port = port
        try process.run()
    }

    func waitUntilHealthy() async throws {
        for _ in 0..<400 {
            if let (_, response) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/healthz")!),
                (response as? HTTPURLResponse)?.statusCode == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ValidationError("seam serve did not come up")
    }

    /// Spans the server's loader has stored so far, from its `/metrics`.
    func loadedSpans() async throws -> Int {
        Int(try await metric(#"seam_loader_rows_total{table="spans",outcome="stored"}"#))
    }

    /// One sample of the server's `/metrics`, 0 when absent.
    func metric(_ name: String) async throws -> Double {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        let prefix = name + " "
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix(prefix) {
            return Double(line.dropFirst(prefix.count)) ?? 0
        }
        return 0
    }

    /// The wall-clock seconds `work` takes, and the server's CPU seconds meanwhile.
    func measure(_ work: () async throws -> Void) async throws -> (seconds: Double, cpu: Double) {
        let cpuBefore = cpuSeconds()
        let started = ContinuousClock.now
        try await work()
        return ((ContinuousClock.now - started).seconds, cpuSeconds() - cpuBefore)
    }

    /// CPU time of the server so far: the sum of its threads' run time in nanoseconds
    /// (/proc/PID/task/*/schedstat), or user + system clock ticks from /proc/PID/stat (10 ms
    /// resolution) where schedstat is missing. Threads are long-lived (NIO's event loops,
    /// the spool's writer), so none of the time measured is lost with an exited thread.
    func cpuSeconds() -> Double {
        let tasks = "/proc/\(process.processIdentifier)/task"
        if let threads = try? FileManager.default.contentsOfDirectory(atPath: tasks) {
            var nanos = 0.0
            var found = false
            for thread in threads {
                guard let text = try? String(contentsOfFile: "\(tasks)/\(thread)/schedstat", encoding: .utf8),
                    let first = text.split(separator: " ").first, let value = Double(first)
                else { continue }
                nanos += value
                found = true
            }
            if found { return nanos / 1e9 }
        }
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3, utime 14, stime 15 (1-based in proc(5)).
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func stop() throws {
        process.terminate()
        process.waitUntilExit()
    }
}

/// Span batches shaped like a web shop's server spans.
enum BenchSpans {
    /// A protobuf export request as OTLP/JSON (ids in hex, as the OTLP specification asks;
    /// swift-protobuf's JSON writes bytes in base64).
    static func otlpJSON(_ protobuf: [UInt8]) throws -> [UInt8] {
        let generic = try JSONSerialization.jsonObject(with: try TraceExportRequest(serializedBytes: protobuf).jsonUTF8Data())
        func hexIDs(_ value: Any) -> Any {
            if let object = value as? [String: Any] {
                var out: [String: Any] = [:]
                for (key, field) in object {
                    if ["traceId", "spanId", "parentSpanId"].contains(key), let text = field as? String, let bytes = Data(base64Encoded: text) {
                        out[key] = bytes.map { String(format: "%02x", $0) }.joined()
                    } else {
                        out[key] = hexIDs(field)
                    }
                }
                return out
            }
            if let array = value as? [Any] { return array.map(hexIDs) }
            return value
        }
        return Array(try JSONSerialization.data(withJSONObject: hexIDs(generic)))
    }

    static func request(index: Int, spans: Int) -> TraceExportRequest {
        func attribute(_ key: String, _ value: String) -> Opentelemetry_Proto_Common_V1_KeyValue {
            var kv = Opentelemetry_Proto_Common_V1_KeyValue()
            kv.key = key
            kv.value.stringValue = value
            return kv
        }
        func attribute(_ key: String, int value: Int64) -> Opentelemetry_Proto_Common_V1_KeyValue {
            var kv = Opentelemetry_Proto_Common_V1_KeyValue()
            kv.key = key
            kv.value.intValue = value
            return kv
        }
        var request = TraceExportRequest()
        var resourceSpans = Opentelemetry_Proto_Trace_V1_ResourceSpans()
        resourceSpans.resource.attributes = [
            attribute("service.name", ["frontend", "checkout", "catalog", "cart"][index % 4]),
            attribute("service.version", "2.14.1"), attribute("host.name", "node-\(index % 8)"),
            attribute("deployment.environment", "prod"),
        ]
        var scope = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        scope.scope.name = "io.opentelemetry.instrumentation.http"
        scope.scope.version = "2.9.0"
        let base = UInt64(Date().timeIntervalSince1970 * 1e9) - 60_000_000_000
        for i in 0..<spans {
            let n = UInt64(index * spans + i + 1)
            var span = Opentelemetry_Proto_Trace_V1_Span()
            span.traceID = Data((0..<16).map { UInt8(truncatingIfNeeded: (n &* 0x9E37_79B9_7F4A_7C15) >> ($0 % 8 * 8)) ^ UInt8($0) })
            span.spanID = Data((0..<8).map { UInt8(truncatingIfNeeded: n >> ($0 * 8)) })
            if i % 4 != 0 { span.parentSpanID = Data((0..<8).map { UInt8(truncatingIfNeeded: (n + 7) >> ($0 * 8)) }) }
            span.name = "GET /product/{id}"
            span.kind = .server
            span.startTimeUnixNano = base + n * 1000
            span.endTimeUnixNano = span.startTimeUnixNano + 12_345_678
            span.attributes = [
                attribute("http.request.method", "GET"), attribute("http.route", "/product/{id}"),
                attribute("http.response.status_code", int: 200), attribute("url.path", "/product/\(n % 10_000)"),
                attribute("url.scheme", "https"), attribute("server.address", "shop.example"), attribute("server.port", int: 443),
                attribute("client.address", "10.1.\(n % 256).\(n % 199)"), attribute("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"),
                attribute("network.protocol.version", "1.1"), attribute("session.id", "s-\(n / 20)"), attribute("enduser.id", "u-\(n / 200)"),
                attribute("app.cart.items", int: Int64(n % 7)), attribute("app.experiment", "reco-v2"), attribute("app.variant", n % 2 == 0 ? "A" : "B"),
                attribute("app.region", "eu-west-1"), attribute("app.request.bytes", int: Int64(n % 50_000)), attribute("app.cache", "miss"),
                attribute("app.product.category", "shoes"), attribute("thread.name", "worker-\(n % 16)"),
            ]
            scope.spans.append(span)
        }
        resourceSpans.scopeSpans = [scope]
        request.resourceSpans = [resourceSpans]
        return request
    }
}

/// Tag-event batches shaped like a shop's front end.
enum BenchEvents {
    static func batch(index: Int, events: Int) -> [UInt8] {
        let sentAt = RFC3339.format(Date())
        let names = ["page_view", "product_view", "add_to_basket", "purchase"]
        var items: [String] = []
        for i in 0..<events {
            let n = index * events + i
            items.append(
                #"{"event_id":"\#(UUID().uuidString.lowercased())","name":"\#(names[n % 4])","timestamp":"\#(sentAt)","sent_at":"\#(sentAt)","session_id":"s-\#(n / 20)","anonymous_id":"a-\#(n / 50)","traceparent":"00-\#(TraceIDs.hex((0..<16).map { UInt8(truncatingIfNeeded: n >> ($0 % 4 * 8)) ^ 0x5a }))-00f067aa0ba902b7-01","page":{"url":"https://shop.example/product/\#(n % 1000)","path":"/product/\#(n % 1000)","title":"Product \#(n % 1000)"},"properties":{"product_id":"\#(n % 1000)","category":"shoes","value":59.9,"currency":"EUR"},"context":{"locale":"de-DE","user_agent":"Mozilla/5.0"}}"#)
        }
        return Array(#"{"sent_at":"\#(sentAt)","events":[\#(items.joined(separator: ","))]}"#.utf8)
    }

    /// A Segment batch as analytics.js sends one: tracks and pages with analytics.js's
    /// message ids and context.
    static func segmentBatch(index: Int, messages: Int) -> [UInt8] {
        let sentAt = RFC3339.format(Date())
        var items: [String] = []
        for i in 0..<messages {
            let n = index * messages + i
            let common = #""messageId":"ajs-next-\#(n)-\#(UUID().uuidString.lowercased().prefix(12))","anonymousId":"a-\#(n / 50)","timestamp":"\#(sentAt)","context":{"locale":"de-DE","userAgent":"Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0","page":{"url":"https://shop.example/product/\#(n % 1000)","path":"/product/\#(n % 1000)","title":"Product \#(n % 1000)"},"library":{"name":"analytics.js","version":"next-1.70.0"}},"integrations":{}"#
            if n % 4 == 0 {
                items.append(#"{"type":"page","name":"Product","properties":{"url":"https://shop.example/product/\#(n % 1000)","path":"/product/\#(n % 1000)"},\#(common)}"#)
            } else {
                items.append(#"{"type":"track","event":"\#(["Product Viewed", "Product Added", "Order Completed"][n % 3])","properties":{"product_id":"\#(n % 1000)","category":"shoes","value":59.9,"currency":"EUR"},\#(common)}"#)
            }
        }
        return Array(#"{"writeKey":"bench","sentAt":"\#(sentAt)","batch":[\#(items.joined(separator: ","))]}"#.utf8)
    }

    /// A GA4 Measurement Protocol request with `events` events (GA4 allows 25).
    static func ga4Request(index: Int, events: Int) -> [UInt8] {
        let micros = Timestamps.micros(Date())
        var items: [String] = []
        for i in 0..<events {
            let n = index * events + i
            items.append(
                n % 5 == 0
                    ? #"{"name":"purchase","params":{"session_id":"\#(n / 20)","engagement_time_msec":120,"currency":"EUR","value":59.9,"transaction_id":"T\#(n)","items":[{"item_id":"P\#(n % 1000)","item_name":"Product","price":59.9,"quantity":1}]}}"#
                    : #"{"name":"page_view","params":{"session_id":"\#(n / 20)","engagement_time_msec":80,"page_location":"https://shop.example/product/\#(n % 1000)","page_title":"Product \#(n % 1000)"}}"#)
        }
        return Array(#"{"client_id":"\#(index).1764000000","timestamp_micros":\#(micros),"user_properties":{"tier":{"value":"gold"}},"events":[\#(items.joined(separator: ","))]}"#.utf8)
    }
}
