import Foundation
import SeamIngest
import SeamLoader
import SeamLake
import SeamModel
import SeamPostgres
import DatabaseSupport
import Testing
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Hostile ingestion", .requiresPostgres)
struct HostileIngestTests {
    static func event(_ id: UUID = UUID(), name: String = "page_view") -> String {
        #"{"event_id":"\#(id.uuidString)","name":"\#(name)","session_id":"s-hostile"}"#
    }

    static func gzip(_ text: String) throws -> [UInt8] { try SystemGzip.compress(Array(text.utf8)) }

    /// A raw TCP connection to the harness (for clients no HTTP library would imitate).
    static func connect(port: Int, receiveTimeoutMilliseconds: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        var timeout = timeval(tv_sec: receiveTimeoutMilliseconds / 1000, tv_usec: (receiveTimeoutMilliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Runs blocking work (socket reads) on a GCD thread, not on the cooperative pool.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: body()) }
        }
    }

    static func stored(_ h: IngestHarness, _ ids: [UUID]) async throws -> Int {
        _ = try await h.loader.drain()
        return try await h.pool.query(
            "SELECT count(*) FROM lake.tag_events WHERE event_id = ANY($1::uuid[])",
            [.text("{" + ids.map(\.uuidString).joined(separator: ",") + "}")]
        ).scalar(Int.self)
    }

    @Test("a two-member gzip body stores the events of both members; a truncated one is 400 and stores nothing")
    func gzipMembers() async throws {
        try await IngestHarness.with { h in
            let a = UUID(), b = UUID()
            let body = try Self.gzip(#"{"events":[\#(Self.event(a)),"#) + Self.gzip(#"\#(Self.event(b))]}"#)
            let headers = ["Content-Type": "application/json", "Content-Encoding": "gzip"]
            let reply = try await h.request("POST", "/v1/events", bytes: body, headers: headers).reply
            #expect(reply.status == 200)
            #expect(try await Self.stored(h, [a, b]) == 2)

            let c = UUID()
            let whole = try Self.gzip(#"{"events":[\#(Self.event(c))]}"#)
            let cut = try await h.request("POST", "/v1/events", bytes: Array(whole.dropLast(8)), headers: headers).reply
            #expect(cut.status == 400)
            #expect(cut.body.contains("cut short"))
            #expect(try await Self.stored(h, [c]) == 0)
        }
    }

    @Test("a browser token may post tag events, never OTLP; /metrics can require its own token")
    func scopes() async throws {
        var configuration = IngestConfiguration(host: "127.0.0.1", port: 0, tokens: ["pub": "web", "svc": "checkout"])
        configuration.browserTokens = ["pub"]
        configuration.metricsToken = "scrape"
        try await IngestHarness.with(configuration: configuration) { h in
            let event = try await h.post(#"{"events":[\#(Self.event())]}"#, headers: ["Content-Type": "text/plain", "Authorization": "Bearer pub"])
            #expect(event.status == 200)
            let otlp = try await h.request(
                "POST", "/v1/logs", body: #"{"resourceLogs":[]}"#, headers: ["Content-Type": "application/json", "Authorization": "Bearer pub"])
            #expect(otlp.status == 403)
            #expect(otlp.body.contains("browser token"))
            let service = try await h.request(
                "POST", "/v1/logs", body: #"{"resourceLogs":[]}"#, headers: ["Content-Type": "application/json", "Authorization": "Bearer svc"])
            #expect(service.status == 200)
            #expect(try await h.request("GET", "/metrics").status == 401)
            #expect(try await h.request("GET", "/metrics", headers: ["Authorization": "Bearer svc"]).status == 401)
            #expect(try await h.request("GET", "/metrics", headers: ["Authorization": "Bearer scrape"]).status == 200)
        }
    }

    @Test("CORS answers on the browser routes and allowed read-API origins only")
    func cors() async throws {
        try await IngestHarness.with(readOrigins: ["https://dash.example"]) { h in
            let preflight = ["Origin": "https://evil.example", "Access-Control-Request-Method": "POST"]
            let otlp = try await h.request("OPTIONS", "/v1/traces", headers: preflight)
            #expect(otlp.status == 403)
            #expect(otlp.headers["access-control-allow-origin"] == nil)
            let events = try await h.request("OPTIONS", "/v1/events", headers: preflight)
            #expect(events.status == 204)
            #expect(events.headers["access-control-allow-origin"] == "https://evil.example")
            let readEvil = try await h.request(
                "OPTIONS", "/v1/experiments", headers: ["Origin": "https://evil.example", "Access-Control-Request-Method": "GET"])
            #expect(readEvil.status == 403)
            let readDash = try await h.request(
                "OPTIONS", "/v1/experiments", headers: ["Origin": "https://dash.example", "Access-Control-Request-Method": "GET"])
            #expect(readDash.status == 204 && readDash.headers["access-control-allow-origin"] == "https://dash.example")
            let health = try await h.request("GET", "/healthz", headers: ["Origin": "https://evil.example"])
            #expect(health.status == 200 && health.headers["access-control-allow-origin"] == nil)
        }
    }

    @Test("a client that stops sending mid-request is cut off by the idle timeout")
    func stalledClient() async throws {
        var configuration = IngestConfiguration(host: "127.0.0.1", port: 0)
        configuration.idleTimeoutSeconds = 1
        try await IngestHarness.with(configuration: configuration) { h in
            let fd = try Self.connect(port: h.port, receiveTimeoutMilliseconds: 20_000)
            defer { close(fd) }
            // The socket calls block: off Swift's cooperative pool, which the server needs.
            let waited = await Self.offPool {
                let partial = Array("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"ev".utf8)
                _ = partial.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
                let started = Date()
                var buffer = [UInt8](repeating: 0, count: 4096)
                while recv(fd, &buffer, buffer.count, 0) > 0 {}
                return Date().timeIntervalSince(started)
            }
            // Closed by the server (EOF) after its 1 s idle timeout, long before our own 20 s
            // receive timeout (with room for a loaded machine).
            #expect(waited < 15, "the server held a stalled connection for \(waited) s")
        }
    }

    @Test("a body that trickles in slower than the body timeout is cut off with 408")
    func tricklingBody() async throws {
        var configuration = IngestConfiguration(host: "127.0.0.1", port: 0)
        configuration.idleTimeoutSeconds = 30
        configuration.bodyTimeoutSeconds = 1
        try await IngestHarness.with(configuration: configuration) { h in
            let fd = try Self.connect(port: h.port, receiveTimeoutMilliseconds: 300)
            defer { close(fd) }
            let text = await Self.offPool {
                func send(_ text: String) { _ = Array(text.utf8).withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
                send("POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{")
                var reply = [UInt8]()
                var buffer = [UInt8](repeating: 0, count: 4096)
                // A byte every 300 ms: never idle, but far too slow. Up to a minute of wall time
                // (the body holds 400 bytes), so that a loaded machine still sees the answer.
                let giveUp = Date().addingTimeInterval(60)
                for _ in 0..<390 where Date() < giveUp {
                    send(" ")
                    let n = recv(fd, &buffer, buffer.count, 0)
                    if n > 0 { reply += buffer[0..<n] }
                    if n == 0 || String(decoding: reply, as: UTF8.self).contains("\r\n\r\n") { break }
                }
                return String(decoding: reply, as: UTF8.self)
            }
            #expect(text.hasPrefix("HTTP/1.1 408"), "got: \(text.prefix(200))")
            #expect(text.contains("arrived too slowly"))
        }
    }

    @Test("a frame that fails to store repeatedly goes to lake.rejected; an outage never does")
    func poisonAndOutage() async throws {
        let loader = SpoolLoader.Configuration(retryDelay: .milliseconds(50), poisonAttempts: 3)
        try await IngestHarness.with(loaderConfiguration: loader) { h in
            try await h.pool.execute(
                """
                CREATE FUNCTION public.refuse_events() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.name = 'poison' THEN RAISE EXCEPTION 'poisoned event'; END IF;
                    IF NEW.name = 'outage' THEN RAISE EXCEPTION 'disk full' USING ERRCODE = '53100'; END IF;
                    RETURN NEW;
                END $$
                """)
            try await h.pool.execute(
                "CREATE TRIGGER refuse_events BEFORE INSERT ON lake.tag_events FOR EACH ROW EXECUTE FUNCTION public.refuse_events()")

            // An outage (SQLSTATE class 53) is retried, never quarantined.
            let outage = UUID()
            #expect(try await h.post(#"{"events":[\#(Self.event(outage, name: "outage"))]}"#).status == 200)
            for _ in 0..<6 { await h.loader.step() }
            #expect(h.loader.totals.quarantined == 0)
            #expect(try await h.pool.query("SELECT count(*) FROM lake.rejected").scalar(Int.self) == 0)
            try await h.pool.execute("DROP TRIGGER refuse_events ON lake.tag_events")
            #expect(try await Self.stored(h, [outage]) == 1)

            // A poison frame is set aside after three attempts; the frames after it load.
            try await h.pool.execute(
                "CREATE TRIGGER refuse_events BEFORE INSERT ON lake.tag_events FOR EACH ROW EXECUTE FUNCTION public.refuse_events()")
            let poison = UUID(), good = UUID()
            #expect(try await h.post(#"{"events":[\#(Self.event(poison, name: "poison"))]}"#).status == 200)
            #expect(try await h.post(#"{"events":[\#(Self.event(good))]}"#).status == 200)
            for _ in 0..<5 { await h.loader.step() }
            #expect(h.loader.totals.quarantined == 1)
            let rejected = try await h.pool.query("SELECT source, reason FROM lake.rejected")
            #expect(rejected.rowCount == 1)
            #expect(try rejected.first?.decode(String.self, "source") == "events")
            #expect(try rejected.first?.decode(String.self, "reason").contains("poisoned event") == true)
            #expect(try await Self.stored(h, [good]) == 1)
            #expect(try await Self.stored(h, [poison]) == 0)
        }
    }
}
