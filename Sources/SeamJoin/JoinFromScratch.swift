import SeamMetrics
import SeamPostgres

/// The derived tables computed from scratch over the whole raw lake, one SQL statement
/// per table, into tables of another schema: the baseline `seam bench join` compares the
/// incremental worker with, and a check that both give the same rows.
///
/// It uses the same per-key queries as the worker's stages, fed with every raw row
/// instead of the claimed keys' rows.
public enum JoinFromScratch {
    /// Seconds each table took, in dependency order.
    public struct Timings: Sendable {
        public var traces = 0.0
        public var exposures = 0.0
        public var eventFacts = 0.0
        public var sessions = 0.0
        /// Building the indexes the lake's tables have (beyond the two the build uses itself):
        /// what a rebuild that replaced the derived tables would still have to do.
        public var indexes = 0.0
        /// The four statements, without the indexes (the baseline as first defined).
        public var total: Double { traces + exposures + eventFacts + sessions }
        public var totalWithIndexes: Double { total + indexes }
    }

    /// Creates `schema.traces`, `.exposures`, `.event_facts` and `.sessions` (dropping
    /// earlier ones) and returns how long each statement took.
    public static func build(into schema: String, sessionTimeout: Duration, on c: PostgresConnection) throws -> Timings {
        try c.executeScript(
            """
            DROP SCHEMA IF EXISTS \(identifier: schema) CASCADE;
            CREATE SCHEMA \(identifier: schema);
            CREATE TABLE \(identifier: schema).traces (LIKE lake.traces);
            CREATE TABLE \(identifier: schema).exposures (LIKE lake.exposures);
            CREATE TABLE \(identifier: schema).event_facts (LIKE lake.event_facts);
            CREATE TABLE \(identifier: schema).sessions (LIKE lake.sessions);
            """)
        let schema = SQLQuery.quoted(schema)
        var timings = Timings()
        /// Fills `schema.table` with `rows` (in the table's column order); returns the seconds it took.
        func fill(_ table: String, _ rows: SQLQuery) throws -> Double {
            let started = ContinuousClock.now
            try c.execute("INSERT INTO \(unescaped: schema).\(unescaped: table) \(rows)")
            return (ContinuousClock.now - started).seconds
        }
        /// Statistics for a table just filled, which the next statements join: timed as part of its build.
        func analyze(_ table: String) throws -> Double {
            let started = ContinuousClock.now
            try c.executeScript("ANALYZE \(unescaped: schema).\(unescaped: table)")
            return (ContinuousClock.now - started).seconds
        }
        timings.traces = try fill("traces", try TraceStage.rows(spans: try JoinSQL.allSpans.render()))
        timings.exposures = try fill("exposures", try ExposureStage.rows(evaluations: try JoinSQL.allEvaluations.render()))
        try c.executeScript(
            """
            CREATE INDEX ON \(unescaped: schema).traces (trace_id);
            CREATE INDEX ON \(unescaped: schema).exposures (unit_id);
            """)
        // Without statistics the planner guessed the new traces table small and hashed the
        // tag events instead: at a million tag events (a fifth without a trace id) building
        // that hash took 47 s of a 74 s statement.
        timings.traces += try analyze("traces")
        timings.exposures += try analyze("exposures")
        timings.eventFacts = try fill(
            "event_facts",
            try EventStage.rows(
                events: "SELECT * FROM lake.tag_events", traceJoin: "LEFT JOIN \(unescaped: schema).traces t ON t.trace_id = e.trace_id",
                exposureJoin: "JOIN \(unescaped: schema).exposures x ON x.unit_id = k.unit_id",
                userExposureJoin: "JOIN \(unescaped: schema).exposures x ON x.resolved_user_id = k.unit_id", sessionTimeout: sessionTimeout))
        timings.eventFacts += try analyze("event_facts")
        timings.sessions = try fill(
            "sessions",
            try SessionStage.rows(
                events: """
                    SELECT f.event_id, f.name, f.occurred_at, f.session_id, f.session_source, f.anonymous_id, f.user_id, f.trace_id,
                           f.page_url, f.page_path, f.revenue, f.resolved_user_id
                    FROM \(unescaped: schema).event_facts f
                    """,
                traces: """
                    SELECT t.session_id, t.trace_id, t.start_time, t.end_time, t.duration_ms, t.error_count, t.user_id
                    FROM \(unescaped: schema).traces t WHERE t.session_id IS NOT NULL
                    UNION
                    SELECT e.session_id, t.trace_id, t.start_time, t.end_time, t.duration_ms, t.error_count, t.user_id
                    FROM ev e JOIN \(unescaped: schema).traces t ON t.trace_id = e.trace_id
                    """))
        // The lake tables' own indexes on the new tables, as a rebuild would need them
        // (the trace and unit indexes made above stand for traces_pkey and exposures_unit_idx).
        let definitions = try c.query(
            """
            SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace JOIN pg_class x ON x.oid = i.indexrelid
            WHERE n.nspname = 'lake' AND t.relname IN ('traces', 'exposures', 'event_facts', 'sessions')
              AND x.relname NOT IN ('traces_pkey', 'exposures_unit_idx')
            """).rows.map { try $0[0].decode(String.self) }
        let started = ContinuousClock.now
        for definition in definitions {
            // "CREATE [UNIQUE] INDEX name ON lake.table USING …" → the same, unnamed, on schema.table.
            guard let on = definition.range(of: " ON lake."), let index = definition.range(of: "INDEX ") else { continue }
            let statement = definition[..<index.upperBound] + "ON \(schema)." + definition[on.upperBound...]
            try c.executeScript(SQLQuery(stringLiteral: String(statement)))
        }
        timings.indexes = (ContinuousClock.now - started).seconds
        return timings
    }

    /// Rows that differ between `lake`'s derived tables and `schema`'s, per table
    /// (bookkeeping columns ignored); all zero when the incremental join equals the
    /// from-scratch one.
    public static func differences(from schema: String, on c: PostgresConnection) throws -> [String: Int] {
        var result: [String: Int] = [:]
        for table in ["traces", "exposures", "event_facts", "sessions"] {
            let other = "\(SQLQuery.quoted(schema)).\(table)"
            result[table] = try c.query(
                """
                SELECT count(*) FROM (
                    (SELECT to_jsonb(a) - 'updated_at' FROM lake.\(unescaped: table) a
                     EXCEPT ALL SELECT to_jsonb(b) - 'updated_at' FROM \(unescaped: other) b)
                    UNION ALL
                    (SELECT to_jsonb(b) - 'updated_at' FROM \(unescaped: other) b
                     EXCEPT ALL SELECT to_jsonb(a) - 'updated_at' FROM lake.\(unescaped: table) a)
                ) AS d
                """
            ).scalar(Int.self)
        }
        return result
    }
}
