/// Settings of the join service.
public struct JoinConfiguration: Sendable {
    /// Data older than this (by its own time: span start, record time, event time) is stored
    /// raw and reported as late, but not joined; `seam join rebuild` joins it on request.
    public var horizon: Duration
    /// A derived session ends after this much inactivity (events without a client session id).
    public var sessionTimeout: Duration
    /// Pause between passes when the queue was empty.
    public var pollInterval: Duration
    /// Most queue items one stage transaction claims while the join keeps up; bounds the
    /// work per transaction.
    public var batchItems: Int
    /// Most queue items a stage transaction claims when more than `batchItems` wait in its
    /// buckets, or after a claim left items behind (a backlog): such claims read each lake
    /// table once and hash it against the claim instead of looking every key up
    /// (`Lookups.hashed`). At most `batchItems` turns backlog claims off. The rows live in
    /// PostgreSQL (temporary tables, hashes spilled to disk past `work_mem`), not in Seam's
    /// memory. A million: a catch-up of a
    /// million tag events took 106-110 s in claims of a million, 112-119 s in claims of
    /// half that, whose second claim builds the rebuilt indexes again over the first one's
    /// rows (`indexRebuildWait`; without rebuilds both sizes took 128-130 s).
    public var backlogItems: Int
    /// How long a backlog claim waits for exclusive use of `lake.event_facts` or
    /// `lake.traces` when it adds at least half as many rows as the table holds: with it, the
    /// claim drops the table's indexes and builds them again after its writes instead of
    /// maintaining them row by row (migration 0019); readers of the table wait until the
    /// claim commits. Zero turns such rebuilds off.
    public var indexRebuildWait: Duration

    public init(
        horizon: Duration = .seconds(7 * 86_400), sessionTimeout: Duration = .seconds(30 * 60),
        pollInterval: Duration = .milliseconds(200), batchItems: Int = 20_000, backlogItems: Int = 1_000_000,
        indexRebuildWait: Duration = .seconds(2)
    ) {
        self.horizon = horizon
        self.sessionTimeout = sessionTimeout
        self.pollInterval = pollInterval
        self.batchItems = max(1, batchItems)
        self.backlogItems = max(0, backlogItems)
        self.indexRebuildWait = max(.zero, indexRebuildWait)
    }
}
