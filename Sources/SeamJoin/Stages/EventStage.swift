import SeamPostgres

/// Recomputes `lake.event_facts` for the claimed tag events, together with every other
/// session-less event of the same visitor on the same UTC day (their derived sessions
/// depend on each other), then queues the sessions the events belonged to before and after.
///
/// Claims are bucketed by visitor (anonymous id, else user id), so one worker holds all
/// of a visitor's events at a time.
enum EventStage {
    /// How an event `e` meets its trace `t`, and its units `k` their exposures `x`, in a
    /// claim: one index lookup each, or for a backlog claim a join (`Lookups`). The
    /// from-scratch build passes plain joins over whole tables.
    static func traceLookup(_ lookups: Lookups) -> SQLQuery {
        "LEFT JOIN LATERAL (SELECT * FROM lake.traces t WHERE t.trace_id = e.trace_id \(lookups.fragment)) AS t ON true"
    }
    static func exposureLookup(_ lookups: Lookups) -> SQLQuery {
        "CROSS JOIN LATERAL (SELECT * FROM lake.exposures x WHERE x.unit_id = k.unit_id \(lookups.fragment)) AS x"
    }
    /// How a resolved user `k` meets the exposures `x` of the units that stand for it.
    static func userExposureLookup(_ lookups: Lookups) -> SQLQuery {
        "CROSS JOIN LATERAL (SELECT * FROM lake.exposures x WHERE x.resolved_user_id = k.unit_id \(lookups.fragment)) AS x"
    }

    /// `lake.event_facts` rows for the tag events `events` selects (see
    /// `SQL/event_fact_rows.sql`), joined to traces and exposures as `traceJoin`,
    /// `exposureJoin` and `userExposureJoin` say, their ids' links in `lake.identities`
    /// probed one by one (`idProbes` `.perKey`) or read once and hashed (`.hashed`, the
    /// from-scratch build's way).
    static func rows(
        events: SQLQuery, traceJoin: SQLQuery, exposureJoin: SQLQuery, userExposureJoin: SQLQuery, idProbes: Lookups = .hashed,
        sessionTimeout: Duration
    ) throws -> SQLQuery {
        try JoinSQL.eventFactRows.render([
            "events": .fragment(events), "trace_join": .fragment(traceJoin), "id_probe": idProbes.argument,
            "variants": .fragment(try variants(events: "resolved", exposureJoin: exposureJoin, userExposureJoin: userExposureJoin)),
            "session_timeout": .value(.interval(sessionTimeout)),
        ])
    }

    /// Common table expressions ending in `variants (event_id, variants)` for the events of
    /// the table or CTE `events` (see `SQL/event_variants.sql`).
    static func variants(
        events: SQLQuery, exposureJoin: SQLQuery = exposureLookup(.perKey), userExposureJoin: SQLQuery = userExposureLookup(.perKey)
    ) throws -> SQLQuery {
        try JoinSQL.eventVariants.render([
            "events": .fragment(events), "exposure_join": .fragment(exposureJoin), "user_exposure_join": .fragment(userExposureJoin),
        ])
    }

    /// The SQL: `SQL/event_stage.sql` (or, into an empty table,
    /// `SQL/event_stage_into_empty.sql`; `IndexRebuild.intoEmpty`) over
    /// `SQL/event_fact_rows.sql` and `SQL/event_claimed_events.sql`, then
    /// `SQL/event_stage_end.sql`; the claimed events, their traces and exposures and their old
    /// rows are read as `lookups` says. Returns the events rewritten, the indexes of
    /// `lake.event_facts` built again (`rebuild`; 0 when they were maintained), and whether
    /// the rows went straight into the empty table.
    static func run(
        sessionTimeout: Duration, lookups: Lookups, rebuild: IndexRebuild, on c: PostgresConnection
    ) throws -> (events: Int, rebuiltIndexes: Int, intoEmpty: Bool) {
        let rows = try rows(
            events: try JoinSQL.eventClaimedEvents.render(["per_key": lookups.argument]), traceJoin: traceLookup(lookups),
            exposureJoin: exposureLookup(lookups), userExposureJoin: userExposureLookup(lookups), idProbes: lookups,
            sessionTimeout: sessionTimeout)
        let arguments = ["event_fact_rows": .fragment(rows), "per_key": lookups.argument].merging(rebuild.arguments) { $1 }
        return try lookups.applying(on: c) {
            let intoEmpty = try rebuild.intoEmpty(.eventFacts, on: c)
            let stage = intoEmpty ? JoinSQL.eventStageIntoEmpty : JoinSQL.eventStage
            guard let last = try c.pipeline(try stage.statements(arguments) + JoinSQL.eventStageEnd.statements()).last else {
                return (0, 0, intoEmpty)
            }
            return (try last.scalar(Int.self), try last.scalar(Int.self, column: 1), intoEmpty)
        }
    }
}
