import CoreMetrics
import SeamMetrics

/// The loader's metrics, through swift-metrics (Prometheus at `GET /metrics`).
///
/// | metric | labels | meaning |
/// |---|---|---|
/// | `seam_records_rejected_total` | signal `load`, reason | records kept in lake.rejected after acknowledgement: `database` (PostgreSQL refused them, damaged spool bytes included) or `quarantined` (a frame that failed to store repeatedly) |
/// | `seam_spool_unloaded_bytes` | | bytes in spool segments not yet released by the loader |
/// | `seam_spool_oldest_unloaded_age_seconds` | | age of the oldest acknowledged record not yet in the lake (0 when caught up) |
/// | `seam_loader_rows_total` | table, outcome | rows `stored`, or `duplicate` (already in the lake) |
/// | `seam_loader_batch_seconds` | | duration of one loader transaction |
/// | `seam_loader_errors_total` | | failed loader transactions (retried) |
public struct LoaderMetrics: Sendable {
    private let handles: MetricHandles

    public init(handles: MetricHandles) { self.handles = handles }

    /// Records into the process-wide `MetricsSystem`.
    public static let global = LoaderMetrics(handles: MetricHandles())

    func rejected(reason: String, _ count: Int) {
        guard count > 0 else { return }
        handles.counter("seam_records_rejected_total", [("signal", "load"), ("reason", reason)]).increment(by: count)
    }

    func spool(unloadedBytes: Int, oldestAgeSeconds: Double) {
        handles.gauge("seam_spool_unloaded_bytes").record(unloadedBytes)
        handles.gauge("seam_spool_oldest_unloaded_age_seconds").record(oldestAgeSeconds)
    }

    func loaded(table: String, stored: Int, duplicates: Int) {
        if stored > 0 { handles.counter("seam_loader_rows_total", [("table", table), ("outcome", "stored")]).increment(by: stored) }
        if duplicates > 0 { handles.counter("seam_loader_rows_total", [("table", table), ("outcome", "duplicate")]).increment(by: duplicates) }
    }

    func batch(seconds: Double) {
        handles.record("seam_loader_batch_seconds", seconds: seconds)
    }

    func loaderError() {
        handles.counter("seam_loader_errors_total").increment()
    }
}
