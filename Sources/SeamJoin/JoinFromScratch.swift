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
        public var total: Double { traces + exposures + eventFacts + sessions }
    }

    /// Creates `schema.traces`, `.exposures`, `.event_facts` and `.sessions` (dropping
    /// earlier ones) and returns how long each statement took.
    public static func build(into schema: String, sessionTimeout: Duration, on c: PostgresConnection) throws -> Timings {
        try c.executeScript(
            """
            DROP SCHEMA IF EXISTS \(identifier: schema) CASCADE;
            CREATE SCHEMA \(identifier: schema);
            """)
        let schema = SQLQuery.quoted(schema)
        var timings = Timings()
        func timed(_ statement: SQLQuery) throws -> Double {
            let started = ContinuousClock.now
            try c.execute(statement)
            return (ContinuousClock.now - started).seconds
        }
        timings.traces = try timed(
            """
            CREATE TABLE \(unescaped: schema).traces (\(unescaped: TraceStage.columns)) AS
            \(unescaped: TraceStage.compute(spans: "SELECT \(TraceStage.spanColumns) FROM lake.spans s"))
            """)
        timings.exposures = try timed(
            """
            CREATE TABLE \(unescaped: schema).exposures (\(unescaped: ExposureStage.columns)) AS
            \(unescaped: ExposureStage.compute(evaluations: """
                SELECT \(ExposureStage.evaluationColumns) FROM lake.logs l
                WHERE l.flag_key IS NOT NULL AND l.flag_variant IS NOT NULL AND \(ExposureStage.unit) IS NOT NULL
                """))
            """)
        try c.executeScript(
            """
            CREATE INDEX ON \(unescaped: schema).traces (trace_id);
            CREATE INDEX ON \(unescaped: schema).exposures (unit_id);
            """)
        timings.eventFacts = try timed(
            """
            CREATE TABLE \(unescaped: schema).event_facts (\(unescaped: EventStage.columns)) AS
            \(EventStage.compute(
                events: "SELECT * FROM lake.tag_events", traces: "\(schema).traces", exposures: "\(schema).exposures", lookups: false,
                timeout: sessionTimeout))
            """)
        timings.sessions = try timed(
            """
            CREATE TABLE \(unescaped: schema).sessions (\(unescaped: SessionStage.columns)) AS
            \(unescaped: SessionStage.compute(
                events: "SELECT \(SessionStage.eventColumns) FROM \(schema).event_facts f",
                traces: """
                    SELECT t.session_id, \(SessionStage.traceColumns) FROM \(schema).traces t WHERE t.session_id IS NOT NULL
                    UNION
                    SELECT e.session_id, \(SessionStage.traceColumns) FROM ev e JOIN \(schema).traces t ON t.trace_id = e.trace_id
                    """))
            """)
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
