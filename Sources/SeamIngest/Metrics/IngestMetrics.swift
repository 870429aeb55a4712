import CoreMetrics
import SeamMetrics

/// Seam's ingestion metrics, recorded through swift-metrics (Prometheus in `seam serve`,
/// exposed at `GET /metrics`). The loader's are `LoaderMetrics`.
///
/// | metric | labels | meaning |
/// |---|---|---|
/// | `seam_http_requests_total` | path, status | requests answered, by matched route (`RequestMetrics`) |
/// | `seam_records_accepted_total` | signal | records acknowledged (spooled) |
/// | `seam_records_rejected_total` | signal, reason | records refused and told to the client (`invalid`) |
/// | `seam_spool_torn_tail_bytes` | | bytes of an unfinished write cut at the last start |
public struct IngestMetrics: Sendable {
    let handles: MetricHandles

    public init(handles: MetricHandles) { self.handles = handles }

    /// Records into the process-wide `MetricsSystem`.
    public static let global = IngestMetrics(handles: MetricHandles())

    func accepted(_ signal: String, _ count: Int) {
        guard count > 0 else { return }
        handles.counter("seam_records_accepted_total", [("signal", signal)]).increment(by: count)
    }

    func rejected(_ signal: String, reason: String, _ count: Int) {
        guard count > 0 else { return }
        handles.counter("seam_records_rejected_total", [("signal", signal), ("reason", reason)]).increment(by: count)
    }

    public func tornTail(bytes: Int) {
        handles.gauge("seam_spool_torn_tail_bytes").record(bytes)
    }
}
