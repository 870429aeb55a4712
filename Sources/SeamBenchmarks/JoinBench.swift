import SeamSettings
import ArgumentParser
import Foundation
import SeamJoin
import SeamLake
import SeamModel
import SeamOTLP
import SeamMetrics
import SeamPostgres
import SeamProgress
import SwiftProtobuf

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `seam bench join`: how fresh and how fast the join service is.
///
/// 1. Freshness: a real `seam serve` (roles ingest and join) receives a sustained mix over
///    HTTP — per page view one tag event, a four-span trace, and every fifth page a flag
///    evaluation — and the benchmark polls the derived tables for sampled events and
///    traces, timing acknowledgement → visible in `lake.event_facts` / complete in `lake.traces`.
/// 2. Catch-up: a backlog of tag events with their traces, sessions and flag evaluations,
///    generated in SQL, is joined by the worker from an empty queue state.
/// 3. Baseline, same run: the same derived tables from scratch, one SQL statement per
///    table (`JoinFromScratch`), and a check that both give the same rows.
struct JoinBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Acknowledgement-to-derived latency at a sustained rate; backlog catch-up against a from-scratch SQL build.")

    @OptionGroup var options: GlobalOptions

    @Option(help: "Records per second offered in the freshness phase; by default --share of the mix's end-to-end ingestion ceiling, measured first.")
    var rate: Int?

    @Option(help: "Share of the measured ceiling offered in the freshness phase (issue 16's target is stated at three quarters).")
    var share: Double = 0.75

    @Option(help: "Seconds of traffic sent as fast as possible to measure the ingestion ceiling of the mix (0 with no --rate skips the freshness phase).")
    var ceilingSeconds: Int = 15

    @Option(help: "Seconds the freshness phase lasts.")
    var seconds: Int = 30

    @Option(help: "Tag events in the catch-up backlog (0 skips it).")
    var events: Int = 1_000_000

    func run() async throws {
        let runtime = try Runtime(options: options)
        try await runtime.withDatabase { adminURL in
            if ceilingSeconds > 0 || rate != nil {
                var offered = rate
                if offered == nil {
                    let ceiling = try await runtime.withBenchDatabase(adminURL: adminURL) { try await self.ceiling(url: $0) }
                    offered = Int(ceiling * min(max(share, 0.01), 1))
                }
                let chosen = offered!
                try await runtime.withBenchDatabase(adminURL: adminURL) { try await freshness(url: $0, rate: chosen) }
            }
            if events > 0 { try await runtime.withBenchDatabase(adminURL: adminURL) { try await catchUp(url: $0) } }
        }
    }

    /// The server environment for a phase: its own home, port and roles.
    private static func serverEnvironment(url: String, home: URL, port: Int, roles: String) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["SEAM_DATABASE_URL"] = url
        environment["SEAM_HOME"] = home.path
        environment["SEAM_HTTP_ADDR"] = "127.0.0.1:\(port)"
        environment["SEAM_GRPC_ADDR"] = "off"
        // The server logs warnings unless SEAM_BENCH_SERVER_LOG_LEVEL asks for more (debug shows each join stage).
        environment["SEAM_LOG_LEVEL"] = environment["SEAM_BENCH_SERVER_LOG_LEVEL"] ?? "warning"
        environment["SEAM_ROLES"] = roles
        environment["SEAM_JOIN_POLL_MS"] = "50"
        return environment
    }

    // MARK: Ceiling

    /// Records/s of the mix stored in the raw tables when sent as fast as the server takes
    /// it, with the join off: the end-to-end ingestion ceiling for this mix.
    private func ceiling(url: String) async throws -> Double {
        let pagesPerTick = 385
        let ticks = max(1, ceilingSeconds * 10)
        print("join benchmark, ingestion ceiling of the mix: \(ticks * pagesPerTick) page views sent as fast as seam serve (roles ingest) takes them")
        let home = URL(fileURLWithPath: "/tmp/seam-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let port = IngestBench.freePort()
        let batches = (0..<ticks).map { BenchMix.tick($0, pages: pagesPerTick) }
        let records = batches.reduce(0) { $0 + $1.records }
        let server = try ServerProcess(environment: Self.serverEnvironment(url: url, home: home, port: port, roles: "ingest"), port: port)
        defer { try? server.stop() }
        try await server.waitUntilHealthy()
        func stored() async throws -> Int {
            var total = 0.0
            for table in ["spans", "tag_events", "logs"] {
                total += try await server.metric("seam_loader_rows_total{table=\"\(table)\",outcome=\"stored\"}")
            }
            return Int(total)
        }
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            while next < min(4, batches.count) {
                let batch = batches[next]
                group.addTask { try await Self.send(batch, port: port, samples: nil) }
                next += 1
            }
            while try await group.next() != nil, next < batches.count {
                let batch = batches[next]
                group.addTask { try await Self.send(batch, port: port, samples: nil) }
                next += 1
            }
            try await group.waitForAll()
        }
        while try await stored() < records {
            try await Task.sleep(for: .milliseconds(50))
            if ContinuousClock.now - started > .seconds(600) { throw ValidationError("loading took over 10 minutes") }
        }
        let seconds = (ContinuousClock.now - started).seconds
        let rate = Double(records) / seconds
        print(String(format: "  %d records (tag events, spans, flag evaluations) acknowledged and stored in %.1f s: %.0f records/s", records, seconds, rate))
        return rate
    }

    // MARK: Freshness

    private func freshness(url: String, rate: Int) async throws {
        let ticksPerSecond = 10
        let pagesPerTick = max(1, Int((Double(rate) / 5.2 / Double(ticksPerSecond)).rounded()))
        let ticks = seconds * ticksPerSecond
        let offered = Double(pagesPerTick * ticksPerSecond) * 5.2
        print(
            "join benchmark, freshness: \(pagesPerTick * ticksPerSecond) page views/s for \(seconds) s "
                + "(each a tag event and a 4-span trace, every 5th a flag evaluation: ~\(Int(offered)) records/s)")
        let home = URL(fileURLWithPath: "/tmp/seam-bench-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let port = IngestBench.freePort()
        let batches = (0..<ticks).map { BenchMix.tick($0, pages: pagesPerTick) }
        let server = try ServerProcess(environment: Self.serverEnvironment(url: url, home: home, port: port, roles: "ingest,join"), port: port)
        defer { try? server.stop() }
        try await server.waitUntilHealthy()

        let samples = SampleBook()
        let pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1))
        let poller = Task { try await Self.poll(samples, pool: pool) }
        // The loader's and the join's own lag, from the server's metrics, to tell which one trails.
        let lags = Task { () -> (loader: Double, join: Double) in
            var worst = (loader: 0.0, join: 0.0)
            while !Task.isCancelled {
                worst.loader = max(worst.loader, (try? await server.metric("seam_spool_oldest_unloaded_age_seconds")) ?? 0)
                worst.join = max(worst.join, (try? await server.metric("seam_join_lag_seconds")) ?? 0)
                try? await Task.sleep(for: .milliseconds(500))
            }
            return worst
        }
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, batch) in batches.enumerated() {
                try await ContinuousClock().sleep(until: started + .milliseconds(index * 1000 / ticksPerSecond))
                group.addTask { try await Self.send(batch, port: port, samples: samples) }
            }
            try await group.waitForAll()
        }
        let sendSeconds = (ContinuousClock.now - started).seconds
        // Wait for the last samples (at most 60 s).
        let deadline = ContinuousClock.now + .seconds(60)
        while samples.pending > 0 && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        poller.cancel()
        _ = try? await poller.value
        lags.cancel()
        let worst = await lags.value
        await pool.close()

        let records = Double(batches.count * pagesPerTick) * 5.2
        print(String(format: "  offered %.0f records/s; sent in %.1f s (%.0f records/s achieved)", offered, sendSeconds, records / sendSeconds))
        for (kind, label) in [(0, "tag event → lake.event_facts"), (1, "trace → lake.traces (all spans)")] {
            // Samples never seen count as slower than any seen one.
            let latencies = samples.latencies(kind: kind) + Array(repeating: Double.infinity, count: samples.pending(kind: kind))
            guard !latencies.isEmpty else { continue }
            func figure(_ p: Double) -> String {
                let value = Self.percentile(latencies, p)
                return value.isFinite ? String(format: "%.3f s", value) : "> 60 s"
            }
            let within = Double(latencies.filter { $0 <= 2.0 }.count) / Double(latencies.count)
            print(
                "  \(label): p50 \(figure(0.5)), p90 \(figure(0.9)), p99 \(figure(0.99)), max \(figure(1)); "
                    + String(format: "within 2 s: %.1f %% of %d samples", within * 100, latencies.count))
        }
        print(
            String(
                format: "  worst lag seen: loader (oldest acknowledged record not yet stored) %.1f s, join (oldest queue item) %.1f s",
                worst.loader, worst.join))
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
    }

    private static func send(_ batch: BenchMix.Tick, port: Int, samples: SampleBook?) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await IngestBench.send(
                    batch.events, port: port, path: "/v1/events", contentType: "application/json", concurrency: batch.events.count)
                samples?.acknowledged(kind: 0, batch.sampleEvents)
            }
            group.addTask {
                try await IngestBench.send([batch.traces], port: port, concurrency: 1)
                samples?.acknowledged(kind: 1, batch.sampleTraces)
            }
            group.addTask { try await IngestBench.send([batch.logs], port: port, path: "/v1/logs", concurrency: 1) }
            try await group.waitForAll()
        }
    }

    /// Looks for acknowledged samples in the derived tables every 50 ms.
    private static func poll(_ samples: SampleBook, pool: PostgresPool) async throws {
        while !Task.isCancelled {
            let (events, traces) = samples.waiting()
            if !events.isEmpty {
                let list = "{" + events.joined(separator: ",") + "}"
                let found = try await pool.query("SELECT event_id::text FROM lake.event_facts WHERE event_id = ANY($1::uuid[])", [.text(list)])
                samples.seen(kind: 0, try found.rows.map { try $0[0].decode(String.self) })
            }
            if !traces.isEmpty {
                let list = "{" + traces.map { "\"\\\\x\($0)\"" }.joined(separator: ",") + "}"
                let found = try await pool.query(
                    "SELECT encode(trace_id, 'hex') FROM lake.traces WHERE trace_id = ANY($1::bytea[]) AND span_count = 4", [.text(list)])
                samples.seen(kind: 1, try found.rows.map { try $0[0].decode(String.self) })
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    // MARK: Catch-up

    private func catchUp(url: String) async throws {
        let sessions = max(1, events / 10)
        print("join benchmark, catch-up: a backlog of \(events) tag events in \(sessions) sessions, with their traces (3 spans per page) and flag evaluations for 5 experiments")
        let pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 2))
        let progress = ProgressReporter(label: "seam bench join")
        progress.step("catch-up 1 of 3, generating the backlog")
        let generated = try await pool.withConnection { c -> (Double, [String: Int], (without: Double, with: Double)) in
            let started = ContinuousClock.now
            let capture = try BenchMix.generateBacklog(sessions: sessions, on: c)
            var counts: [String: Int] = [:]
            for table in ["tag_events", "spans", "logs"] {
                counts[table] = try c.query("SELECT count(*) FROM lake.\(unescaped: table)").scalar(Int.self)
            }
            counts["queue"] = try c.query("SELECT count(*) FROM seam_meta.join_queue").scalar(Int.self)
            try c.executeScript("VACUUM ANALYZE")
            return ((ContinuousClock.now - started).seconds, counts, capture)
        }
        print(
            String(
                format: "  generated in %.1f s: %d tag events, %d spans, %d flag evaluations; %d queue items",
                generated.0, generated.1["tag_events"]!, generated.1["spans"]!, generated.1["logs"]!, generated.1["queue"]!))
        print(
            String(
                format: "  change capture: inserting the spans into lake.spans took %.2f s with the join trigger, %.2f s without (+%.0f %%)",
                generated.2.with, generated.2.without, (generated.2.with / generated.2.without - 1) * 100))
        progress.finish("\(generated.1["queue"]!) queue items")
        let worker = JoinWorker(pool: pool)
        let started = ContinuousClock.now
        progress.step("catch-up 2 of 3, the incremental worker", total: generated.1["queue"]!)
        let report = try await worker.drain { progress.update(done: min($0.totalItems, generated.1["queue"]!)) }
        let joinSeconds = (ContinuousClock.now - started).seconds
        progress.finish("\(report.totalItems) items")
        let eventCount = Double(generated.1["tag_events"]!)
        print(String(format: "  incremental worker catching up: %.1f s (%.0f tag events/s with their traces and sessions)", joinSeconds, eventCount / joinSeconds))
        print("    \(report.summary)")
        progress.step("catch-up 3 of 3, the from-scratch baseline and the comparison")
        let (timings, differences) = try await pool.withConnection { c in
            let timings = try JoinFromScratch.build(into: "bench_scratch", sessionTimeout: .seconds(30 * 60), on: c)
            return (timings, try JoinFromScratch.differences(from: "bench_scratch", on: c))
        }
        progress.finish("done")
        await pool.close()
        print(
            String(
                format: "  baseline, from scratch with one SQL statement per table: %.1f s (traces %.1f, exposures %.1f, event_facts %.1f, sessions %.1f)",
                timings.total, timings.traces, timings.exposures, timings.eventFacts, timings.sessions))
        print(String(format: "  ratio catch-up / from scratch: %.2f", joinSeconds / timings.total))
        print(
            String(
                format: "  from scratch with the lake tables' indexes built too (what replacing the derived tables costs): %.1f s (indexes %.1f); ratio catch-up / that: %.2f",
                timings.totalWithIndexes, timings.indexes, joinSeconds / timings.totalWithIndexes))
        let differing = differences.values.reduce(0, +)
        print("  incremental tables equal the from-scratch ones: \(differing == 0 ? "yes" : "NO, \(differences)")")
    }
}

