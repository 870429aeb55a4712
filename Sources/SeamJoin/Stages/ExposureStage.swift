import SeamPostgres

/// Recomputes `lake.exposures` for the claimed experiment × unit pairs from the
/// feature-flag evaluation records in `lake.logs`, then queues a `unitChanged` item per
/// unit so that its tag events pick up the variants.
enum ExposureStage {
    static let columns = """
        experiment_key, unit_id, unit_type, variant, first_exposed_at, last_exposed_at, session_id,
        trace_id, user_id, evaluation_count, variants, multiple_variants, updated_at
        """

    /// The unit of an evaluation record in `lake.logs` (alias `l`), and where it came from.
    static let unit = "coalesce(l.flag_context_id, l.user_id, l.session_id)"
    static let unitType = "CASE WHEN l.flag_context_id IS NOT NULL THEN 'context' WHEN l.user_id IS NOT NULL THEN 'user' ELSE 'session' END"
    /// The columns `compute` needs from an evaluation record `l`.
    static let evaluationColumns = """
        l.flag_key AS experiment_key, \(unit) AS unit_id, l.log_id, l.time, l.flag_variant AS variant,
        \(unitType) AS unit_type, l.session_id, l.trace_id, l.user_id
        """

    /// A query whose rows are `lake.exposures` rows (in `columns` order) from the
    /// evaluation records `evaluations` selects (`evaluationColumns`; every record of each
    /// experiment × unit it includes).
    static func compute(evaluations: String) -> String {
        """
        WITH evaluations AS MATERIALIZED (\(evaluations)
        ), firsts AS (
            SELECT DISTINCT ON (experiment_key, unit_id) *
            FROM evaluations ORDER BY experiment_key, unit_id, time, log_id
        ), totals AS (
            SELECT experiment_key, unit_id, count(*) AS evaluation_count, max(time) AS last_exposed_at,
                   array_agg(DISTINCT variant ORDER BY variant) AS variants
            FROM evaluations GROUP BY experiment_key, unit_id
        )
        SELECT f.experiment_key, f.unit_id, f.unit_type, f.variant, f.time, t.last_exposed_at, f.session_id,
               f.trace_id, f.user_id, t.evaluation_count::integer, t.variants, cardinality(t.variants) > 1, clock_timestamp()
        FROM firsts f JOIN totals t USING (experiment_key, unit_id)
        """
    }

    static func run(on c: PostgresConnection) throws -> Int {
        let stored = RowDiff.names(columns)
        // What tag events read of an exposure: the first variant and when it was served.
        let facts = ["variant", "first_exposed_at"]
        let units = "SELECT key1 AS experiment_key, key2 AS unit_id, bool_or(forced) AS forced FROM join_claim GROUP BY key1, key2"
        return try c.executeScript(
            """
            CREATE TEMP TABLE IF NOT EXISTS join_new_exposures (LIKE lake.exposures) ON COMMIT DELETE ROWS;
            CREATE TEMP TABLE IF NOT EXISTS join_changed_exposures (
                experiment_key text, unit_id text, at timestamptz, forced boolean, facts_changed boolean
            ) ON COMMIT DELETE ROWS;

            INSERT INTO join_new_exposures (\(unescaped: columns))
            \(unescaped: compute(evaluations: """
                SELECT l.* FROM (\(units)) AS u
                    CROSS JOIN LATERAL (
                        SELECT \(evaluationColumns) FROM lake.logs l
                        WHERE l.flag_key = u.experiment_key AND \(unit) = u.unit_id
                          AND l.flag_key IS NOT NULL AND l.flag_variant IS NOT NULL
                        OFFSET 0
                    ) AS l
                """));

            INSERT INTO join_changed_exposures
            SELECT k.experiment_key, k.unit_id, least(o.first_exposed_at, n.first_exposed_at), k.forced,
                   \(unescaped: RowDiff.differs(facts, "o", "n"))
            FROM (\(unescaped: units)) AS k
            LEFT JOIN LATERAL (
                SELECT * FROM lake.exposures o WHERE o.experiment_key = k.experiment_key AND o.unit_id = k.unit_id OFFSET 0
            ) AS o ON true
            LEFT JOIN join_new_exposures n ON n.experiment_key = k.experiment_key AND n.unit_id = k.unit_id
            WHERE \(unescaped: RowDiff.differs(stored, "o", "n"));

            DELETE FROM lake.exposures WHERE ctid = ANY(ARRAY(
                SELECT x.ctid FROM join_changed_exposures c
                CROSS JOIN LATERAL (
                    SELECT ctid FROM lake.exposures x WHERE x.experiment_key = c.experiment_key AND x.unit_id = c.unit_id OFFSET 0
                ) AS x));
            INSERT INTO lake.exposures (\(unescaped: columns))
            SELECT \(unescaped: RowDiff.prefixed(columns, "n"))
            FROM join_new_exposures n JOIN join_changed_exposures c USING (experiment_key, unit_id);

            INSERT INTO seam_meta.join_queue (kind, bucket, key1, at, forced)
            SELECT seam_meta.join_kind('unit_changed'), seam_meta.join_bucket(unit_id), unit_id, min(at), bool_or(forced)
            FROM join_changed_exposures WHERE facts_changed GROUP BY unit_id;
            SELECT count(*) FROM join_changed_exposures
            """
        ).scalar(Int.self)
    }
}
