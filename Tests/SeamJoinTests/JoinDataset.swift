import Foundation
import TestSupport

/// A generated shop day with known truth: visitors with one or two visits (page views,
/// product views, add-to-basket, purchases), each page rendered by a three-service trace,
/// and feature-flag evaluations for two experiments. Deterministic for a seed.
struct JoinDataset {
    /// One raw row, as a JSON object for `jsonb_populate_recordset`.
    /// Immutable once built; `[String: Any]` holds only JSON values.
    struct Raw: @unchecked Sendable {
        enum Table: String { case spans, logs, tag_events }
        var table: Table
        var json: [String: Any]
        /// Data time in milliseconds since 1970 (for "in order" loading).
        var time: Int64
    }

    struct Trace {
        var id: String
        var route: String
        var start: Int64
        var end: Int64
        var errors: Int
        var session: String?
    }

    struct Event {
        var id: String
        var name: String
        var time: Int64
        var visitor: String
        var anonymousID: String
        var userID: String?
        var clientSession: String?
        var trace: Trace?
        var page: String?
        var value: Double?
    }

    struct Evaluation {
        var experiment: String
        var unit: String
        var unitType: String
        var variant: String
        var time: Int64
    }

    var raws: [Raw] = []
    var traces: [Trace] = []
    var events: [Event] = []
    var evaluations: [Evaluation] = []
    let sessionTimeoutMs: Int64 = 30 * 60 * 1000

    /// Visits start within four hours from `base` (04:00 UTC yesterday: one UTC day, inside the horizon).
    init(seed: UInt64, visitors: Int = 60) {
        var rng = SplitMix64(seed: seed)
        let midnight = Int64(Date().timeIntervalSince1970 / 86_400) * 86_400_000
        let base = midnight - 20 * 3_600_000
        for v in 0..<visitors {
            let anonymous = "anon-\(v)"
            let user: String? = v % 3 == 0 ? "user-\(v)" : nil
            let hasClientSession = v % 4 != 3
            var clock = base + Int64(rng.next(below: 120)) * 60_000 + Int64(rng.next(below: 1000))
            let visits = v % 2 == 1 ? 2 : 1
            for k in 0..<visits {
                let session: String? = hasClientSession ? "sess-\(v)-\(k)" : nil
                if v % 2 == 0 && k == 0 {
                    // Experiment "checkout", keyed by the anonymous id (feature_flag.context.id).
                    let variant = v % 4 == 0 ? "control" : "treatment"
                    evaluations.append(Evaluation(experiment: "checkout", unit: anonymous, unitType: "context", variant: variant, time: clock - 500))
                    evaluations.append(Evaluation(experiment: "checkout", unit: anonymous, unitType: "context", variant: variant, time: clock + 90_000))
                    if v == 2 {
                        // A unit served two variants: flagged.
                        evaluations.append(Evaluation(experiment: "checkout", unit: anonymous, unitType: "context", variant: "control", time: clock + 95_000))
                    }
                }
                var pages = 1 + Int(rng.next(below: 3))
                let products = Int(rng.next(below: 3))
                let basket = rng.next(below: 2) == 1
                let purchase = basket && rng.next(below: 2) == 1
                var steps: [String] = []
                while pages > 0 { steps.append("page_view"); pages -= 1 }
                steps += Array(repeating: "product_view", count: products)
                if basket { steps.append("add_to_basket") }
                if purchase { steps.append("purchase") }
                for (index, name) in steps.enumerated() {
                    clock += 30_000 + Int64(rng.next(below: 120)) * 1000 + Int64(rng.next(below: 1000))
                    if index == 1, let user {
                        // Experiment "banner", keyed by the user id, evaluated mid-visit: earlier events do not see it.
                        evaluations.append(Evaluation(experiment: "banner", unit: user, unitType: "user", variant: v % 2 == 0 ? "a" : "b", time: clock - 1000))
                    }
                    var trace: Trace?
                    if name == "page_view" || name == "product_view" {
                        let start = clock - 400
                        let duration = 100 + Int64(rng.next(below: 200))
                        let errors = rng.next(below: 10) == 0 ? 1 : 0
                        let route = name == "page_view" ? "/" : "/product/{id}"
                        trace = Trace(id: rng.hex(bytes: 16), route: route, start: start, end: start + duration, errors: errors, session: session)
                    }
                    // A user's first event of the first visit is anonymous: the login comes with
                    // the second, and the identity link resolves the first to the user.
                    let event = Event(
                        id: rng.uuid(), name: name, time: clock, visitor: anonymous, anonymousID: anonymous,
                        userID: k == 0 && index == 0 ? nil : user,
                        clientSession: session, trace: trace,
                        page: name == "page_view" ? "/page/\(v)/\(k)/\(index)" : nil,
                        value: name == "purchase" ? Double(10 + rng.next(below: 90)) + 0.5 : nil)
                    events.append(event)
                    if let trace { traces.append(trace) }
                }
                clock += 45 * 60_000  // the next visit starts after the inactivity timeout
            }
        }
        for trace in traces { raws += Self.spans(of: trace, rng: &rng) }
        for e in events {
            var properties: [String: Any] = [:]
            if let value = e.value { properties["value"] = value; properties["currency"] = "EUR" }
            var json: [String: Any] = [
                "event_id": e.id, "name": e.name, "occurred_at": Self.timestamp(e.time), "received_at": Self.timestamp(e.time + 200),
                "anonymous_id": e.anonymousID, "properties": properties, "context": [String: Any](),
            ]
            json["session_id"] = e.clientSession
            json["user_id"] = e.userID
            json["trace_id"] = e.trace.map { "\\x" + $0.id }
            json["page_path"] = e.page
            raws.append(Raw(table: .tag_events, json: json, time: e.time))
        }
        for (index, evaluation) in evaluations.enumerated() {
            var json: [String: Any] = [
                "log_id": "\\x" + String(format: "%032x", index + 1), "time": Self.timestamp(evaluation.time),
                "event_name": "feature_flag.evaluation", "flag_key": evaluation.experiment, "flag_variant": evaluation.variant,
                "attributes": [String: Any](), "resource": [String: Any](),
            ]
            if evaluation.unitType == "context" { json["flag_context_id"] = evaluation.unit } else { json["user_id"] = evaluation.unit }
            raws.append(Raw(table: .logs, json: json, time: evaluation.time))
        }
    }