/// Acknowledgement times of sampled records and when they became visible (thread-safe).
final class SampleBook: @unchecked Sendable {
    private let lock = NSLock()
    private var acknowledgedAt: [Int: [String: ContinuousClock.Instant]] = [0: [:], 1: [:]]
    private var results: [Int: [Double]] = [0: [], 1: []]

    func acknowledged(kind: Int, _ ids: [String]) {
        let now = ContinuousClock.now
        lock.withLock { for id in ids { acknowledgedAt[kind]![id] = now } }
    }

    func waiting() -> (events: [String], traces: [String]) {
        lock.withLock { (Array(acknowledgedAt[0]!.keys), Array(acknowledgedAt[1]!.keys)) }
    }

    func seen(kind: Int, _ ids: [String]) {
        let now = ContinuousClock.now
        lock.withLock {
            for id in ids {
                if let at = acknowledgedAt[kind]!.removeValue(forKey: id) { results[kind]!.append((now - at).seconds) }
            }
        }
    }

    var pending: Int { lock.withLock { acknowledgedAt[0]!.count + acknowledgedAt[1]!.count } }

    func pending(kind: Int) -> Int { lock.withLock { acknowledgedAt[kind]!.count } }

    func latencies(kind: Int) -> [Double] { lock.withLock { results[kind]! } }
}

