import Foundation
import Logging
import SeamAPI
import SeamETL
import SeamLake
import SeamPostgres
import ServiceLifecycle
import DatabaseSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@Suite("Read API", .requiresPostgres)
struct ReadAPITests {
    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: String
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) }
    }

    /// The scenario, computed, behind a read API on a free port.
    func withAPI(tokens: Set<String> = [], _ body: (Int, PostgresPool) async throws -> Void) async throws {
        try await TestDatabase.withLake { pool in
            try await ETLScenario.load(ETLScenario.visitors, into: pool)
            try await ETLScenario.runAll(JobRunner(pool: pool, lookbackHours: 48), now: ETLScenario.base.addingTimeInterval(86_400))
            let api = ReadAPI(
                configuration: .init(
                    tokens: tokens, segments: ETLScenario.configuration.segments.map { ($0.name, $0.description, $0.predicate) }),
                pool: pool)
            let (ports, continuation) = AsyncStream<Int>.makeStream()
            let app = api.makeApplication(host: "127.0.0.1", port: 0, logger: Logger(label: "test.api")) { continuation.yield($0) }
            let group = ServiceGroup(services: [app], logger: Logger(label: "test"))
            let running = Task { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            do {
                try await body(port, pool)
            } catch {
                await group.triggerGracefulShutdown()
                _ = await running.result
                throw error
            }
            await group.triggerGracefulShutdown()
            _ = await running.result
        }
    }

    func get(_ port: Int, _ path: String, headers: [String: String] = [:]) async throws -> Reply {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        var fields: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { fields[name.lowercased()] = value }
        }
        return Reply(status: http.statusCode, headers: fields, body: String(decoding: data, as: UTF8.self))
    }

    @Test("every endpoint answers as schemas/openapi.yaml says, with ETags, CSV and clear errors")
    func endpoints() async throws {
        let openAPI = try OpenAPIValidator()
        try await withAPI { port, _ in
            func conforms(_ reply: Reply, _ template: String, _ status: String) throws {
                let schema = try #require(openAPI.responseSchema(path: template, status: status), "no schema for \(template) \(status)")
                let json = try #require(reply.json, "not JSON: \(reply.body)")
                let problems = openAPI.problems(json, schema)
                #expect(problems.isEmpty, "\(template) \(status): \(problems.prefix(5))")
            }
            let experiments = try await get(port, "/v1/experiments")
            #expect(experiments.status == 200)
            try conforms(experiments, "/v1/experiments", "200")
            let list = try #require((experiments.json as? [String: Any])?["experiments"] as? [[String: Any]])
            #expect(list.map { $0["key"] as? String } == ["checkout"])
            #expect(list.first?["units"] as? Int == 5)

            // ETag: the same body gets the same tag, and If-None-Match answers 304.
            let etag = try #require(experiments.headers["etag"])
            #expect(try await get(port, "/v1/experiments").headers["etag"] == etag)
            #expect(try await get(port, "/v1/experiments", headers: ["If-None-Match": etag]).status == 304)
            #expect(try await get(port, "/v1/experiments", headers: ["If-None-Match": "\"other\""]).status == 200)

            let results = try await get(port, "/v1/experiments/checkout/results")
            #expect(results.status == 200)
            try conforms(results, "/v1/experiments/{key}/results", "200")
            let rows = try #require((results.json as? [String: Any])?["results"] as? [[String: Any]])
            #expect(rows.count > 14)
            let filtered = try await get(port, "/v1/experiments/checkout/results?metric=purchase_conversion&dimension=overall")
            try conforms(filtered, "/v1/experiments/{key}/results", "200")
            let filteredRows = try #require((filtered.json as? [String: Any])?["results"] as? [[String: Any]])
            #expect(filteredRows.count == 2)
            #expect(filteredRows.first?["variant"] as? String == "control")
            #expect(filteredRows.last?["sum"] as? Double == 2)
            #expect(filtered.headers["etag"] != results.headers["etag"])

            // CSV: header and one line per row, same figures.
            let csv = try await get(
                port, "/v1/experiments/checkout/results?metric=purchase_conversion&dimension=overall", headers: ["Accept": "text/csv"])
            #expect(csv.status == 200)
            #expect(csv.headers["content-type"]?.hasPrefix("text/csv") == true)
            let lines = csv.body.split(separator: "\r\n").map(String.init)
            #expect(lines.count == 3)
            #expect(lines[0].hasPrefix("experiment_key,metric,variant,dimension,dimension_value,"))
            #expect(lines[2].hasPrefix("checkout,purchase_conversion,treatment,overall,,proportion,primary,false,false,3,2.0,"))
            #expect(csv.headers["etag"] != filtered.headers["etag"])

            // Errors name the parameter.
            let unknownMetric = try await get(port, "/v1/experiments/checkout/results?metric=nope")
            #expect(unknownMetric.status == 400)
            #expect(unknownMetric.body.contains("metric"))
            try conforms(unknownMetric, "/v1/experiments/{key}/results", "400")
            let badDimension = try await get(port, "/v1/experiments/checkout/results?dimension=country")
            #expect(badDimension.status == 400 && badDimension.body.contains("dimension"))
            let missing = try await get(port, "/v1/experiments/nope/results")
            #expect(missing.status == 404)
            try conforms(missing, "/v1/experiments/{key}/results", "404")

            let segments = try await get(port, "/v1/segments")
            #expect(segments.status == 200)
            try conforms(segments, "/v1/segments", "200")
            let names = ((segments.json as? [String: Any])?["segments"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
            #expect(names == ["all", "big_spenders"])

            let day = String(ETLScenario.at(0).prefix(10))
            let metrics = try await get(port, "/v1/segments/all/metrics?grain=hour&from=\(day)&to=\(day)T23:59:59Z")
            #expect(metrics.status == 200)
            try conforms(metrics, "/v1/segments/{name}/metrics", "200")
            let periods = try #require((metrics.json as? [String: Any])?["periods"] as? [[String: Any]])
            #expect(periods.count == 5)
            #expect(periods.map { $0["sessions"] as? Int ?? 0 }.reduce(0, +) == 6)
            let daily = try await get(port, "/v1/segments/big_spenders/metrics?from=\(day)", headers: ["Accept": "text/csv"])
            #expect(daily.status == 200 && daily.body.split(separator: "\r\n").count == 2)
            for (query, parameter) in [("grain=week", "grain"), ("from=yesterday", "from"), ("from=2026-11-20&to=2026-11-19", "from")] {
                let bad = try await get(port, "/v1/segments/all/metrics?\(query)")
                #expect(bad.status == 400, "\(query)")
                #expect(bad.body.contains(parameter), "\(query): \(bad.body)")
                try conforms(bad, "/v1/segments/{name}/metrics", "400")
            }
            #expect(try await get(port, "/v1/segments/nope/metrics").status == 404)
        }
    }

    @Test("read tokens: 401 without or with a wrong token, 200 with one")
    func tokens() async throws {
        try await withAPI(tokens: ["r-123", "r-456"]) { port, _ in
            for path in ["/v1/experiments", "/v1/experiments/checkout/results", "/v1/segments", "/v1/segments/all/metrics"] {
                let anonymous = try await get(port, path)
                #expect(anonymous.status == 401, "\(path)")
                #expect(anonymous.headers["www-authenticate"]?.hasPrefix("Bearer") == true)
                #expect(try await get(port, path, headers: ["Authorization": "Bearer wrong"]).status == 401)
                #expect(try await get(port, path, headers: ["Authorization": "Bearer r-456"]).status == 200, "\(path)")
            }
        }
    }
}
