import CoreMetrics
import SeamMetrics

/// The ETL's figures in `/metrics`.
public struct ETLMetrics: Sendable {
    private let handles: MetricHandles

    public init(handles: MetricHandles = MetricHandles()) { self.handles = handles }

    /// Records into the process-wide `MetricsSystem`.
    public static let global = ETLMetrics()

    func record(_ report: JobRunner.Report) {
        let job = report.job.rawValue
        handles.counter("seam_etl_runs_total", [("job", job), ("status", report.status.rawValue)]).increment()
        guard report.status == .succeeded else { return }
        handles.counter("seam_etl_rows_total", [("job", job)]).increment(by: report.rows)
        handles.record("seam_etl_run_seconds", [("job", job)], seconds: report.seconds)
        handles.gauge("seam_etl_last_success_timestamp_seconds", [("job", job)]).record(report.window.map { $0.end.timeIntervalSince1970 } ?? 0)
    }
}
