import SeamPostgres

/// Recomputes `lake.traces` for the claimed trace ids from `lake.spans`; for traces whose
/// facts changed it queues their sessions (before and after) and, in the same transaction,
/// rewrites the trace columns of the event facts naming them
/// (`PropagationStage.propagateTraces`). The SQL: `SQL/trace_stage.sql` (or, into an empty
/// table, `SQL/trace_stage_into_empty.sql`; `IndexRebuild.intoEmpty`) over
/// `SQL/trace_rows.sql` and `SQL/trace_claimed_spans.sql`, then `SQL/trace_stage_end.sql`.
enum TraceStage {
    /// `lake.traces` rows for the spans `spans` selects (see `SQL/trace_rows.sql`).
    static func rows(spans: SQLQuery) throws -> SQLQuery {
        try JoinSQL.traceRows.render(["spans": .fragment(spans)])
    }

    /// Returns the traces and the event facts rewritten, the indexes of `lake.traces` built
    /// again (`rebuild`; 0 when they were maintained), and whether the rows went straight into
    /// the empty table. The claimed traces' spans and old rows are read as `lookups` says; the
    /// propagation to event facts always looks each changed trace up (it touches the events
    /// naming it, a few each).
    static func run(
        horizon: Duration, lookups: Lookups, rebuild: IndexRebuild, on c: PostgresConnection
    ) throws -> (traces: Int, eventFacts: Int, rebuiltIndexes: Int, intoEmpty: Bool) {
        let rows = try rows(spans: try JoinSQL.traceClaimedSpans.render(["per_key": lookups.argument]))
        let arguments = ["trace_rows": .fragment(rows), "per_key": lookups.argument].merging(rebuild.arguments) { $1 }
        let (traces, rebuilt, intoEmpty) = try lookups.applying(on: c) { () -> (Int, Int, Bool) in
            let intoEmpty = try rebuild.intoEmpty(.traces, on: c)
            let stage = intoEmpty ? JoinSQL.traceStageIntoEmpty : JoinSQL.traceStage
            guard let last = try c.pipeline(try stage.statements(arguments) + JoinSQL.traceStageEnd.statements()).last else {
                return (0, 0, intoEmpty)
            }
            return (try last.scalar(Int.self), try last.scalar(Int.self, column: 1), intoEmpty)
        }
        guard traces > 0 else { return (0, 0, rebuilt, intoEmpty) }
        let eventFacts = try PropagationStage.propagateTraces(
            "SELECT trace_id, at, forced FROM join_changed_traces WHERE facts_changed", horizon: horizon, on: c)
        return (traces, eventFacts, rebuilt, intoEmpty)
    }
}
