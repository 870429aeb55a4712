import Foundation

/// Where a long-running service reads the time and waits: the system's clocks in
/// `seam serve`, a manual clock in tests (which then run without waiting). The join worker,
/// the loader and the ETL scheduler take one.
public protocol ServiceClock: Sendable {
    /// Wall time: cron schedules, the age of records.
    func now() -> Date
    /// Monotonic time since an arbitrary start: intervals and deadlines.
    var uptime: Duration { get }
    /// Suspends for `duration`; throws `CancellationError` when the task is cancelled first.
    func sleep(for duration: Duration) async throws
}

/// The system's clocks: `Date()` and `ContinuousClock`.
public struct SystemClock: ServiceClock {
    private static let start = ContinuousClock.now

    public init() {}

    public func now() -> Date { Date() }
    public var uptime: Duration { ContinuousClock.now - Self.start }
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}
