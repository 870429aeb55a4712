import SeamPostgres

/// Recomputes `lake.traces` for the claimed trace ids from `lake.spans`; for traces whose
/// facts changed it queues their sessions (before and after) and, in the same transaction,
/// rewrites the trace columns of the event facts naming them
/// (`PropagationStage.propagateTraces`). The SQL: `SQL/trace_stage.sql` over
/// `SQL/trace_rows.sql` and `SQL/trace_claimed_spans.sql`.
enum TraceStage {
    /// `lake.traces` rows for the spans `spans` selects (see `SQL/trace_rows.sql`).
    static func rows(spans: SQLQuery) throws -> SQLQuery {
        try JoinSQL.traceRows.render(["spans": .fragment(spans)])
    }

    /// Returns the traces and the event facts rewritten.
    static func run(horizon: Duration, on c: PostgresConnection) throws -> (traces: Int, eventFacts: Int) {
        let rows = try rows(spans: try JoinSQL.traceClaimedSpans.render())
        let traces = try c.executeScript(try JoinSQL.traceStage.render(["trace_rows": .fragment(rows)])).scalar(Int.self)
        guard traces > 0 else { return (0, 0) }
        let eventFacts = try PropagationStage.propagateTraces(
            "SELECT trace_id, at, forced FROM join_changed_traces WHERE facts_changed", horizon: horizon, on: c)
        return (traces, eventFacts)
    }
}
