import CoreMetrics

/// The ETL's figures in `/metrics`.
public final class ETLMetrics: Sendable {
    public static let global = ETLMetrics()

    public init() {}

    func record(_ report: JobRunner.Report) {
        let job = report.job.rawValue
        Counter(label: "seam_etl_runs_total", dimensions: [("job", job), ("status", report.status.rawValue)]).increment()
        guard report.status == .succeeded else { return }
        Counter(label: "seam_etl_rows_total", dimensions: [("job", job)]).increment(by: report.rows)
        Timer(label: "seam_etl_run_seconds", dimensions: [("job", job)]).recordNanoseconds(Int64(report.seconds * 1e9))
        Gauge(label: "seam_etl_last_success_timestamp_seconds", dimensions: [("job", job)])
            .record(report.window.map { $0.end.timeIntervalSince1970 } ?? 0)
    }
}
