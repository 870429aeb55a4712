import CoreMetrics
import Foundation
import Synchronization

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
public final class IngestMetrics: Sendable {
    private let factory: any MetricsFactory & Sendable
    /// Metric handles by label and dimensions, made once: every request records metrics,
    /// and making a handle asks the factory (and, for Prometheus, its registry lock) anew.
    private let counters = Mutex<[String: Counter]>([:])
    private let gauges = Mutex<[String: Gauge]>([:])
    private let timers = Mutex<[String: CoreMetrics.Timer]>([:])

    public init(factory: any MetricsFactory & Sendable) {
        self.factory = factory
    }

    /// Records into the process-wide `MetricsSystem` (looked up when a handle is first made).
    public static let global = IngestMetrics(factory: GlobalFactory())

    private static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        ([label] + dimensions.map { "\($0.0)=\($0.1)" }).joined(separator: "\u{1F}")
    }

    private func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Counter {
        counters.withLock { cache in
            let key = Self.key(label, dimensions)
            if let counter = cache[key] { return counter }
            let counter = Counter(label: label, dimensions: dimensions, factory: factory)
            cache[key] = counter
            return counter
        }
    }

    private func gauge(_ label: String) -> Gauge {
        gauges.withLock { cache in
            if let gauge = cache[label] { return gauge }
            let gauge = Gauge(label: label, factory: factory)
            cache[label] = gauge
            return gauge
        }
    }

    private func timer(_ label: String) -> CoreMetrics.Timer {
        timers.withLock { cache in
            if let timer = cache[label] { return timer }
            let timer = CoreMetrics.Timer(label: label, factory: factory)
            cache[label] = timer
            return timer
        }
    }

    func request(path: String, status: Int) {
        counter("seam_http_requests_total", [("path", path), ("status", String(status))]).increment()
    }

    func accepted(_ signal: String, _ count: Int) {
        guard count > 0 else { return }
        counter("seam_records_accepted_total", [("signal", signal)]).increment(by: count)
    }

    func rejected(_ signal: String, reason: String, _ count: Int) {
        guard count > 0 else { return }
        counter("seam_records_rejected_total", [("signal", signal), ("reason", reason)]).increment(by: count)
    }

    func spool(unloadedBytes: Int, oldestAgeSeconds: Double) {
        gauge("seam_spool_unloaded_bytes").record(unloadedBytes)
        gauge("seam_spool_oldest_unloaded_age_seconds").record(oldestAgeSeconds)
    }

    public func tornTail(bytes: Int) {
        gauge("seam_spool_torn_tail_bytes").record(bytes)
    }

    func loaded(table: String, stored: Int, duplicates: Int) {
        if stored > 0 { counter("seam_loader_rows_total", [("table", table), ("outcome", "stored")]).increment(by: stored) }
        if duplicates > 0 { counter("seam_loader_rows_total", [("table", table), ("outcome", "duplicate")]).increment(by: duplicates) }
    }

    func batch(seconds: Double) {
        timer("seam_loader_batch_seconds").recordNanoseconds(Int64(seconds * 1e9))
    }

    func loaderError() {
        counter("seam_loader_errors_total").increment()
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
