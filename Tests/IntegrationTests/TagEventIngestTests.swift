import Foundation
import SeamIngest
import SeamLoader
import SeamModel
import SeamPostgres
import SeamSpool
import DatabaseSupport
import Testing

@Suite("Tag event ingestion", .requiresPostgres)
struct TagEventIngestTests {
    static func event(_ id: UUID = UUID(), name: String = "page_view", session: String = "s1", extra: String = "") -> String {
        #"{"event_id":"\#(id.uuidString.lowercased())","name":"\#(name)","session_id":"\#(session)"\#(extra)}"#
    }

    @Test("a mixed batch stores its valid events with every field, and reports the invalid one")
    func mixedBatch() async throws {
        try await IngestHarness.with { h in
            let id = UUID()
            let reply = try await h.post(
                #"""
                {"events":[
                  {"event_id":"\#(id.uuidString)","name":"product_view","session_id":"s9","anonymous_id":"a9","user_id":"u9",
                   "timestamp":"2026-11-21T10:00:00Z","sent_at":"2026-11-21T10:00:02Z",
                   "traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                   "page":{"url":"https://shop.example/p/7","path":"/p/7","referrer":"https://r.example/","title":"Boots"},
                   "properties":{"product_id":"7","value":89.5,"currency":"EUR"},"context":{"locale":"fr-FR"}},
                  {"event_id":"\#(UUID().uuidString)","name":"page_view","session_id":"s9","trace_id":"zz"},
                  \#(Self.event(session: "s10"))
                ]}
                """#)
            #expect(reply.status == 200)
            #expect(reply.json["accepted"] as? Int == 2)
            let rejected = try #require(reply.json["rejected"] as? [[String: Any]])
            #expect(rejected.count == 1)
            #expect(rejected.first?["index"] as? Int == 1)
            #expect((rejected.first?["reason"] as? String)?.hasPrefix("trace_id:") == true)

            #expect(try await h.loader.drain() >= 1)
            let c = try h.connect()
            #expect(try c.query("SELECT count(*) FROM lake.tag_events").scalar(Int.self) == 2)
            let row = try #require(
                try c.query(
                    """
                    SELECT name, session_id, anonymous_id, user_id, encode(trace_id, 'hex'), encode(parent_span_id, 'hex'),
                           page_url, page_path, page_referrer, page_title, properties->>'currency', (properties->>'value')::float8,
                           context->>'locale', client_timestamp, sent_at, received_at - occurred_at
                    FROM lake.tag_events WHERE event_id = $1
                    """, [.uuid(id)]
                ).first)
            #expect(try row[0].decode(String.self) == "product_view")
            #expect(try row[1].decode(String.self) == "s9")
            #expect(try row[2].decode(String.self) == "a9")
            #expect(try row[3].decode(String.self) == "u9")
            #expect(try row[4].decode(String.self) == "4bf92f3577b34da6a3ce929d0e0e4736")
            #expect(try row[5].decode(String.self) == "00f067aa0ba902b7")
            #expect(try row[6].decode(String.self) == "https://shop.example/p/7")
            #expect(try row[7].decode(String.self) == "/p/7")
            #expect(try row[8].decode(String.self) == "https://r.example/")
            #expect(try row[9].decode(String.self) == "Boots")
            #expect(try row[10].decode(String.self) == "EUR")
            #expect(try row[11].decode(Double.self) == 89.5)
            #expect(try row[12].decode(String.self) == "fr-FR")
            #expect(try row[13].decode(Date.self) == RFC3339.parse("2026-11-21T10:00:00Z"))
            #expect(try row[14].decode(Date.self) == RFC3339.parse("2026-11-21T10:00:02Z"))
            #expect(try row[15].decode(String.self) == "00:00:02")  // skew-corrected: 2 s before receipt
        }
    }

    @Test("retried events and duplicates within a batch are stored once")
    func duplicates() async throws {
        try await IngestHarness.with { h in
            let a = UUID()
            let b = UUID()
            let batch = #"{"events":[\#(Self.event(a)),\#(Self.event(b)),\#(Self.event(a))]}"#
            #expect(try await h.post(batch).status == 200)
            _ = try await h.loader.drain()
            #expect(try await h.post(batch).status == 200)  // the client retries
            _ = try await h.loader.drain()
            let c = try h.connect()
            #expect(try c.query("SELECT count(*) FROM lake.tag_events").scalar(Int.self) == 2)
            #expect(try c.query("SELECT count(*) FROM lake.tag_event_ids").scalar(Int.self) == 2)
            #expect(h.loader.totals.tagEventsStored == 2)
            #expect(h.loader.totals.tagEventDuplicates == 4)
        }
    }

    @Test("navigator.sendBeacon's text/plain is accepted; other content types are not")
    func contentTypes() async throws {
        try await IngestHarness.with { h in
            let beacon = try await h.post(#"{"events":[\#(Self.event())]}"#, headers: ["Content-Type": "text/plain;charset=UTF-8"])
            #expect(beacon.status == 200)
            let xml = try await h.post("<events/>", headers: ["Content-Type": "application/xml"])
            #expect(xml.status == 415)
            #expect(xml.json["error"] as? String != nil)
            let notJSON = try await h.post("{nope")
            #expect(notJSON.status == 400)
            let allBad = try await h.post(#"{"events":[{"name":"x"}]}"#)
            #expect(allBad.status == 400)
            #expect(try await h.request("GET", "/v1/events").status == 405)
        }
    }

    @Test("CORS preflight allows a browser page to post")
    func corsPreflight() async throws {
        try await IngestHarness.with { h in
            let reply = try await h.request(
                "OPTIONS", "/v1/events",
                headers: ["Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                          "Access-Control-Request-Headers": "content-type"])
            #expect(reply.status == 204 || reply.status == 200)
            #expect(reply.headers["access-control-allow-origin"] == "https://shop.example")
            #expect(reply.headers["access-control-allow-methods"]?.contains("POST") == true)
            let post = try await h.post(
                #"{"events":[\#(Self.event())]}"#, headers: ["Content-Type": "application/json", "Origin": "https://shop.example"])
            #expect(post.headers["access-control-allow-origin"] == "https://shop.example")
        }
    }

    @Test("with tokens configured, requests need a valid one; its source is recorded")
    func tokens() async throws {
        try await IngestHarness.with(configuration: .init(host: "127.0.0.1", port: 0, tokens: ["t-web": "web", "t-app": "app"])) { h in
            #expect(try await h.post(#"{"events":[\#(Self.event())]}"#).status == 401)
            let wrong = try await h.post(
                #"{"events":[\#(Self.event())]}"#, headers: ["Content-Type": "application/json", "Authorization": "Bearer nope"])
            #expect(wrong.status == 401)
            let bearer = UUID()
            #expect(
                try await h.post(
                    #"{"events":[\#(Self.event(bearer))]}"#,
                    headers: ["Content-Type": "application/json", "Authorization": "Bearer t-app"]).status == 200)
            let beacon = UUID()
            #expect(
                try await h.request("POST", "/v1/events?token=t-web", body: #"{"events":[\#(Self.event(beacon))]}"#,
                    headers: ["Content-Type": "text/plain"]).status == 200)
            _ = try await h.loader.drain()
            let c = try h.connect()
            #expect(try c.query("SELECT source FROM lake.tag_events WHERE event_id = $1", [.uuid(bearer)]).scalar(String.self) == "app")
            #expect(try c.query("SELECT source FROM lake.tag_events WHERE event_id = $1", [.uuid(beacon)]).scalar(String.self) == "web")
        }
    }

    @Test("a body over the limit gets 413")
    func bodyLimit() async throws {
        try await IngestHarness.with(configuration: .init(host: "127.0.0.1", port: 0, maximumBodyBytes: 2048)) { h in
            let padding = String(repeating: "x", count: 4000)
            let big = "{\"events\":[" + Self.event(extra: ",\"properties\":{\"pad\":\"\(padding)\"}") + "]}"
            let tooLarge = try await h.post(big)
            #expect(tooLarge.status == 413)
            let small = try await h.post("{\"events\":[" + Self.event() + "]}")
            #expect(small.status == 200)
        }
    }

    @Test("a full spool answers 503 with Retry-After, and accepts again once loaded")
    func spoolFull() async throws {
        try await IngestHarness.with(spoolBytes: 1 << 20) { h in
            var statuses: [Int] = []
            var retryAfter: String?
            for _ in 0..<40 {
                // Random padding, so LZ4 cannot shrink it below the spool's limit.
                let pad = Data((0..<45_000).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
                let reply = try await h.post("{\"events\":[" + Self.event(extra: ",\"properties\":{\"pad\":\"\(pad)\"}") + "]}")
                statuses.append(reply.status)
                if reply.status == 503 {
                    retryAfter = reply.headers["retry-after"]
                    break
                }
            }
            #expect(statuses.last == 503)
            #expect(retryAfter == "5")
            let acknowledged = statuses.filter { $0 == 200 }.count
            _ = try await h.loader.drain()
            #expect(try h.connect().query("SELECT count(*) FROM lake.tag_events").scalar(Int.self) == acknowledged)
            // The loader released the spool: posting works again.
            #expect(try await h.post(#"{"events":[\#(Self.event())]}"#).status == 200)
        }
    }

    @Test("an event PostgreSQL refuses goes to lake.rejected as the bytes the client sent; the rest of its batch is stored")
    func badRecordDoesNotBlock() async throws {
        try await IngestHarness.with { h in
            let good = UUID()
            let bad = UUID()
            // jsonb refuses a number beyond numeric's range, which JSON allows.
            let badEvent = Self.event(bad, extra: #","properties":{"note":1e200000}"#)
            let reply = try await h.post(#"{"events":[ \#(Self.event(good)) ,\#n  \#(badEvent)  ]}"#)
            #expect(reply.status == 200)
            // The NUL character (also valid JSON, also refused by jsonb) is refused at the
            // acknowledgement already, with its reason.
            let nul = try await h.post(#"{"events":[\#(Self.event(extra: #","properties":{"note":"a\u0000b"}"#))]}"#)
            #expect(nul.status == 400)
            #expect(((nul.json["rejected"] as? [[String: Any]])?.first?["reason"] as? String)?.hasPrefix("properties: contains \\u0000") == true)
            _ = try await h.loader.drain()
            let c = try h.connect()
            #expect(try c.query("SELECT count(*) FROM lake.tag_events WHERE event_id = $1", [.uuid(good)]).scalar(Int.self) == 1)
            #expect(try c.query("SELECT count(*) FROM lake.tag_events WHERE event_id = $1", [.uuid(bad)]).scalar(Int.self) == 0)
            let rejection = try #require(try c.query("SELECT source, reason, payload FROM lake.rejected").first)
            #expect(try rejection[0].decode(String.self) == "events")
            #expect(try rejection[1].decode(String.self).contains(bad.uuidString.lowercased()))
            // The event's own JSON object, byte for byte as it was in the batch.
            #expect(try rejection[2].decode([UInt8].self) == Array(badEvent.utf8))
            #expect(h.loader.totals.rejected == 1)
        }
    }

    @Test("progress is stored with the rows: a new loader and a replayed batch store nothing twice")
    func exactlyOnce() async throws {
        try await IngestHarness.with { h in
            for _ in 0..<5 { #expect(try await h.post(#"{"events":[\#(Self.event()),\#(Self.event())]}"#).status == 200) }
            _ = try await h.loader.drain()
            // A restarted loader starts from the stored progress.
            let fresh = SpoolLoader(spool: h.spool, pool: h.pool)
            #expect(try await fresh.drain() == 0)
            #expect(try h.connect().query("SELECT count(*) FROM lake.tag_events").scalar(Int.self) == 10)
            let progress = try h.connect().query("SELECT segment, \"offset\" FROM seam_meta.spool_progress WHERE spool_id = $1", [.text(h.spool.id)])
            #expect(progress.rowCount == 1)
        }
    }

    @Test("/metrics counts requests, accepted and rejected records, and loaded rows")
    func metrics() async throws {
        try await IngestHarness.with { h in
            #expect(try await h.post(#"{"events":[\#(Self.event()),{"name":"x"}]}"#).status == 200)
            _ = try await h.loader.drain()
            let reply = try await h.request("GET", "/metrics")
            #expect(reply.status == 200)
            #expect(reply.headers["content-type"]?.hasPrefix("text/plain") == true)
            for line in [
                #"seam_http_requests_total{path="/v1/events",status="200"} 1"#,
                #"seam_records_accepted_total{signal="events"} 1"#,
                #"seam_records_rejected_total{signal="events",reason="invalid"} 1"#,
                #"seam_loader_rows_total{table="tag_events",outcome="stored"} 1"#,
                "seam_loader_batch_seconds_count 1",
            ] {
                #expect(reply.body.contains(line), "missing \(line)")
            }
        }
    }

    @Test("health and readiness endpoints report the database and the spool")
    func health() async throws {
        try await IngestHarness.with { h in
            #expect(try await h.request("GET", "/healthz").status == 200)
            let ready = try await h.request("GET", "/readyz")
            #expect(ready.status == 200)
            #expect(ready.json["database"] as? String == "ok")
            #expect((ready.json["spool"] as? [String: Any])?["ok"] as? Bool == true)
        }
    }
}
