import SeamSettings
import ArgumentParser
import Foundation
import SeamMetrics
import SeamPostgres

public struct BenchCommand: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print their figure and a baseline measured in the same run.",
        subcommands: [CopyBench.self, IngestBench.self, JoinBench.self, ETLBench.self])
}

/// Seam's binary COPY of span-shaped rows into a day-partitioned table with its primary
/// key, against the baseline of psql's `\copy` (libpq in C, text CSV) loading the same rows
/// into an identical table.
struct CopyBench: AsyncParsableCommand, Sendable {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Rows per second of Seam's binary COPY versus psql \\copy of the same span rows.")

    @OptionGroup var options: GlobalOptions

    @Option(help: "Rows per run.")
    var rows: Int = 200_000

    @Option(help: "Runs of each loader; the best run is reported.")
    var runs: Int = 3

    func run() async throws {
        try await Runtime(options: options).withDatabase { try await measure(url: $0) }
    }

    private func measure(url: String) async throws {
        let rowCount = rows
        let runCount = max(1, runs)

        let spans = SyntheticSpans(count: rowCount)
        let csvPath = FileManager.default.temporaryDirectory.appendingPathComponent("seam-bench-\(UUID().uuidString).csv").path
        try spans.writeCSV(to: csvPath)
        defer { try? FileManager.default.removeItem(atPath: csvPath) }

        // Client side alone: encoding the rows into COPY's binary format, sent nowhere.
        var encodeBest = 0.0
        for _ in 0..<runCount {
            var bytes = 0
            let start = ContinuousClock.now
            let writer = BinaryCopyWriter { bytes += $0.count }
            try spans.write(to: writer)
            try writer.finish()
            encodeBest = max(encodeBest, Double(rowCount) / (ContinuousClock.now - start).seconds)
            precondition(bytes > rowCount * 100)
        }

        let pool = PostgresPool(configuration: .init(connectionString: url, maximumConnections: 1))
        let result = try await pool.withConnection { c -> (seam: Double, psql: Double) in
            try c.executeScript(SQLQuery(SyntheticSpans.schemaSQL))
            defer { _ = try? c.executeScript("DROP SCHEMA seam_bench CASCADE") }
            var best = (seam: 0.0, psql: 0.0)
            for _ in 0..<runCount {
                try c.executeScript("TRUNCATE seam_bench.spans_seam, seam_bench.spans_psql; CHECKPOINT")
                let start = ContinuousClock.now
                let copied = try c.copyIn("COPY seam_bench.spans_seam (\(unescaped: SyntheticSpans.columns)) FROM STDIN (FORMAT binary)") {
                    try spans.write(to: $0)
                }
                let seamSeconds = (ContinuousClock.now - start).seconds
                guard copied == rowCount else { throw ValidationError("Seam's COPY stored \(copied) of \(rowCount) rows") }

                let psqlStart = ContinuousClock.now
                let outcome = try runPsql(url: url, command: "\\copy seam_bench.spans_psql (\(SyntheticSpans.columns)) FROM '\(csvPath)' WITH (FORMAT csv)")
                let psqlSeconds = (ContinuousClock.now - psqlStart).seconds
                guard outcome == 0 else { throw ValidationError("psql \\copy failed (exit \(outcome))") }
                let stored: Int = try c.query("SELECT count(*) FROM seam_bench.spans_psql").scalar()
                guard stored == rowCount else { throw ValidationError("psql stored \(stored) of \(rowCount) rows") }
                best.seam = max(best.seam, Double(rowCount) / seamSeconds)
                best.psql = max(best.psql, Double(rowCount) / psqlSeconds)
            }
            return best
        }
        await pool.close()

        print("copy benchmark: \(rowCount) span rows (15 attributes, jsonb), day-partitioned table with primary key, best of \(runCount)")
        print(String(format: "  seam binary COPY (Swift, libpq): %9.0f rows/s", result.seam))
        print(String(format: "  baseline psql \\copy (C, CSV):    %9.0f rows/s", result.psql))
        print(String(format: "  ratio seam / baseline:           %9.2f", result.seam / result.psql))
        print(String(format: "  seam encoding alone (no server): %9.0f rows/s", encodeBest))
    }

