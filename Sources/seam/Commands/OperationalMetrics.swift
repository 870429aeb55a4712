import Foundation
import SeamETL
import SeamJoin
import SeamMetrics
import SeamPostgres
import SeamSettings
import ServiceLifecycle

/// What `seam serve` adds to `/metrics` for operating it (the alert rules in
/// `ops/prometheus/seam-alerts.yml` and the dashboard in `ops/grafana/seam-dashboard.json`):
///
/// | metric | labels | meaning |
/// |---|---|---|
/// | `seam_database_up` | | 1 when PostgreSQL answered the last probe (every 15 s), else 0 |
/// | `seam_spool_capacity_bytes` | | `spool.max_bytes`: what `seam_spool_unloaded_bytes` may reach before ingestion answers 503 |
///
/// It also gives every counter the rules read a series from the start, at zero, so that an
/// alert on an increase sees the first one and the dashboard shows zeros, not gaps.
enum OperationalMetrics {
    static func registerBaselines(roles: Set<Role>, spoolCapacity: Int) {
        let handles = MetricHandles()
        if roles.contains(.ingest) {
            handles.gauge("seam_spool_capacity_bytes").record(spoolCapacity)
            handles.gauge("seam_spool_unloaded_bytes").record(0)
            handles.gauge("seam_spool_oldest_unloaded_age_seconds").record(0)
            for signal in ["traces", "logs", "events", "segment", "ga4"] {
                handles.counter("seam_records_accepted_total", [("signal", signal)]).increment(by: 0)
                handles.counter("seam_records_rejected_total", [("signal", signal), ("reason", "invalid")]).increment(by: 0)
            }
            handles.counter("seam_loader_errors_total").increment(by: 0)
        }
        if roles.contains(.join) {
            handles.gauge("seam_join_lag_seconds").record(0)
            handles.counter("seam_join_errors_total").increment(by: 0)
            for kind in QueueKind.allCases {
                handles.counter("seam_join_set_aside_total", [("kind", kind.label)]).increment(by: 0)
                handles.counter("seam_join_items_total", [("kind", kind.label)]).increment(by: 0)
            }
        }
        if roles.contains(.etl) {
            for job in JobName.allCases {
                for status in ["succeeded", "failed"] {
                    handles.counter("seam_etl_runs_total", [("job", job.rawValue), ("status", status)]).increment(by: 0)
                }
            }
        }
    }
}

/// Probes PostgreSQL every 15 seconds and records `seam_database_up`.
struct DatabaseProbe: Service {
    let pool: PostgresPool
    let interval: Duration = .seconds(15)

    func run() async throws {
        let gauge = MetricHandles().gauge("seam_database_up")
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            gauge.record(await pool.unreachable() == nil ? 1 : 0)
            try? await Task.sleep(for: interval)
        }
    }
}
