import SeamPostgres

/// What a `seam_meta.join_queue` item asks the join service to recompute.
///
/// Raw-table triggers write kinds `trace`, `exposure` and `event`; the stages write the
/// rest for what depends on the rows they changed. SQL defines the numbers once
/// (`seam_meta.join_kind(name)`, migration 0008) and this enum names them once; `verify`
/// checks at start that the two agree.
public enum QueueKind: Int16, Sendable, CaseIterable {
    /// Recompute `lake.traces` for `trace_id`.
    case trace = 1
    /// Recompute `lake.exposures` for experiment `key1` and unit `key2`.
    case exposure = 2
    /// Recompute `lake.event_facts` for `event_id` (and its visitor's derived sessions that day).
    case event = 3
    /// Recompute `lake.sessions` for session `key1`.
    case session = 5
    /// `trace_id` changed: queue the tag events that name it.
    case traceChanged = 6
    /// Unit `key1` has new exposures from `at` on: queue its tag events since then.
    case unitChanged = 7

    /// Label for metrics and logs.
    public var label: String {
        switch self {
        case .trace: "trace"
        case .exposure: "exposure"
        case .event: "event"
        case .session: "session"
        case .traceChanged: "trace_changed"
        case .unitChanged: "unit_changed"
        }
    }

    /// Whether a key usually has many items pending at once, so that a claim that left
    /// items behind should also take its keys' other items (`SQL/claim.sql`): a session is
    /// queued by every batch of its events and traces, an exposure by every evaluation of its
    /// unit. A trace's or an event's items rarely outlive the claim that takes the first.
    var keysCollectItems: Bool {
        switch self {
        case .session, .exposure, .unitChanged: true
        case .trace, .traceChanged, .event: false
        }
    }

    /// The queue columns that identify the key an item asks to recompute.
    var keyColumns: [String] {
        switch self {
        case .trace, .traceChanged: ["trace_id"]
        case .event: ["event_id"]
        case .exposure: ["key1", "key2"]
        case .session, .unitChanged: ["key1"]
        }
    }
}

extension QueueKind {
    /// SQL and Swift disagree on a kind's number: the worker would claim items nothing
    /// queues, and leave the queued ones stranded.
    public struct Mismatch: Error, CustomStringConvertible {
        public var description: String
    }

    /// Checks that `seam_meta.join_kind` gives every kind the number Swift gives it.
    static func verify(on c: PostgresConnection) throws {
        for kind in allCases {
            let number = try c.query("SELECT seam_meta.join_kind(\(text: kind.label))").rows.first?[0].decode(Int16?.self) ?? nil
            guard number == kind.rawValue else {
                throw Mismatch(
                    description: "seam_meta.join_kind('\(kind.label)') is \(number.map(String.init) ?? "NULL") in the database, "
                        + "\(kind.rawValue) in this Seam: the lake's migrations and the binary do not match")
            }
        }
    }
}
