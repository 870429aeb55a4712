import SeamPostgres

/// Recomputes `lake.exposures` for the claimed experiment × unit pairs from the
/// feature-flag evaluation records in `lake.logs`, then queues a `unitChanged` item per
/// unit so that its tag events pick up the variants. The SQL: `SQL/exposure_stage.sql` over
/// `SQL/exposure_rows.sql`, `SQL/exposure_claimed_evaluations.sql` and
/// `SQL/exposure_claimed_units.sql`.
enum ExposureStage {
    /// `lake.exposures` rows for the evaluations `evaluations` selects (see `SQL/exposure_rows.sql`).
    static func rows(evaluations: SQLQuery) throws -> SQLQuery {
        try JoinSQL.exposureRows.render(["evaluations": .fragment(evaluations)])
    }

    /// The claimed pairs' evaluations and old rows are read as `lookups` says. Returns the
    /// pairs rewritten.
    static func run(lookups: Lookups, on c: PostgresConnection) throws -> Int {
        let units = try JoinSQL.exposureClaimedUnits.render()
        let rows = try rows(
            evaluations: try JoinSQL.exposureClaimedEvaluations.render(["units": .fragment(units), "per_key": lookups.argument]))
        let stage = try JoinSQL.exposureStage.render(["exposure_rows": .fragment(rows), "units": .fragment(units), "per_key": lookups.argument])
        return try lookups.applying(on: c) { try c.executeScript(stage).scalar(Int.self) }
    }
}