/// The benchmark's traffic: what a shop's pages, services and flag SDK send.
enum BenchMix {
    struct Tick: Sendable {
        /// Tag-event batches: at most 1,000 events each (the batch limit of `/v1/events`).
        var events: [[UInt8]]
        var traces: [UInt8]
        var logs: [UInt8]
        var sampleEvents: [String]
        var sampleTraces: [String]
        /// Tag events, spans and flag evaluations in this tick.
        var records: Int
    }

    static func tick(_ index: Int, pages: Int) -> Tick {
        let now = Date()
        let nowNanos = UInt64(now.timeIntervalSince1970 * 1e9)
        var traces = TraceExportRequest()
        var logs = LogsExportRequest()
        var resourceSpans = Opentelemetry_Proto_Trace_V1_ResourceSpans()
        resourceSpans.resource.attributes = [attribute("service.name", "shop")]
        var scopeSpans = Opentelemetry_Proto_Trace_V1_ScopeSpans()
        var resourceLogs = Opentelemetry_Proto_Logs_V1_ResourceLogs()
        resourceLogs.resource.attributes = [attribute("service.name", "flags")]
        var scopeLogs = Opentelemetry_Proto_Logs_V1_ScopeLogs()
        var items: [String] = []
        var sampleEvents: [String] = []
        var sampleTraces: [String] = []
        let names = ["page_view", "product_view", "page_view", "add_to_basket", "purchase"]
        for p in 0..<pages {
            let n = index * pages + p
            let session = "s-\(n / 8)"
            let visitor = "a-\(n / 16)"
            let traceID = (0..<16).map {
                UInt8(truncatingIfNeeded: (UInt64(n + 1) &* 0x9E37_79B9_7F4A_7C15) >> UInt64($0 % 8 * 8)) ^ UInt8(truncatingIfNeeded: $0 &* 31)
            }
            let traceHex = TraceIDs.hex(traceID)
            let rootID = (0..<8).map { UInt8(truncatingIfNeeded: (n + 1) >> ($0 * 8)) ^ 0xA5 }
            for s in 0..<4 {
                var span = Opentelemetry_Proto_Trace_V1_Span()
                span.traceID = Data(traceID)
                span.spanID = Data(s == 0 ? rootID : rootID.enumerated().map { $0.offset == 7 ? UInt8(s) : $0.element })
                if s > 0 { span.parentSpanID = Data(rootID) }
                span.name = s == 0 ? "GET /product/{id}" : ["catalog.lookup", "pricing.quote", "cart.read"][s - 1]
                span.kind = s == 0 ? .server : .client
                span.startTimeUnixNano = nowNanos - 2_000_000_000 + UInt64(s) * 1_000_000
                span.endTimeUnixNano = span.startTimeUnixNano + 40_000_000 - UInt64(s) * 5_000_000
                span.attributes = [attribute("session.id", session), attribute("http.route", "/product/{id}")]
                if n % 50 == 0 && s == 2 { span.status.code = .error }
                scopeSpans.spans.append(span)
            }
            let eventID = UUID().uuidString.lowercased()
            if p < 2 {
                sampleEvents.append(eventID)
                sampleTraces.append(traceHex)
            }
            let name = names[n % names.count]
            items.append(
                #"{"event_id":"\#(eventID)","name":"\#(name)","session_id":"\#(session)","anonymous_id":"\#(visitor)","trace_id":"\#(traceHex)","page":{"path":"/product/\#(n % 1000)"},"properties":{"value":49.5,"currency":"EUR"}}"#)
            if n % 5 == 0 {
                var record = Opentelemetry_Proto_Logs_V1_LogRecord()
                record.timeUnixNano = nowNanos - 2_500_000_000
                record.eventName = "feature_flag.evaluation"
                record.attributes = [
                    attribute("feature_flag.key", "exp-\((n / 5) % 5)"),
                    attribute("feature_flag.result.variant", n % 2 == 0 ? "control" : "treatment"),
                    attribute("feature_flag.context.id", visitor), attribute("session.id", session),
                ]
                scopeLogs.logRecords.append(record)
            }
        }
        resourceSpans.scopeSpans = [scopeSpans]
        traces.resourceSpans = [resourceSpans]
        resourceLogs.scopeLogs = [scopeLogs]
        logs.resourceLogs = [resourceLogs]
        return Tick(
            events: stride(from: 0, to: items.count, by: 1000).map { start in
                Array(#"{"events":[\#(items[start..<min(start + 1000, items.count)].joined(separator: ","))]}"#.utf8)
            },
            traces: (try? traces.serializedBytes()) ?? [], logs: (try? logs.serializedBytes()) ?? [],
            sampleEvents: sampleEvents, sampleTraces: sampleTraces,
            records: items.count + scopeSpans.spans.count + scopeLogs.logRecords.count)
    }

    static func attribute(_ key: String, _ value: String) -> Opentelemetry_Proto_Common_V1_KeyValue {
        var kv = Opentelemetry_Proto_Common_V1_KeyValue()
        kv.key = key
        kv.value.stringValue = value
        return kv
    }

    /// Raw rows for `sessions` sessions of 10 events over the last 30 hours, generated in
    /// SQL: a quarter without a client session id (derived sessions), a trace of 3 spans
    /// per page, one flag evaluation per session in one of 5 experiments, a purchase in
    /// every fifth session.
    /// Returns the seconds the spans' insert took without and with the change-capture trigger.
    static func generateBacklog(sessions: Int, on c: PostgresConnection) throws -> (without: Double, with: Double) {
        let now = Date()
        _ = try LakePartitions.ensure(on: c, covering: now.addingTimeInterval(-2 * 86_400), now)
        // Session s starts at base + s * spacing; its events are a minute apart.
        let parameters: [PostgresValue] = [.int64(Int64(sessions))]
        try c.execute(
            """
            INSERT INTO lake.tag_events (event_id, name, occurred_at, received_at, session_id, anonymous_id, user_id, trace_id, page_path, properties)
            SELECT md5('e' || s || ':' || e)::uuid,
                   CASE WHEN e IN (4, 5, 6) THEN 'product_view' WHEN e = 7 THEN 'add_to_basket'
                        WHEN e = 9 AND s % 5 = 0 THEN 'purchase' ELSE 'page_view' END,
                   now() - interval '30 hours' + (s::float8 / $1 * 29) * interval '1 hour' + e * interval '1 minute',
                   now(),
                   CASE WHEN s % 4 = 3 THEN NULL ELSE 'bs-' || s END,
                   'ba-' || (s / 2), CASE WHEN s % 3 = 0 THEN 'bu-' || (s / 2) END,
                   CASE WHEN e NOT IN (7, 9) THEN decode(md5('t' || s || ':' || e), 'hex') END,
                   '/p/' || ((s * 7 + e) % 1000),
                   CASE WHEN e = 9 AND s % 5 = 0 THEN '{"value": 80.5, "currency": "EUR"}'::jsonb ELSE '{}'::jsonb END
            FROM generate_series(0, $1 - 1) AS s, generate_series(0, 9) AS e
            ORDER BY s, e
            """, parameters)
        // The spans go through a staging table so that their insert into lake.spans can be
        // timed twice: without the join's change-capture trigger, then with it.
        try c.execute(
            """
            CREATE TEMP TABLE bench_spans (
                trace_id, span_id, parent_span_id, name, kind, service_name, start_time, end_time, status_code, session_id, http_route
            ) AS
            SELECT decode(md5('t' || s || ':' || e), 'hex'),
                   substr(decode(md5('p' || s || ':' || e || ':' || k), 'hex'), 1, 8),
                   CASE WHEN k > 0 THEN substr(decode(md5('p' || s || ':' || e || ':0'), 'hex'), 1, 8) END,
                   CASE k WHEN 0 THEN 'GET /p/{id}' WHEN 1 THEN 'catalog.lookup' ELSE 'pricing.quote' END,
                   CASE k WHEN 0 THEN 2 ELSE 3 END,
                   CASE k WHEN 0 THEN 'web' WHEN 1 THEN 'catalog' ELSE 'pricing' END,
                   t0 + k * interval '2 ms', t0 + interval '80 ms' - k * interval '10 ms',
                   CASE WHEN k = 2 AND (s + e) % 37 = 0 THEN 2 ELSE 0 END,
                   CASE WHEN s % 4 = 3 THEN NULL ELSE 'bs-' || s END,
                   CASE k WHEN 0 THEN '/p/{id}' END
            FROM generate_series(0, $1 - 1) AS s, generate_series(0, 9) AS e, generate_series(0, 2) AS k,
                 LATERAL (SELECT now() - interval '30 hours' + (s::float8 / $1 * 29) * interval '1 hour' + e * interval '1 minute'
                                 - interval '500 ms' AS t0) AS t
            WHERE e NOT IN (7, 9)
            """, parameters)

        try c.execute(
            """
            INSERT INTO lake.logs (log_id, time, event_name, flag_key, flag_variant, flag_context_id, session_id)
            SELECT substr(decode(md5('l' || s), 'hex'), 1, 16),
                   now() - interval '30 hours' + (s::float8 / $1 * 29) * interval '1 hour' - interval '1 second',
                   'feature_flag.evaluation', 'exp-' || (s % 5), CASE WHEN (s / 2) % 2 = 0 THEN 'control' ELSE 'treatment' END,
                   'ba-' || (s / 2), CASE WHEN s % 4 = 3 THEN NULL ELSE 'bs-' || s END
            FROM generate_series(0, $1 - 1) AS s
            """, parameters)
        let columns = "trace_id, span_id, parent_span_id, name, kind, service_name, start_time, end_time, status_code, session_id, http_route"
        func timedInsert() throws -> Double {
            let started = ContinuousClock.now
            try c.execute("INSERT INTO lake.spans (\(unescaped: columns)) SELECT * FROM bench_spans")
            return (ContinuousClock.now - started).seconds
        }
        try c.executeScript("ALTER TABLE lake.spans DISABLE TRIGGER join_enqueue")
        let without = try timedInsert()
        try c.executeScript("TRUNCATE lake.spans; ALTER TABLE lake.spans ENABLE TRIGGER join_enqueue")
        let with = try timedInsert()
        try c.executeScript("DROP TABLE bench_spans")
        return (without, with)
    }
}
