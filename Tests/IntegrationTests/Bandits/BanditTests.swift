import Foundation
import SeamAPI
import SeamETL
import SeamJoin
import SeamModel
import SeamPostgres
import Testing

/// A bandit's decisions from a service's OTLP post to lake.decisions, their rewards from the
/// events that follow, the off-policy estimates (against a hand computation) and the DSJSON
/// export.
@Suite("Bandits")
struct BanditTests {
    /// Yesterday 10:00 UTC: every reward window has closed by the time the job runs.
    static let base = Date(timeIntervalSince1970: ((Date().timeIntervalSince1970 / 86_400).rounded(.down) - 1) * 86_400 + 36_000)
    static let actions = ["category1", "category2", "bestsellers", "trending"]

    static func nanos(_ offset: Double) -> String { String(UInt64((base.timeIntervalSince1970 + offset) * 1e9)) }

    /// An OTLP/JSON log record of a decision.
    static func decision(
        at offset: Double, chosen: String, probabilities: [Double], session: String? = nil, user: String? = nil,
        actions: [String] = actions, eventID: String? = nil
    ) -> String {
        var attributes = [
            #"{"key":"bandit.key","value":{"stringValue":"reco"}}"#,
            #"{"key":"bandit.action","value":{"stringValue":"\#(chosen)"}}"#,
            #"{"key":"bandit.actions","value":{"arrayValue":{"values":[\#(actions.map { #"{"stringValue":"\#($0)"}"# }.joined(separator: ","))]}}}"#,
            #"{"key":"bandit.probabilities","value":{"arrayValue":{"values":[\#(probabilities.map { #"{"doubleValue":\#($0)}"# }.joined(separator: ","))]}}}"#,
            #"{"key":"bandit.context","value":{"kvlistValue":{"values":[{"key":"category","value":{"stringValue":"shoes"}},{"key":"season","value":{"stringValue":"winter"}},{"key":"geo","value":{"kvlistValue":{"values":[{"key":"region","value":{"stringValue":"north"}}]}}}]}}}"#,
        ]
        if let session { attributes.append(#"{"key":"session.id","value":{"stringValue":"\#(session)"}}"#) }
        if let user { attributes.append(#"{"key":"enduser.id","value":{"stringValue":"\#(user)"}}"#) }
        if let eventID { attributes.append(#"{"key":"bandit.event_id","value":{"stringValue":"\#(eventID)"}}"#) }
        return #"{"timeUnixNano":"\#(nanos(offset))","eventName":"bandit.decision","attributes":[\#(attributes.joined(separator: ","))]}"#
    }

    static func logs(_ records: [String]) -> String {
        #"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"reco"}}]},"scopeLogs":[{"logRecords":[\#(records.joined(separator: ","))]}]}]}"#
    }

    static func event(_ name: String, at offset: Double, session: String? = nil, user: String? = nil) -> String {
        let time = RFC3339.format(base.addingTimeInterval(offset))
        var fields = [#""event_id":"\#(UUID().uuidString)""#, #""name":"\#(name)""#, #""timestamp":"\#(time)""#]
        if let session { fields.append(#""session_id":"\#(session)""#) }
        if let user { fields.append(#""user_id":"\#(user)""#) }
        return "{\(fields.joined(separator: ","))}"
    }

    @Test("decisions are validated at acknowledgement, rewarded by the rules, estimated by IPS and SNIPS, and exported as DSJSON")
    func endToEnd() async throws {
        try await IngestHarness.with { h in
            let valid = [
                Self.decision(at: 0, chosen: "category1", probabilities: [0.4, 0.2, 0.2, 0.2], session: "s1", eventID: "d1"),
                Self.decision(at: 1, chosen: "category2", probabilities: [0.25, 0.25, 0.25, 0.25], session: "s2"),
                Self.decision(at: 2, chosen: "category1", probabilities: [0.5, 0.1, 0.2, 0.2], session: "s3"),
                Self.decision(at: 3, chosen: "bestsellers", probabilities: [0.1, 0.1, 0.6, 0.2], user: "u4"),
            ]
            let invalid = [
                Self.decision(at: 4, chosen: "category1", probabilities: [0.4, 0.2, 0.2, 0.1], session: "s5"),
                Self.decision(at: 5, chosen: "outlet", probabilities: [0.25, 0.25, 0.25, 0.25], session: "s6"),
                Self.decision(at: 6, chosen: "category1", probabilities: [0.4, 0.2, 0.2, 0.2]),
                Self.decision(at: 7, chosen: "trending", probabilities: [0.5, 0.5, 0, 0], session: "s8"),
            ]
            let reply = try await h.request("POST", "/v1/logs", body: Self.logs(valid + invalid))
            #expect(reply.status == 200)
            let partial = try #require(reply.json["partialSuccess"] as? [String: Any])
            #expect((partial["rejectedLogRecords"] as? String) == "4" || (partial["rejectedLogRecords"] as? Int) == 4, "\(partial)")
            let message = partial["errorMessage"] as? String ?? ""
            #expect(message.contains("bandit.probabilities: they sum to"), "\(message)")
            // The retry of the same records adds nothing.
            #expect(try await h.request("POST", "/v1/logs", body: Self.logs(valid)).status == 200)

            let events = [
                Self.event("add_to_basket", at: 60, session: "s1"),  // d1: 3
                Self.event("product_view", at: 30, session: "s1"),
                Self.event("product_view", at: 11, session: "s2"),  // d2: 1 (within 20 s)
                Self.event("product_view", at: 32, session: "s3"),  // d3: 0 (after 20 s)
                Self.event("product_view", at: 8, user: "u4"),  // d4: 1
                Self.event("add_to_basket", at: 3 + 7200, user: "u4"),  // outside the hour
            ]
            #expect(try await h.post(#"{"events":[\#(events.joined(separator: ","))]}"#).status == 200)
            _ = try await h.loader.drain()
            _ = try await JoinWorker(pool: h.pool).drain()

            let c = try h.connect()
            #expect(try c.query("SELECT count(*) FROM lake.decisions").scalar(Int.self) == 4)
            // The request's refused records are kept once, with every reason (OTLP's rule).
            let rejected = try c.query("SELECT reason FROM lake.rejected WHERE source = 'logs'").rows.map { try $0[0].decode(String.self) }
            #expect(rejected.count == 1)
            let reasons = rejected.first ?? ""
            #expect(reasons.contains("4 rejected"), "\(reasons)")
            #expect(reasons.contains("bandit.action: not one of bandit.actions"), "\(reasons)")
            #expect(reasons.contains("a decision needs a unit"), "\(reasons)")
            #expect(reasons.contains("the chosen action trending has probability 0"), "\(reasons)")
            let d1 = try #require(try c.query(
                "SELECT event_id, unit_id, unit_type, chosen_index, chosen_probability, context::text FROM lake.decisions WHERE event_id = 'd1'").first)
            #expect(try d1[1].decode(String.self) == "s1" && (try d1[2].decode(String.self)) == "session")
            #expect(try d1[3].decode(Int.self) == 0 && (try d1[4].decode(Double.self)) == 0.4)
            #expect(try d1[5].decode(String.self).contains(#""geo": {"region": "north"}"#))

            let configuration = ETLConfiguration(bandits: [BanditDefinition(key: "reco")])
            let report = await JobRunner(pool: h.pool, lookbackHours: 48).run(BanditsJob(configuration: configuration), trigger: .manual)
            #expect(report.status == .succeeded, "\(report)")
            let rewards = try c.query(
                """
                SELECT d.chosen_action, d.unit_id, r.reward, r.rewarded_by, r.window_closed
                FROM lake.decisions d JOIN lake.decision_rewards r USING (decision_id) ORDER BY d.decided_at
                """)
            #expect(try rewards.rows.map { try $0[2].decode(Double.self) } == [3, 1, 0, 1])
            #expect(try rewards.rows.map { try $0[3].decode(String?.self) } == ["add_to_basket", "product_view", nil, "product_view"])
            #expect(try rewards.rows.allSatisfy { try $0[4].decode(Bool.self) })

            // By hand: rewards 3, 1, 0, 1 with logged probabilities 0.4, 0.25, 0.5, 0.6.
            func estimate(_ policy: String, _ method: String) throws -> (value: Double?, low: Double?, high: Double?, matched: Int) {
                let row = try #require(try c.query(
                    "SELECT value, ci_low, ci_high, matched FROM lake.bandit_estimates WHERE policy = \(text: policy) AND method = \(text: method)").first,
                    "no \(policy) \(method)")
                return (try row[0].decode(Double?.self), try row[1].decode(Double?.self), try row[2].decode(Double?.self), try row[3].decode(Int.self))
            }
            func close(_ a: Double?, _ b: Double) { #expect(abs((a ?? .nan) - b) < 1e-12, "\(String(describing: a)) vs \(b)") }
            let logged = try estimate("logged", "logged")
            close(logged.value, 1.25)
            close(logged.high, 1.25 + 1.959963984540054 * (4.75 / 3 / 4).squareRoot())
            close(try estimate("action:category1", "ips").value, (3 / 0.4 + 0 / 0.5) / 4)  // 1.875
            close(try estimate("action:category1", "snips").value, (3 / 0.4) / (1 / 0.4 + 1 / 0.5))  // 1.666…
            // SNIPS' delta-method interval for category1: Σw²(r − V)² / (Σw)².
            let v = 7.5 / 4.5
            close(try estimate("action:category1", "snips").low, v - 1.959963984540054 * (6.25 * (3 - v) * (3 - v) + 4 * v * v).squareRoot() / 4.5)
            close(try estimate("action:category2", "ips").value, 1 / 0.25 / 4)
            close(try estimate("action:bestsellers", "ips").value, 1 / 0.6 / 4)
            close(try estimate("action:bestsellers", "snips").value, 1)
            let trending = try estimate("action:trending", "snips")
            #expect(trending.value == nil && trending.matched == 0)
            close(try estimate("action:trending", "ips").value, 0)

            // A late event (its session's basket, stored after the run) raises d3's reward at the
            // next incremental run, and the tables equal a recomputation from scratch.
            #expect(try await h.post(#"{"events":[\#(Self.event("add_to_basket", at: 100, session: "s3"))]}"#).status == 200)
            _ = try await h.loader.drain()
            _ = try await JoinWorker(pool: h.pool).drain()
            let runner = JobRunner(pool: h.pool, lookbackHours: 48)
            let later = await runner.run(BanditsJob(configuration: configuration), trigger: .manual, now: Date().addingTimeInterval(60))
            #expect(later.status == .succeeded && later.window?.start != nil, "\(later)")
            func snapshot() throws -> [String] {
                try c.query(
                    """
                    SELECT d.event_id || ' ' || r.reward || ' ' || coalesce(r.rewarded_by, '-') FROM lake.decisions d
                    JOIN lake.decision_rewards r USING (decision_id) ORDER BY d.decided_at
                    """
                ).rows.map { try $0[0].decode(String.self) }
                    + c.query("SELECT policy || ' ' || method || ' ' || coalesce(value::text, '-') FROM lake.bandit_estimates ORDER BY 1").rows.map {
                        try $0[0].decode(String.self)
                    }
            }
            let incremental = try snapshot()
            #expect(try c.query("SELECT r.reward FROM lake.decisions d JOIN lake.decision_rewards r USING (decision_id) WHERE d.unit_id = 's3'").scalar(Double.self) == 3)
            try c.execute("DELETE FROM seam_meta.etl_state")
            let full = await runner.run(BanditsJob(configuration: configuration), trigger: .manual, now: Date().addingTimeInterval(120))
            #expect(full.status == .succeeded && full.window?.start == nil)
            #expect(try snapshot() == incremental)

            // DSJSON: one line per decision, chosen action first in a and p.
            var text = ""
            let written = try await DSJSONExport.export(bandit: "reco", from: nil, to: nil, pool: h.pool, pageSize: 3) { text += String(decoding: $0, as: UTF8.self) }
            #expect(written == 4)
            let lines = text.split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(lines.count == 4)
            let first = try #require(lines[0])
            #expect(first["_label_cost"] as? Double == -3 && first["_label_probability"] as? Double == 0.4)
            #expect(first["_label_Action"] as? Int == 1 && first["_labelIndex"] as? Int == 0 && first["EventId"] as? String == "d1")
            let fourth = try #require(lines[3])
            #expect(fourth["a"] as? [Int] == [3, 1, 2, 4])
            #expect(fourth["p"] as? [Double] == [0.6, 0.1, 0.1, 0.2])
            #expect(fourth["_label_Action"] as? Int == 3 && fourth["_labelIndex"] as? Int == 2)
            let context = try #require((first["c"] as? [String: Any])?["Context"] as? [String: Any])
            #expect(context["geo.region"] as? String == "north" && context["category"] as? String == "shoes")
            #expect(((first["c"] as? [String: Any])?["_multi"] as? [Any])?.count == 4)
        }
    }
}