    private static func spans(of trace: Trace, rng: inout SplitMix64) -> [Raw] {
        let root = rng.hex(bytes: 8)
        let child = rng.hex(bytes: 8)
        let grandchild = rng.hex(bytes: 8)
        func span(_ id: String, parent: String?, service: String, start: Int64, end: Int64, error: Bool, route: String?) -> Raw {
            var json: [String: Any] = [
                "trace_id": "\\x" + trace.id, "span_id": "\\x" + id, "name": "\(service) work", "service_name": service,
                "start_time": timestamp(start), "end_time": timestamp(end), "status_code": error ? 2 : 0, "kind": 2,
                "attributes": [String: Any](), "resource": [String: Any](), "events": [Any](), "links": [Any](),
                "received_at": timestamp(end + 300),
            ]
            json["parent_span_id"] = parent.map { "\\x" + $0 }
            json["session_id"] = trace.session
            json["http_route"] = route
            return Raw(table: .spans, json: json, time: start)
        }
        return [
            span(root, parent: nil, service: "web", start: trace.start, end: trace.end, error: false, route: trace.route),
            span(child, parent: root, service: "catalog", start: trace.start + 10, end: trace.end - 10, error: false, route: nil),
            span(grandchild, parent: child, service: "pricing", start: trace.start + 20, end: trace.end - 20, error: trace.errors > 0, route: nil),
        ]
    }

