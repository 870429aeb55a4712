import CoreMetrics

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
public struct JoinMetrics: Sendable {
    private let injected: (any MetricsFactory & Sendable)?

    /// Records into `factory`, or into the process-wide `MetricsSystem` when nil.
    public init(factory: (any MetricsFactory & Sendable)? = nil) { injected = factory }

    /// Records into the process-wide `MetricsSystem`, looked up at each use.
    public static var global: JoinMetrics { JoinMetrics() }

    private var factory: any MetricsFactory { injected ?? MetricsSystem.factory }

    func processed(_ kind: QueueKind, items: Int, late: Int) {
        if items > 0 {
            Counter(label: "seam_join_items_total", dimensions: [("kind", kind.label)], factory: factory).increment(by: items)
        }
        if late > 0 {
            Counter(label: "seam_join_late_total", dimensions: [("kind", kind.label)], factory: factory).increment(by: late)
        }
    }

    func rows(_ table: String, _ count: Int) {
        guard count > 0 else { return }
        Counter(label: "seam_join_rows_total", dimensions: [("table", table)], factory: factory).increment(by: count)
    }

    func stage(_ kind: QueueKind, seconds: Double) {
        Timer(label: "seam_join_stage_seconds", dimensions: [("kind", kind.label)], factory: factory)
            .recordNanoseconds(Int64(seconds * 1e9))
    }

    func lag(seconds: Double) {
        Gauge(label: "seam_join_lag_seconds", factory: factory).record(seconds)
    }

    func setAside(_ kind: QueueKind, _ items: Int) {
        Counter(label: "seam_join_set_aside_total", dimensions: [("kind", kind.label)], factory: factory).increment(by: items)
    }

    func error() {
        Counter(label: "seam_join_errors_total", factory: factory).increment()
    }
}