    private func runPsql(url: String, command: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-c", command]
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

/// Deterministic span-shaped rows, as OTLP ingestion will write them.
struct SyntheticSpans {
    static let columns = "trace_id, span_id, parent_span_id, name, kind, service_name, start_time, end_time, status_code, session_id, user_id, http_route, attributes, resource"

    static let schemaSQL = """
        DROP SCHEMA IF EXISTS seam_bench CASCADE;
        CREATE SCHEMA seam_bench;
        CREATE TABLE seam_bench.spans_seam (
            trace_id bytea NOT NULL, span_id bytea NOT NULL, parent_span_id bytea, name text NOT NULL,
            kind smallint NOT NULL, service_name text, start_time timestamptz NOT NULL, end_time timestamptz NOT NULL,
            status_code smallint NOT NULL, session_id text, user_id text, http_route text,
            attributes jsonb NOT NULL, resource jsonb NOT NULL,
            PRIMARY KEY (trace_id, span_id, start_time)
        ) PARTITION BY RANGE (start_time);
        CREATE TABLE seam_bench.spans_seam_p0 PARTITION OF seam_bench.spans_seam FOR VALUES FROM ('2026-01-01') TO ('2026-01-02');
        CREATE TABLE seam_bench.spans_seam_p1 PARTITION OF seam_bench.spans_seam FOR VALUES FROM ('2026-01-02') TO ('2026-01-03');
        CREATE TABLE seam_bench.spans_psql (LIKE seam_bench.spans_seam INCLUDING ALL) PARTITION BY RANGE (start_time);
        CREATE TABLE seam_bench.spans_psql_p0 PARTITION OF seam_bench.spans_psql FOR VALUES FROM ('2026-01-01') TO ('2026-01-02');
        CREATE TABLE seam_bench.spans_psql_p1 PARTITION OF seam_bench.spans_psql FOR VALUES FROM ('2026-01-02') TO ('2026-01-03');
        """

    struct Row {
        var traceID: [UInt8]
        var spanID: [UInt8]
        var parentID: [UInt8]?
        var name: String
        var kind: Int16
        var service: String
        var start: Date
        var end: Date
        var status: Int16
        var session: String
        var user: String?
        var route: String
        var attributes: String
        var resource: String
    }

    let rows: [Row]

    init(count: Int) {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {  // splitmix64: fast, deterministic
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
        let services = ["frontend", "checkout", "catalog", "cart", "payment", "recommendation"]
        let routes = ["/", "/product/{id}", "/cart", "/checkout", "/api/recommendations", "/search"]
        let base = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01 UTC
        rows = (0..<count).map { i in
            let service = services[i % services.count]
            let route = routes[Int(next() % UInt64(routes.count))]
            // Whole milliseconds, so the CSV baseline (ISO 8601, milliseconds) carries the same values.
            let start = base.addingTimeInterval((Double(i) * 86_400_000 * 1.9 / Double(max(count, 1))).rounded() / 1000)
            let attributes = """
                {"http.request.method":"GET","http.route":"\(route)","http.response.status_code":200,\
                "url.path":"/product/\(next() % 10_000)","server.address":"shop.example","server.port":443,\
                "user_agent.original":"Mozilla/5.0 (X11; Linux x86_64)","client.address":"10.0.\(i % 256).\(next() % 256)",\
                "session.id":"s-\(i / 20)","enduser.id":"u-\(i / 200)","network.protocol.version":"1.1",\
                "app.cart.items":\(next() % 9),"app.experiment":"reco-v2","app.region":"eu-west","app.request.bytes":\(next() % 100_000)}
                """
            return Row(
                traceID: bytes(16), spanID: bytes(8), parentID: i % 4 == 0 ? nil : bytes(8),
                name: "GET \(route)", kind: 2, service: service, start: start,
                end: start.addingTimeInterval(Double(next() % 500) / 1000), status: i % 50 == 0 ? 2 : 0,
                session: "s-\(i / 20)", user: i % 3 == 0 ? nil : "u-\(i / 200)", route: route,
                attributes: attributes,
                resource: #"{"service.name":"\#(service)","service.version":"1.4.2","host.name":"node-\#(i % 8)","deployment.environment":"prod"}"#)
        }
    }

    func write(to w: BinaryCopyWriter) throws {
        for row in rows {
            try w.beginRow(fieldCount: 14)
            w.append(bytes: row.traceID)
            w.append(bytes: row.spanID)
            w.append(bytes: row.parentID)
            w.append(row.name)
            w.append(row.kind)
            w.append(row.service)
            w.append(row.start)
            w.append(row.end)
            w.append(row.status)
            w.append(row.session)
            w.append(row.user)
            w.append(row.route)
            w.append(jsonb: row.attributes)
            w.append(jsonb: row.resource)
        }
    }

    func writeCSV(to path: String) throws {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        func hex(_ bytes: [UInt8]) -> String { "\\x" + bytes.map { String(format: "%02x", $0) }.joined() }
        func quoted(_ s: String) -> String { "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
        var out = ""
        out.reserveCapacity(rows.count * 900)
        for row in rows {
            let fields = [
                hex(row.traceID), hex(row.spanID), row.parentID.map(hex) ?? "", quoted(row.name), String(row.kind),
                row.service, formatter.string(from: row.start), formatter.string(from: row.end), String(row.status),
                row.session, row.user ?? "", quoted(row.route), quoted(row.attributes), quoted(row.resource),
            ]
            out += fields.joined(separator: ",")
            out += "\n"
        }
        try out.write(toFile: path, atomically: false, encoding: .utf8)
    }
}
