import SeamPostgres

/// Recomputes `lake.sessions` for the claimed session ids from `lake.event_facts` and
/// `lake.traces`; a session with neither any more is deleted. The SQL:
/// `SQL/session_stage.sql` over `SQL/session_rows.sql`, `SQL/session_claimed_events.sql`,
/// `SQL/session_claimed_traces.sql` and `SQL/session_claimed.sql`.
enum SessionStage {
    /// `lake.sessions` rows for the event facts `events` and traces `traces` select (see
    /// `SQL/session_rows.sql`).
    static func rows(events: SQLQuery, traces: SQLQuery) throws -> SQLQuery {
        try JoinSQL.sessionRows.render(["events": .fragment(events), "traces": .fragment(traces)])
    }

    /// The claimed sessions' event facts, traces and old rows are read as `lookups` says.
    static func run(lookups: Lookups, on c: PostgresConnection) throws -> Int {
        let sessions = try JoinSQL.sessionClaimed.render()
        let rows = try rows(
            events: try JoinSQL.sessionClaimedEvents.render(["sessions": .fragment(sessions), "per_key": lookups.argument]),
            traces: try JoinSQL.sessionClaimedTraces.render(["sessions": .fragment(sessions), "per_key": lookups.argument]))
        let stage = try JoinSQL.sessionStage.render(
            ["session_rows": .fragment(rows), "sessions": .fragment(sessions), "per_key": lookups.argument])
        return try lookups.applying(on: c) { try c.executeScript(stage).scalar(Int.self) }
    }
}
