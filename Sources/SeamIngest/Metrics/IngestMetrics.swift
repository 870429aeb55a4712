import CoreMetrics
import Foundation

/// Seam's ingestion and loading metrics, recorded through swift-metrics (Prometheus in
/// `seam serve`, exposed at `GET /metrics`).
///
/// | metric | labels | meaning |
/// |---|---|---|
/// | `seam_http_requests_total` | path, status | requests answered |
/// | `seam_records_accepted_total` | signal | records acknowledged (spooled) |
/// | `seam_records_rejected_total` | signal, reason | records refused: `invalid` (told to the client) or, with signal `load`, `database` (kept in lake.rejected after acknowledgement, damaged spool bytes included) |
/// | `seam_spool_unloaded_bytes` | | bytes in spool segments not yet released by the loader |
/// | `seam_spool_oldest_unloaded_age_seconds` | | age of the oldest acknowledged record not yet in the lake (0 when caught up) |
/// | `seam_spool_torn_tail_bytes` | | bytes of an unfinished write cut at the last start |
/// | `seam_loader_rows_total` | table, outcome | rows `stored`, or `duplicate` (already in the lake) |
/// | `seam_loader_batch_seconds` | | duration of one loader transaction |
/// | `seam_loader_errors_total` | | failed loader transactions (retried) |
public struct IngestMetrics: Sendable {
    private let factory: any MetricsFactory & Sendable

    public init(factory: any MetricsFactory & Sendable) {
        self.factory = factory
    }

    /// Records into the process-wide `MetricsSystem`.
    public static var global: IngestMetrics { IngestMetrics(factory: GlobalFactory()) }

    func request(path: String, status: Int) {
        Counter(label: "seam_http_requests_total", dimensions: [("path", path), ("status", String(status))], factory: factory).increment()
    }

    func accepted(_ signal: String, _ count: Int) {
        guard count > 0 else { return }
        Counter(label: "seam_records_accepted_total", dimensions: [("signal", signal)], factory: factory).increment(by: count)
    }

    func rejected(_ signal: String, reason: String, _ count: Int) {
        guard count > 0 else { return }
        Counter(label: "seam_records_rejected_total", dimensions: [("signal", signal), ("reason", reason)], factory: factory)
            .increment(by: count)
    }

    func spool(unloadedBytes: Int, oldestAgeSeconds: Double) {
        Gauge(label: "seam_spool_unloaded_bytes", factory: factory).record(unloadedBytes)
        Gauge(label: "seam_spool_oldest_unloaded_age_seconds", factory: factory).record(oldestAgeSeconds)
    }

    public func tornTail(bytes: Int) {
        Gauge(label: "seam_spool_torn_tail_bytes", factory: factory).record(bytes)
    }

    func loaded(table: String, stored: Int, duplicates: Int) {
        if stored > 0 {
            Counter(label: "seam_loader_rows_total", dimensions: [("table", table), ("outcome", "stored")], factory: factory)
                .increment(by: stored)
        }
        if duplicates > 0 {
            Counter(label: "seam_loader_rows_total", dimensions: [("table", table), ("outcome", "duplicate")], factory: factory)
                .increment(by: duplicates)
        }
    }

    func batch(seconds: Double) {
        Timer(label: "seam_loader_batch_seconds", factory: factory).recordNanoseconds(Int64(seconds * 1e9))
    }

    func loaderError() {
        Counter(label: "seam_loader_errors_total", factory: factory).increment()
    }
}

/// Forwards to whatever `MetricsSystem` is bootstrapped with, looked up at each use.
private struct GlobalFactory: MetricsFactory, Sendable {
    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        MetricsSystem.factory.makeCounter(label: label, dimensions: dimensions)
    }
    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        MetricsSystem.factory.makeFloatingPointCounter(label: label, dimensions: dimensions)
    }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        MetricsSystem.factory.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
    }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        MetricsSystem.factory.makeTimer(label: label, dimensions: dimensions)
    }
    func destroyCounter(_ handler: any CounterHandler) { MetricsSystem.factory.destroyCounter(handler) }
    func destroyRecorder(_ handler: any RecorderHandler) { MetricsSystem.factory.destroyRecorder(handler) }
    func destroyTimer(_ handler: any TimerHandler) { MetricsSystem.factory.destroyTimer(handler) }
}
