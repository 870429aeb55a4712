import SeamPostgres

/// Carries changes to the tag events that depend on them: a trace's facts to the events
/// naming it (first in the trace stage's own transaction, `propagateTraces`; then as
/// `traceChanged` items for the buckets another worker held), a unit's new exposures to its
/// events' variants (`unitChanged` items).
///
/// **In place where it can.** It first takes every bucket lock of the event stage
/// that no other worker holds (`QueueClaim.lockFreeBuckets`). No other transaction
/// computes the events of those buckets until this one commits, and the statements that
/// follow the locking see every event fact committed before it. For the events of those
/// buckets it rewrites only what the change touched, in `lake.event_facts` itself: the
/// trace columns, or the variants. When a trace's session would resolve an event's session
/// differently (which can renumber its visitor's derived sessions) the event is queued for
/// a full recomputation instead. Events not yet in `lake.event_facts` need nothing: their
/// own queue items are claimed after this transaction (which holds their buckets until it
/// commits) and see the change.
///
/// **Queued where it cannot.** Buckets another worker holds are being computed right now,
/// perhaps from the state before the change. Their events are looked up in the raw
/// `lake.tag_events` and queued: this runs in a transaction of its own, after the trace or
/// exposure change committed, so an event whose raw row is visible here is queued again,
/// and an event whose raw row commits later has its own queue item, claimed after the
/// change was visible. Either way no event keeps facts older than the change.
///
/// The SQL: `SQL/propagate_trace_facts.sql`, `SQL/propagate_variants.sql` (with
/// `SQL/units_since.sql`), and the queueing of `SQL/queue_trace_changed.sql`,
/// `SQL/queue_trace_events.sql` and `SQL/queue_unit_events.sql`.
enum PropagationStage {
    /// Propagates the claimed items; returns the event facts rewritten in place.
    static func run(kind: QueueKind, horizon: Duration, on c: PostgresConnection) throws -> Int {
        let held = try QueueClaim.lockFreeBuckets(of: .event, on: c)
        let buckets = SQLTemplate.Argument.value(.int32Array(held.buckets))
        switch kind {
        case .traceChanged:
            let updated = try updateTraceFacts(
                traces: "SELECT trace_id, bool_or(forced) AS forced FROM join_claim GROUP BY trace_id", buckets: held.buckets,
                horizon: horizon, on: c)
            if !held.all { try c.execute(try JoinSQL.queueTraceEvents.render(["buckets": buckets])) }
            return updated
        case .unitChanged:
            let units = try JoinSQL.unitsSince.render(["horizon": .value(.interval(horizon))])
            let updated = try c.pipeline(
                try JoinSQL.propagateVariants.statements([
                    "buckets": buckets, "units": .fragment(units),
                    "variants": .fragment(try EventStage.variants(events: "join_unit_events")),
                ])
            ).last?.scalar(Int.self) ?? 0
            if !held.all { try c.execute(try JoinSQL.queueUnitEvents.render(["buckets": buckets, "units": .fragment(units)])) }
            return updated
        default:
            preconditionFailure("not a propagation kind: \(kind)")
        }
    }

    /// For the trace stage, in its transaction: carries the changed traces that `traces`
    /// selects (`trace_id`, `at`, `forced`) to the event facts of every event bucket no
    /// other worker holds, in place. When another worker holds some, the traces are also
    /// queued as `traceChanged` items: the events of those buckets are looked for by the
    /// propagation stage in a later transaction, after this change committed (see above for
    /// why that order matters). Returns the event facts rewritten.
    static func propagateTraces(_ traces: SQLQuery, horizon: Duration, on c: PostgresConnection) throws -> Int {
        let held = try QueueClaim.lockFreeBuckets(of: .event, on: c)
        let updated = try updateTraceFacts(traces: traces, buckets: held.buckets, horizon: horizon, on: c)
        if !held.all { try c.execute(try JoinSQL.queueTraceChanged.render(["traces": .fragment(traces)])) }
        return updated
    }

    /// `SQL/propagate_trace_facts.sql` for the traces `traces` selects (`trace_id`, `forced`).
    private static func updateTraceFacts(traces: SQLQuery, buckets: [Int32], horizon: Duration, on c: PostgresConnection) throws -> Int {
        try c.pipeline(
            try JoinSQL.propagateTraceFacts.statements([
                "traces": .fragment(traces), "buckets": .value(.int32Array(buckets)), "horizon": .value(.interval(horizon)),
            ])
        ).last?.scalar(Int.self) ?? 0
    }
}
