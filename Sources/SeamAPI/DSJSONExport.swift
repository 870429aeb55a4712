import Foundation
import SeamModel
import SeamPostgres

/// A bandit's logged decisions as Vowpal Wabbit's DSJSON, one decision per line, for
/// `vw --cb_explore_adf --dsjson` (`seam export dsjson` and `GET /v1/bandits/{key}/dsjson`).
///
/// ```json
/// {"_label_cost":-3,"_label_probability":0.25,"_label_Action":2,"_labelIndex":1,
///  "Timestamp":"2026-11-25T10:00:00.000Z","Version":"1","EventId":"…",
///  "a":[2,1,3,4],"c":{"Context":{"region":"north"},"_multi":[{"Action":{"id":"category1"}},…]},
///  "p":[0.25,0.25,0.25,0.25]}
/// ```
///
/// - `_label_cost` is the reward negated (VW minimises cost); `_label_probability` the
///   logging policy's probability of the chosen action; `_label_Action` its 1-based position
///   in `_multi`, `_labelIndex` the 0-based one.
/// - `a` lists the actions' 1-based positions, the chosen one first, the others in the order
///   the service listed them; `p` their probabilities in the order of `a`.
/// - `c.Context` holds the decision's context: nested objects are flattened into dotted
///   names and arrays into `name[i]`, so that every feature is a string, number or boolean.
///   `c._multi` has one example per feasible action, in the service's order, with the
///   action's name as feature `Action.id`.
/// - Only decisions whose reward window has closed are written (run the `bandits` ETL job
///   first): their reward is final.
public enum DSJSONExport {
    /// Lines for the decisions of `bandit` with `from <= decided_at < to`, page by page
    /// (each page's lines end in a newline), in decision time order.
    public static func export(
        bandit: String, from: Date?, to: Date?, pool: PostgresPool, pageSize: Int = 2000,
        page: ([UInt8]) async throws -> Void
    ) async throws -> Int {
        var cursor: (time: String, id: [UInt8])?
        var written = 0
        while true {
            let after: SQLQuery = cursor.map { "AND (d.decided_at, d.decision_id) > (\(text: $0.time)::timestamptz, \($0.id))" } ?? ""
            let result = try await pool.query(
                """
                SELECT to_char(d.decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), d.decision_id, d.event_id,
                       to_char(d.decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), d.context::text,
                       array_to_json(d.actions)::text, array_to_json(d.probabilities)::text, d.chosen_index, r.reward
                FROM lake.decisions AS d JOIN lake.decision_rewards AS r USING (decision_id)
                WHERE d.bandit_key = \(text: bandit) AND r.window_closed
                  AND d.decided_at >= \(from.map { PostgresValue.timestamptz($0) } ?? .text("-infinity"))::timestamptz
                  AND d.decided_at < \(to.map { PostgresValue.timestamptz($0) } ?? .text("infinity"))::timestamptz
                  \(after)
                ORDER BY d.decided_at, d.decision_id LIMIT \(pageSize)
                """)
            if result.rows.isEmpty { return written }
            var w = JSONWriter(capacity: result.rows.count * 512)
            for row in result.rows {
                line(
                    eventID: try row[2].decode(String.self), timestamp: try row[3].decode(String.self),
                    context: Array(try row[4].decode(String.self).utf8), actions: Array(try row[5].decode(String.self).utf8),
                    probabilities: Array(try row[6].decode(String.self).utf8), chosen: try row[7].decode(Int.self),
                    reward: try row[8].decode(Double.self), into: &w)
                w.byte(UInt8(ascii: "\n"))
            }
            written += result.rows.count
            try await page(w.bytes)
            let last = result.rows[result.rows.count - 1]
            cursor = (try last[0].decode(String.self), try last[1].decode([UInt8].self))
            if result.rows.count < pageSize { return written }
        }
    }

    /// One DSJSON line (without its newline). `context`, `actions` and `probabilities` are
    /// the JSON texts of the stored columns.
    static func line(
        eventID: String, timestamp: String, context: [UInt8], actions: [UInt8], probabilities: [UInt8], chosen: Int, reward: Double,
        into w: inout JSONWriter
    ) {
        let names = (try? JSONTape.parse(actions))?.root.elements.compactMap(\.string) ?? []
        let p = (try? JSONTape.parse(probabilities))?.root.elements.compactMap(\.double) ?? []
        // Chosen first, then the others in the service's order (1-based positions).
        let order = [chosen] + names.indices.filter { $0 != chosen }
        w.raw(#"{"_label_cost":"#)
        w.number(reward == 0 ? 0 : -reward)
        w.raw(#","_label_probability":"#)
        w.number(p.indices.contains(chosen) ? p[chosen] : 0)
        w.raw(#","_label_Action":"#)
        w.number(Int64(truncatingIfNeeded: chosen &+ 1))
        w.raw(#","_labelIndex":"#)
        w.number(Int64(truncatingIfNeeded: chosen))
        w.raw(#","Timestamp":"#)
        w.quoted(timestamp)
        w.raw(#","Version":"1","EventId":"#)
        w.quoted(eventID)
        w.raw(#","a":["#)
        for (i, index) in order.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            w.number(Int64(truncatingIfNeeded: index &+ 1))
        }
        w.raw(#"],"c":{"Context":{"#)
        var first = true
        if let tape = try? JSONTape.parse(context) { flatten(tape.root, prefix: "", depth: 0, first: &first, into: &w) }
        w.raw(#"},"_multi":["#)
        for (i, name) in names.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            w.raw(#"{"Action":{"id":"#)
            w.quoted(name)
            w.raw("}}")
        }
        w.raw(#"]},"p":["#)
        for (i, index) in order.enumerated() {
            if i > 0 { w.byte(UInt8(ascii: ",")) }
            w.number(p.indices.contains(index) ? p[index] : 0)
        }
        w.raw("]}")
    }

    /// Writes `value`'s leaves as `"name":leaf` members: objects add `.key`, arrays `[i]`;
    /// nulls are left out. Depth is bounded by the stored JSON (JSONTape's limit).
    static func flatten(_ value: JSONTape.Value, prefix: String, depth: Int, first: inout Bool, into w: inout JSONWriter) {
        func member(_ name: String) {
            if !first { w.byte(UInt8(ascii: ",")) }
            first = false
            w.quoted(name)
            w.byte(UInt8(ascii: ":"))
        }
        switch value.kind {
        case .object:
            for (key, child) in value.members {
                flatten(child, prefix: prefix.isEmpty ? key : "\(prefix).\(key)", depth: depth + 1, first: &first, into: &w)
            }
        case .array:
            for (index, child) in value.elements.enumerated() {
                flatten(child, prefix: "\(prefix)[\(index)]", depth: depth + 1, first: &first, into: &w)
            }
        case .string:
            member(prefix)
            w.quoted(value.string ?? "")
        case .number:
            member(prefix)
            w.raw(json: value.bytes)
        case .true, .false:
            member(prefix)
            w.bool(value.kind == .true)
        case .null:
            break
        }
    }
}