    static func timestamp(_ ms: Int64) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds))) + String(format: ".%03dZ", Int(ms - seconds * 1000))
    }

    // MARK: Truth

    /// Session id of every event: the client's, else derived from the visitor's gaps.
    var expectedSessions: [String: String] {
        var result: [String: String] = [:]
        let sessionless = events.filter { $0.clientSession == nil }
        for (visitor, list) in Dictionary(grouping: sessionless, by: \.visitor) {
            let sorted = list.sorted { ($0.time, $0.id) < ($1.time, $1.id) }
            var start: Int64 = 0
            var previous: Int64?
            for e in sorted {
                if previous == nil || e.time - previous! > sessionTimeoutMs { start = e.time }
                previous = e.time
                let formatter = DateFormatter()
                formatter.locale = Locale(identifier: "en_US_POSIX")
                formatter.timeZone = TimeZone(identifier: "UTC")
                formatter.dateFormat = "yyyyMMdd'T'HHmmss"
                let text = formatter.string(from: Date(timeIntervalSince1970: TimeInterval(start / 1000)))
                result[e.id] = "derived:\(visitor):\(text).\(String(format: "%03d", Int(start % 1000)))000"
            }
        }
        for e in events where e.clientSession != nil { result[e.id] = e.clientSession }
        return result
    }

    /// First exposure per experiment × unit.
    var expectedExposures: [String: (variant: String, time: Int64, count: Int, multiple: Bool, type: String)] {
        var result: [String: (variant: String, time: Int64, count: Int, multiple: Bool, type: String)] = [:]
        for (key, list) in Dictionary(grouping: evaluations, by: { "\($0.experiment)|\($0.unit)" }) {
            let first = list.min { $0.time < $1.time }!
            result[key] = (first.variant, first.time, list.count, Set(list.map(\.variant)).count > 1, first.unitType)
        }
        return result
    }

    /// `traces` lines as `JoinTests.traceLines` prints them.
    var expectedTraceLines: Set<String> {
        Set(traces.map { t in
            "\(t.id)|web|\(t.route)|3|\(t.errors)|{catalog,pricing,web}|\(t.session ?? "-")|\(t.end - t.start)"
        })
    }

    var expectedExposureLines: Set<String> {
        Set(expectedExposures.map { key, x in "\(key)|\(x.type)|\(x.variant)|\(x.count)|\(x.multiple)" })
    }

    var expectedEventLines: Set<String> {
        let sessions = expectedSessions
        let exposures = expectedExposures
        // Every id of a visitor who ever logged in stands for that user; any other for itself.
        func user(of id: String) -> String { events.first { $0.anonymousID == id && $0.userID != nil }?.userID ?? id }
        return Set(events.map { e in
            // Every event of a visitor who ever logged in stands for that user.
            let resolved = events.first { $0.anonymousID == e.anonymousID && $0.userID != nil }?.userID ?? "-"
            var variants: [String] = []
            for experiment in ["banner", "checkout"] {
                // The event's own units, and every exposed unit that stands for its user.
                let own = [e.userID, e.anonymousID, e.clientSession].compactMap { $0 }
                    .compactMap { unit in exposures["\(experiment)|\(unit)"] }
                let stitched = exposures.filter { key, _ in
                    let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
                    return resolved != "-" && parts[0] == experiment && user(of: parts[1]) == resolved
                }.map(\.value)
                let candidates = (own + stitched).filter { $0.time <= e.time }
                if let first = candidates.min(by: { $0.time < $1.time }) { variants.append("\(experiment)=\(first.variant)") }
            }
            let session = sessions[e.id]!
            let source = e.clientSession != nil ? "client" : "derived"
            let trace = e.trace.map { "true|\($0.route)|\($0.errors > 0)" } ?? "false|-|-"
            return "\(e.id)|\(session)|\(source)|\(trace)|\(variants.joined(separator: ","))|\(resolved)"
        })
    }

    var expectedSessionLines: Set<String> {
        let sessions = expectedSessions
        var lines: Set<String> = []
        for (session, list) in Dictionary(grouping: events, by: { sessions[$0.id]! }) {
            let sorted = list.sorted { ($0.time, $0.id) < ($1.time, $1.id) }
            func count(_ name: String) -> Int { list.filter { $0.name == name }.count }
            let revenue = list.compactMap(\.value).reduce(0, +)
            let traces = list.compactMap(\.trace)
            let pages = sorted.filter { $0.name == "page_view" }.compactMap(\.page)
            lines.insert(
                "\(session)|\(session.hasPrefix("derived:"))|\(list.count)|\(count("page_view"))|\(count("product_view"))|"
                    + "\(count("add_to_basket"))|\(count("purchase"))|\(String(format: "%.2f", revenue))|\(traces.count)|"
                    + "\(traces.filter { $0.errors > 0 }.count)|\(pages.first ?? "-")|\(pages.last ?? "-")|\(count("purchase") > 0)")
        }
        return lines
    }
}
