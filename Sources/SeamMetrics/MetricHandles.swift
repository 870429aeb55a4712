import CoreMetrics
import Synchronization

/// swift-metrics handles made once per label and dimensions, and reused: services record
/// metrics on every request or batch, and making a handle asks the factory (and, for
/// Prometheus, its registry lock) anew. Every component's metrics go through one of these.
public final class MetricHandles: Sendable {
    private let factory: any MetricsFactory & Sendable
    private let counters = Mutex<[String: Counter]>([:])
    private let gauges = Mutex<[String: Gauge]>([:])
    private let timers = Mutex<[String: CoreMetrics.Timer]>([:])

    /// Records into `factory`, or into the process-wide `MetricsSystem` (looked up when a
    /// handle is first made) when nil.
    public init(factory: (any MetricsFactory & Sendable)? = nil) {
        self.factory = factory ?? GlobalFactory()
    }

    private static func key(_ label: String, _ dimensions: [(String, String)]) -> String {
        ([label] + dimensions.map { "\($0.0)=\($0.1)" }).joined(separator: "\u{1F}")
    }

    public func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Counter {
        Self.cached(in: counters, label, dimensions) { Counter(label: label, dimensions: dimensions, factory: factory) }
    }

    public func gauge(_ label: String, _ dimensions: [(String, String)] = []) -> Gauge {
        Self.cached(in: gauges, label, dimensions) { Gauge(label: label, dimensions: dimensions, factory: factory) }
    }

    public func timer(_ label: String, _ dimensions: [(String, String)] = []) -> CoreMetrics.Timer {
        Self.cached(in: timers, label, dimensions) { CoreMetrics.Timer(label: label, dimensions: dimensions, factory: factory) }
    }

    /// The handle for `label` and `dimensions` in `cache`, made by `make` the first time.
    private static func cached<Handle>(
        in cache: borrowing Mutex<[String: Handle]>, _ label: String, _ dimensions: [(String, String)], make: () -> Handle
    ) -> Handle {
        cache.withLock { cache in
            let key = key(label, dimensions)
            if let handle = cache[key] { return handle }
            let handle = make()
            cache[key] = handle
            return handle
        }
    }

    /// Records `seconds` on the timer `label`.
    public func record(_ label: String, _ dimensions: [(String, String)] = [], seconds: Double) {
        timer(label, dimensions).recordNanoseconds(Int64((seconds * 1e9).rounded(.towardZero).clamped(to: 0...9e18)))
    }
}

extension Double {
    fileprivate func clamped(to range: ClosedRange<Double>) -> Double { isNaN ? 0 : Swift.min(Swift.max(self, range.lowerBound), range.upperBound) }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
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
