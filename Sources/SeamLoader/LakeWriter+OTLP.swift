import Foundation
import SeamLake
import SeamModel
import SeamOTLP
import SeamPostgres

/// Spans and log records into `lake.spans` and `lake.logs`.
extension LakeWriter {
    static let spanColumns = "trace_id, span_id, parent_span_id, trace_state, name, kind, service_name, start_time, end_time, status_code, status_message, session_id, user_id, http_route, http_method, http_status_code, scope_name, scope_version, attributes, resource, events, links, received_at"

    static let logColumns = "time, observed_time, trace_id, span_id, trace_flags, severity_number, severity_text, body, event_name, service_name, session_id, user_id, flag_key, flag_variant, flag_context_id, scope_name, attributes, resource, received_at"

    /// Stores spans (a span already stored is skipped); returns how many were new.
    func storeSpans(_ spans: [SpanRecord], on c: PostgresConnection) throws -> Int {
        try ensurePartitions(spans.map(\.startMicros), on: c)
        // Fast path: nearly every batch is new, so COPY straight into the lake. A span stored
        // before (a client retry) makes the COPY fail on the primary key; then the batch goes
        // through a staging table and INSERT … ON CONFLICT DO NOTHING instead.
        try c.executeScript("SAVEPOINT seam_spans_direct")
        do {
            let copied = try SpanCopy.copy(spans, into: "lake.spans", on: c)
            try c.executeScript("RELEASE SAVEPOINT seam_spans_direct")
            return copied
        } catch let error as PostgresError where error.isUniqueViolation {
            try c.executeScript("ROLLBACK TO SAVEPOINT seam_spans_direct")
        }
        try c.executeScript(
            "CREATE TEMP TABLE IF NOT EXISTS seam_stage_spans (LIKE lake.spans INCLUDING DEFAULTS) ON COMMIT DELETE ROWS; TRUNCATE seam_stage_spans")
        try SpanCopy.copy(spans, into: "seam_stage_spans", on: c)
        return try c.execute(
            """
            INSERT INTO lake.spans (\(unescaped: Self.spanColumns))
            SELECT DISTINCT ON (trace_id, span_id, start_time) \(unescaped: Self.spanColumns) FROM seam_stage_spans
            ORDER BY trace_id, span_id, start_time, received_at
            ON CONFLICT DO NOTHING
            """)
    }

    /// Stores log records (an identical record already stored is skipped); returns how many were new.
    func storeLogs(_ logs: [LogRecordRow], on c: PostgresConnection) throws -> Int {
        try ensurePartitions(logs.map(\.timeMicros), on: c)
        try c.executeScript(
            """
            CREATE TEMP TABLE IF NOT EXISTS seam_stage_logs ON COMMIT DELETE ROWS AS SELECT \(unescaped: Self.logColumns) FROM lake.logs WITH NO DATA;
            TRUNCATE seam_stage_logs
            """)
        try c.copyIn("COPY seam_stage_logs (\(unescaped: Self.logColumns)) FROM STDIN (FORMAT binary)") { w in
            for l in logs {
                try w.beginRow(fieldCount: 19)
                w.append(unixMicroseconds: l.timeMicros)
                w.append(unixMicroseconds: l.observedMicros)
                w.append(bytes: l.traceID)
                w.append(bytes: l.spanID)
                w.append(int32: l.traceFlags)
                w.append(int16: l.severityNumber)
                w.append(l.severityText)
                w.append(l.body)
                w.append(l.eventName)
                w.append(l.serviceName)
                w.append(l.sessionID)
                w.append(l.userID)
                w.append(l.flagKey)
                w.append(l.flagVariant)
                w.append(l.flagContextID)
                w.append(l.scopeName)
                w.append(jsonb: l.attributes)
                w.append(jsonb: l.resource)
                w.append(unixMicroseconds: l.receivedMicros)
            }
        }
        // log_id: a digest of the record's content, so a record sent twice is stored once.
        return try c.execute(
            """
            INSERT INTO lake.logs (log_id, \(unescaped: Self.logColumns))
            SELECT DISTINCT ON (log_id, time) log_id, \(unescaped: Self.logColumns) FROM (
                SELECT substring(sha256(convert_to(json_build_array(
                           (extract(epoch FROM time) * 1000000)::bigint, (extract(epoch FROM observed_time) * 1000000)::bigint,
                           encode(trace_id, 'hex'), encode(span_id, 'hex'), trace_flags, severity_number, severity_text, body,
                           event_name, scope_name, attributes, resource)::text, 'UTF8')) FROM 1 FOR 16) AS log_id, *
                FROM seam_stage_logs
            ) digested
            ORDER BY log_id, time, received_at
            ON CONFLICT DO NOTHING
            """)
    }

    /// The days of `times` only (see `LakePartitions.ensure(on:days:)`); normally they exist
    /// already, created before the batch's transaction (`LakeWriter.write`).
    private func ensurePartitions(_ times: [Int64], on c: PostgresConnection) throws {
        try LakePartitions.ensure(on: c, days: Set(times.map { LakePartitions.day(micros: $0) }))
    }
}

/// Binary COPY of span records into a table with `lake.spans`' columns.
public enum SpanCopy {
    /// Copies `spans` into `table` (a staging table, or `lake.spans` itself for a baseline) and
    /// returns the number of rows copied. Blocking.
    @discardableResult
    public static func copy(_ spans: [SpanRecord], into table: String, on c: PostgresConnection) throws -> Int {
        try c.copyIn("COPY \(unescaped: table) (\(unescaped: LakeWriter.spanColumns)) FROM STDIN (FORMAT binary)") { w in
            for s in spans {
                try w.beginRow(fieldCount: 23)
                w.append(bytes: s.traceID)
                w.append(bytes: s.spanID)
                w.append(bytes: s.parentSpanID)
                w.append(s.traceState)
                w.append(s.name)
                w.append(s.kind)
                w.append(s.serviceName)
                w.append(unixMicroseconds: s.startMicros)
                w.append(unixMicroseconds: s.endMicros)
                w.append(s.statusCode)
                w.append(s.statusMessage)
                w.append(s.sessionID)
                w.append(s.userID)
                w.append(s.httpRoute)
                w.append(s.httpMethod)
                w.append(int32: s.httpStatusCode)
                w.append(s.scopeName)
                w.append(s.scopeVersion)
                w.append(jsonb: s.attributes)
                w.append(jsonb: s.resource)
                w.append(jsonb: s.events)
                w.append(jsonb: s.links)
                w.append(unixMicroseconds: s.receivedMicros)
            }
        }
    }
}
