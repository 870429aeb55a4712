import Foundation
import SeamModel
import SeamPostgres
import Testing

/// The Segment-compatible tracking API end to end: HTTP, spool, loader, PostgreSQL.
@Suite("Segment tracking API into the lake", .requiresPostgres)
struct SegmentIngestTests {
    @Test("analytics.js-shaped calls (short paths, text/plain with writeKey, non-UUID messageId) are stored field by field; a retry with a new sentAt is stored once")
    func analyticsJSShape() async throws {
        try await IngestHarness.with { h in
            let page = #"{"type":"page","writeKey":"wk_site","anonymousId":"anon-7","messageId":"ajs-next-1764064800000-9f2c","name":"Boots","category":"Shop","properties":{"url":"https://shop.test/boots","path":"/boots","title":"Boots","referrer":"https://search.test/"},"context":{"userAgent":"Mozilla/5.0","locale":"fr-FR","campaign":{"source":"news"},"ip":"198.51.100.7","page":{"url":"https://shop.test/boots"}},"integrations":{"All":true},"timestamp":"2026-11-25T09:59:58.000Z","sentAt":"2026-11-25T10:00:00.000Z"}"#
            #expect(try await h.request("POST", "/v1/p", body: page, headers: ["Content-Type": "text/plain"]).status == 200)
            // The retry comes later with a new sentAt: the same message, stored once.
            let retried = page.replacingOccurrences(of: #""sentAt":"2026-11-25T10:00:00.000Z""#, with: #""sentAt":"2026-11-25T10:00:09.000Z""#)
            #expect(try await h.request("POST", "/v1/p", body: retried, headers: ["Content-Type": "text/plain"]).status == 200)
            let identify = #"{"writeKey":"wk_site","anonymousId":"anon-7","userId":"user-42","messageId":"ajs-next-1764064801000-aa01","traits":{"email":"x@shop.test","plan":"gold"}}"#
            #expect(try await h.request("POST", "/v1/i", body: identify, headers: ["Content-Type": "text/plain"]).status == 200)
            let bad = #"{"writeKey":"wk_site","userId":"user-42","messageId":"ajs-next-bad"}"#  // track without event
            #expect(try await h.request("POST", "/v1/t", body: bad, headers: ["Content-Type": "text/plain"]).status == 200)
            _ = try await h.loader.drain()

            let c = try h.connect()
            let rows = try c.query(
                """
                SELECT name, protocol, call_type, message_id, anonymous_id, user_id, page_name, page_url, page_path, page_title,
                       page_referrer, source, context->>'locale', context->'campaign'->>'source', integrations::text,
                       traits->>'plan', event_id::text, received_at - occurred_at
                FROM lake.tag_events ORDER BY call_type DESC
                """)
            #expect(rows.rowCount == 2)
            let p = rows.rows[0]
            #expect(try p[0].decode(String.self) == "page_view" && p[1].decode(String.self) == "segment" && p[2].decode(String.self) == "page")
            #expect(try p[3].decode(String.self) == "ajs-next-1764064800000-9f2c" && p[4].decode(String.self) == "anon-7")
            #expect(try p[5].decode(String?.self) == nil && p[6].decode(String.self) == "Shop Boots")
            #expect(try p[7].decode(String.self) == "https://shop.test/boots" && p[8].decode(String.self) == "/boots")
            #expect(try p[9].decode(String.self) == "Boots" && p[10].decode(String.self) == "https://search.test/")
            #expect(try p[11].decode(String.self) == "wk_site", "without tokens the write key is the source")
            #expect(try p[12].decode(String.self) == "fr-FR" && p[13].decode(String.self) == "news")
            #expect(try p[14].decode(String.self) == #"{"All": true}"#)
            #expect(try p[16].decode(String.self) == MessageIDs.eventID(protocol: "segment", messageID: "ajs-next-1764064800000-9f2c").uuidString.lowercased())
            #expect(try p[17].decode(String.self) == "00:00:02", "skew-corrected: 2 s before the first receipt")
            let i = rows.rows[1]
            #expect(try i[0].decode(String.self) == "identify" && i[5].decode(String.self) == "user-42" && i[15].decode(String.self) == "gold")

            let rejected = try c.query("SELECT source, reason, record_index, convert_from(payload, 'UTF8') FROM lake.rejected")
            #expect(rejected.rowCount == 1)
            #expect(try rejected.rows[0][0].decode(String.self) == "segment")
            #expect(try rejected.rows[0][1].decode(String.self).hasPrefix("event: required"))
            #expect(try rejected.rows[0][2].decode(Int.self) == 0)
            #expect(try rejected.rows[0][3].decode(String.self) == bad)
        }
    }
}
