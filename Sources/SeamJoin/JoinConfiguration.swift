/// Settings of the join service.
public struct JoinConfiguration: Sendable {
    /// Data older than this (by its own time: span start, record time, event time) is stored
    /// raw and reported as late, but not joined; `seam join rebuild` joins it on request.
    public var horizon: Duration
    /// A derived session ends after this much inactivity (events without a client session id).
    public var sessionTimeout: Duration
    /// Pause between passes when the queue was empty.
    public var pollInterval: Duration
    /// Most queue items one stage transaction claims; bounds the work (and memory) per transaction.
    public var batchItems: Int

    public init(
        horizon: Duration = .seconds(7 * 86_400), sessionTimeout: Duration = .seconds(30 * 60),
        pollInterval: Duration = .milliseconds(200), batchItems: Int = 20_000
    ) {
        self.horizon = horizon
        self.sessionTimeout = sessionTimeout
        self.pollInterval = pollInterval
        self.batchItems = max(1, batchItems)
    }
}
