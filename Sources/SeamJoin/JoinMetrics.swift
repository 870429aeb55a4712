import CoreMetrics
import SeamMetrics

/// The join service's metrics, through swift-metrics (Prometheus at `GET /metrics`).
///
/// | metric | labels | meaning |
/// |---|---|---|
/// | `seam_join_items_total` | kind | queue items taken (late ones included) |
/// | `seam_join_rows_total` | table | derived rows rewritten because they changed |
/// | `seam_join_late_total` | kind | items older than the horizon: stored raw, reported, not joined |
/// | `seam_join_lag_seconds` | | age of the oldest queue item (0 when caught up): how far the derived tables trail the raw ones |
/// | `seam_join_stage_seconds` | kind | duration of one stage transaction |
/// | `seam_join_errors_total` | | failed stage transactions (retried) |
/// | `seam_join_set_aside_total` | kind | queue items set aside because their key fails to compute (`seam_meta.join_set_aside`) |
/// | `seam_join_hashed_claims_total` | kind | backlog claims read by hash joins rather than key by key (`Lookups.hashed`) |
/// | `seam_join_index_rebuilds_total` | table | backlog claims that dropped a derived table's indexes and built them again after writing (`IndexRebuild`) |
public struct JoinMetrics: Sendable {
    private let handles: MetricHandles

    public init(handles: MetricHandles) { self.handles = handles }

    /// Records into `factory`, or into the process-wide `MetricsSystem` when nil.
    public init(factory: (any MetricsFactory & Sendable)? = nil) { handles = MetricHandles(factory: factory) }

    /// Records into the process-wide `MetricsSystem`.
    public static let global = JoinMetrics()

    func processed(_ kind: QueueKind, items: Int, late: Int) {
        if items > 0 { handles.counter("seam_join_items_total", [("kind", kind.label)]).increment(by: items) }
        if late > 0 { handles.counter("seam_join_late_total", [("kind", kind.label)]).increment(by: late) }
    }

    func rows(_ table: String, _ count: Int) {
        guard count > 0 else { return }
        handles.counter("seam_join_rows_total", [("table", table)]).increment(by: count)
    }

    func stage(_ kind: QueueKind, seconds: Double) {
        handles.record("seam_join_stage_seconds", [("kind", kind.label)], seconds: seconds)
    }

    func lag(seconds: Double) {
        handles.gauge("seam_join_lag_seconds").record(seconds)
    }

    func setAside(_ kind: QueueKind, _ items: Int) {
        handles.counter("seam_join_set_aside_total", [("kind", kind.label)]).increment(by: items)
    }

    func hashedClaim(_ kind: QueueKind) {
        handles.counter("seam_join_hashed_claims_total", [("kind", kind.label)]).increment()
    }

    func indexRebuild(_ table: String) {
        handles.counter("seam_join_index_rebuilds_total", [("table", table)]).increment()
    }

    func error() {
        handles.counter("seam_join_errors_total").increment()
    }
}
