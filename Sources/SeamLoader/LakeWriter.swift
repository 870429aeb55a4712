import Foundation
import Logging
import SeamLake
import SeamModel
import SeamOTLP
import SeamPostgres
import SeamRecords
import SeamSpool

/// Writes spool entries into the lake in one transaction together with the loader's
/// progress, so that a crash at any point neither loses nor repeats a frame. Blocking: runs
/// on the loader connection's thread.
struct LakeWriter {
    /// What one batch did.
    struct Outcome: Sendable, Equatable {
        var spansStored = 0
        var spansReceived = 0
        var logsStored = 0
        var logsReceived = 0
        var tagEventsStored = 0
        var tagEventDuplicates = 0
        var rejected = 0
        var framesSkipped = 0
    }

    let spoolID: String
    let logger: Logger

    /// Spool entries decoded into records, ready to store: the CPU half of a batch, which
    /// the loader prepares for the next batch while the database stores the current one.
    struct Prepared: Sendable {
        var entries: [SpoolEntry]
        var next: SpoolPosition
        var events: [TagEventRecord] = []
        var spans: [SpanRecord] = []
        /// Each span's message as the client sent it (`spans[i]` came from `spanOrigins[i]`).
        var spanOrigins: [ArraySlice<UInt8>?] = []
        var logs: [LogRecordRow] = []
        /// Each log record's message as the client sent it, when known (`logs[i]` came from `logOrigins[i]`).
        var logOrigins: [ArraySlice<UInt8>?] = []
        var rejected: [Rejection] = []
        var oldestAppendedAt: Date?
    }

    /// Decodes `entries` (read from the spool up to `next`). Pure computation.
    func prepare(_ entries: [SpoolEntry], next: SpoolPosition) -> Prepared {
        var prepared = Prepared(entries: entries, next: next)
        if case .frame(let frame) = entries.first { prepared.oldestAppendedAt = frame.appendedAt }
        for entry in entries {
            switch entry {
            case .frame(let frame):
                let record: SpoolRecord
                let rows: SpoolRecordReader.Rows
                do {
                    record = try SpoolRecord.decode(frameKind: frame.kind, payload: frame.payload)
                    rows = try SpoolRecordReader.read(record)
                } catch {
                    // A frame that does not decode is kept whole in lake.rejected, not skipped.
                    prepared.rejected.append(
                        Rejection(
                            source: SpoolRecord.kind(ofFrame: frame.kind)?.source ?? "spool",
                            reason: "spool frame at \(frame.position) does not decode: \(error)", payload: frame.payload,
                            contentType: "application/octet-stream", receivedAt: frame.appendedAt))
                    continue
                }
                // Records the loader's judgement refuses (acknowledged under older rules, say)
                // are kept with the request in lake.rejected, never dropped.
                if rows.refused > 0 {
                    prepared.rejected.append(
                        Rejection(
                            source: record.kind.source, reason: "spool frame at \(frame.position): \(rows.refusal)", payload: record.body,
                            contentType: record.encoding.contentType, receivedAt: record.receivedAt))
                }
                for refused in rows.refusedAtAcknowledgement {
                    prepared.rejected.append(
                        Rejection(
                            source: refused.source, reason: refused.reason, payload: refused.payload, contentType: refused.contentType,
                            receivedAt: record.receivedAt, recordIndex: refused.recordIndex))
                }
                prepared.events += rows.events
                prepared.spans += rows.spans
                prepared.spanOrigins += rows.spanOrigins.map { Optional($0) }
                prepared.logs += rows.logs
                prepared.logOrigins += rows.logOrigins.count == rows.logs.count
                    ? rows.logOrigins.map { Optional($0) } : Array(repeating: nil, count: rows.logs.count)
            case .corrupt(let damage):
                logger.error("spool damage kept in lake.rejected", metadata: ["position": "\(damage.position)", "bytes": "\(damage.bytes.count)"])
                prepared.rejected.append(
                    Rejection(
                        source: "spool", reason: "corrupt spool bytes at \(damage.position) (\(damage.bytes.count) bytes): checksum or framing damaged on disk",
                        payload: damage.bytes, contentType: "application/octet-stream"))
            }
        }
        return prepared
    }

    /// A batch of one entry that stores nothing but the entry in `lake.rejected` with
    /// `error` as the reason (a poison frame), and the progress past it.
    func quarantined(_ entry: SpoolEntry, next: SpoolPosition, error: any Error) -> Prepared {
        var prepared = Prepared(entries: [entry], next: next)
        switch entry {
        case .frame(let frame):
            prepared.rejected = [
                Rejection(
                    source: SpoolRecord.kind(ofFrame: frame.kind)?.source ?? "spool",
                    reason: "spool frame at \(frame.position) failed to store repeatedly: \(error)", payload: frame.payload,
                    contentType: "application/octet-stream", receivedAt: frame.appendedAt)
            ]
        case .corrupt(let damage):
            prepared.rejected = [
                Rejection(
                    source: "spool", reason: "corrupt spool bytes at \(damage.position) failed to store: \(error)", payload: damage.bytes,
                    contentType: "application/octet-stream")
            ]
        }
        return prepared
    }

    /// Stores `entries` (read from the spool up to `next`) and records `next` as progress.
    func write(_ entries: [SpoolEntry], next: SpoolPosition, on connection: PostgresConnection) throws -> Outcome {
        try write(prepare(entries, next: next), on: connection)
    }

    /// The UTC days the batch writes rows on (events, spans, logs, rejections).
    static func days(_ prepared: Prepared) -> Set<Int64> {
        var days = Set<Int64>()
        for event in prepared.events { days.insert(LakePartitions.day(micros: Timestamps.micros(event.occurredAt))) }
        for span in prepared.spans { days.insert(LakePartitions.day(micros: span.startMicros)) }
        for log in prepared.logs { days.insert(LakePartitions.day(micros: log.timeMicros)) }
        days.insert(LakePartitions.day(micros: Timestamps.micros(Date())))
        for rejection in prepared.rejected {
            if let at = rejection.receivedAt { days.insert(LakePartitions.day(micros: Timestamps.micros(at))) }
        }
        return days
    }

    /// Stores a prepared batch and records its end as progress, in one transaction. The
    /// partitions of its days are created first, each in a statement of its own, so the
    /// batch's transaction locks only the partitions it writes.
    func write(_ prepared: Prepared, on connection: PostgresConnection) throws -> Outcome {
        try LakePartitions.ensure(on: connection, days: Self.days(prepared))
        return try connection.transaction { c in
            var outcome = Outcome()
            var prepared = prepared
            // A retry after a COMMIT whose acknowledgement was lost: skip what is already stored.
            if let done = try progress(on: c, lock: true), let first = prepared.entries.first, positionOf(first) < done {
                let fresh = prepared.entries.filter { positionOf($0) >= done }
                outcome.framesSkipped = prepared.entries.count - fresh.count
                prepared = prepare(fresh, next: prepared.next)
            }
            let events = prepared.events
            let spans = prepared.spans
            let logs = prepared.logs
            var rejected = prepared.rejected
            if !spans.isEmpty {
                outcome.spansReceived = spans.count
                let (stored, failed) = try storeRecords(
                    spans, origins: prepared.spanOrigins, source: "traces", receivedMicros: \.receivedMicros, on: c
                ) { try storeSpans($0, on: c) }
                outcome.spansStored = stored
                rejected += failed
            }
            if !logs.isEmpty {
                outcome.logsReceived = logs.count
                let (stored, failed) = try storeRecords(
                    logs, origins: prepared.logOrigins, source: "logs", receivedMicros: \.receivedMicros, on: c
                ) { try storeLogs($0, on: c) }
                outcome.logsStored = stored
                rejected += failed
            }
            if !events.isEmpty {
                let (stored, failed) = try storeTagEvents(events, on: c)
                outcome.tagEventsStored = stored
                outcome.tagEventDuplicates = events.count - stored - failed.count
                rejected += failed
            }
            for rejection in rejected {
                try c.execute(
                    """
                    INSERT INTO lake.rejected (received_at, source, reason, payload, record_index, content_type)
                    VALUES (coalesce($1, now()), $2, $3, $4, $5, $6)
                    """,
                    [
                        .timestamp(rejection.receivedAt), .text(rejection.source), .text(rejection.reason), .bytea(rejection.payload),
                        rejection.recordIndex.map { .int32(Int32(clamping: $0)) } ?? .null,
                        .text(rejection.contentType),
                    ])
            }
            outcome.rejected = rejected.count
            try c.execute(
                """
                INSERT INTO seam_meta.spool_progress (spool_id, segment, "offset") VALUES ($1, $2, $3)
                ON CONFLICT (spool_id) DO UPDATE SET segment = excluded.segment, "offset" = excluded."offset", updated_at = now()
                """,
                [.text(spoolID), .int64(Int64(prepared.next.segment)), .int64(Int64(prepared.next.offset))])
            return outcome
        }
    }

    /// The stored progress of this spool, if any.
    func progress(on c: PostgresConnection, lock: Bool = false) throws -> SpoolPosition? {
        let row = try c.query(
            "SELECT segment, \"offset\" FROM seam_meta.spool_progress WHERE spool_id = \(text: spoolID)\(unescaped: lock ? " FOR UPDATE" : "")"
        ).first
        guard let row else { return nil }
        guard let segment = UInt64(exactly: try row[0].decode(Int64.self)), let offset = UInt64(exactly: try row[1].decode(Int64.self))
        else { throw LoaderError(code: .invalidProgress, message: "seam_meta.spool_progress holds a negative position for spool \(spoolID)") }
        return SpoolPosition(segment: segment, offset: offset)
    }

    private func positionOf(_ entry: SpoolEntry) -> SpoolPosition { entry.position }

    struct Rejection: Sendable {
        var source: String
        var reason: String
        var payload: [UInt8]
        /// What `payload` is (`lake.rejected.content_type`).
        var contentType: String
        /// When Seam received the refused data; now when unknown (damaged spool bytes).
        var receivedAt: Date? = nil
        /// The record's position in its request, when a single record was refused.
        var recordIndex: Int? = nil
    }

    /// Stores `records` with `store` in one statement; when PostgreSQL refuses the batch for
    /// its data, retries record by record so that only the bad ones go to `lake.rejected`.
    private func storeRecords<R: Encodable>(
        _ records: [R], origins: [ArraySlice<UInt8>?], source: String, receivedMicros: KeyPath<R, Int64>, on c: PostgresConnection,
        store: ([R]) throws -> Int
    ) throws -> (stored: Int, rejected: [Rejection]) {
        try c.executeScript("SAVEPOINT seam_records")
        do {
            let stored = try store(records)
            try c.executeScript("RELEASE SAVEPOINT seam_records")
            return (stored, [])
        } catch let error as PostgresError where error.isDataError {
            logger.warning("\(source) batch refused; storing records one by one", metadata: ["error": "\(error.message)"])
            try c.executeScript("ROLLBACK TO SAVEPOINT seam_records")
        }
        var stored = 0
        var rejected: [Rejection] = []
        for (index, record) in records.enumerated() {
            try c.executeScript("SAVEPOINT seam_one_record")
            do {
                stored += try store([record])
                try c.executeScript("RELEASE SAVEPOINT seam_one_record")
            } catch let error as PostgresError where error.isDataError {
                try c.executeScript("ROLLBACK TO SAVEPOINT seam_one_record")
                // The record's message as the client sent it (protobuf; a JSON request's as its
                // protobuf form), or the row as JSON when that is unknown.
                let origin = index < origins.count ? origins[index] : nil
                rejected.append(
                    Rejection(
                        source: source, reason: "refused by PostgreSQL: \(error)", payload: origin.map { Array($0) } ?? Self.json(record),
                        contentType: origin == nil ? "application/json" : "application/x-protobuf",
                        receivedAt: Date(timeIntervalSince1970: Double(record[keyPath: receivedMicros]) / 1_000_000)))
            }
        }
        return (stored, rejected)
    }

    /// A refused record as JSON for `lake.rejected.payload`.
    static func json(_ record: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? Array(encoder.encode(record))) ?? []
    }

    static let tagEventColumns = "event_id, name, occurred_at, client_timestamp, sent_at, received_at, session_id, anonymous_id, user_id, trace_id, parent_span_id, page_url, page_path, page_referrer, page_title, properties, context, source, protocol, call_type, message_id, previous_id, group_id, page_name, traits, integrations"

    /// Stores new events (an `event_id` already in the lake is a retry: skipped). Returns
    /// how many were stored, and the events PostgreSQL refused, each with its reason.
    private func storeTagEvents(_ events: [TagEventRecord], on c: PostgresConnection) throws -> (Int, [Rejection]) {
        try LakePartitions.ensure(on: c, days: Set(events.map { LakePartitions.day(micros: Timestamps.micros($0.occurredAt)) }))
        try c.executeScript(
            """
            CREATE TEMP TABLE IF NOT EXISTS seam_stage_tag_events (LIKE lake.tag_events INCLUDING DEFAULTS) ON COMMIT DELETE ROWS;
            SAVEPOINT seam_tag_events
            """)
        do {
            try c.copyIn("COPY seam_stage_tag_events (\(unescaped: Self.tagEventColumns)) FROM STDIN (FORMAT binary)") { w in
                for event in events { try Self.append(event, to: w) }
            }
            let stored = try c.execute(
                """
                WITH batch AS (
                    SELECT DISTINCT ON (event_id) * FROM seam_stage_tag_events ORDER BY event_id, received_at, occurred_at
                ), fresh AS (
                    INSERT INTO lake.tag_event_ids (event_id, occurred_at, received_at)
                    SELECT event_id, occurred_at, received_at FROM batch
                    ON CONFLICT (event_id) DO NOTHING
                    RETURNING event_id
                )
                INSERT INTO lake.tag_events (\(unescaped: Self.tagEventColumns))
                SELECT \(unescaped: Self.tagEventColumns.split(separator: ",").map { "b." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", "))
                FROM batch b JOIN fresh f ON f.event_id = b.event_id
                """)
            try c.executeScript("RELEASE SAVEPOINT seam_tag_events")
            return (stored, [])
        } catch let error as PostgresError where error.isDataError {
            // One bad record must not block the rest: store them one by one and keep the
            // ones PostgreSQL refuses in lake.rejected with its reason.
            logger.warning("tag event batch refused; storing events one by one", metadata: ["error": "\(error.message)"])
            try c.executeScript("ROLLBACK TO SAVEPOINT seam_tag_events")
            return try storeOneByOne(events, on: c)
        }
    }

    private func storeOneByOne(_ events: [TagEventRecord], on c: PostgresConnection) throws -> (Int, [Rejection]) {
        var stored = 0
        var failed: [Rejection] = []
        var seen = Set<UUID>()
        for event in events where seen.insert(event.eventID).inserted {
            try c.executeScript("SAVEPOINT seam_one_event")
            do {
                let fresh = try c.query(
                    "INSERT INTO lake.tag_event_ids (event_id, occurred_at, received_at) VALUES ($1, $2, $3) ON CONFLICT (event_id) DO NOTHING RETURNING 1",
                    [.uuid(event.eventID), .timestamptz(event.occurredAt), .timestamptz(event.receivedAt)])
                if fresh.rowCount == 1 {
                    try c.execute(
                        "INSERT INTO lake.tag_events (\(unescaped: Self.tagEventColumns)) VALUES (\(SQLQuery.joined(Self.parameters(event).map { "\($0)" }, separator: ", ")))")
                    stored += 1
                }
                try c.executeScript("RELEASE SAVEPOINT seam_one_event")
            } catch let error as PostgresError where error.isDataError {
                try c.executeScript("ROLLBACK TO SAVEPOINT seam_one_event")
                failed.append(
                    Rejection(
                        source: "events", reason: "event \(event.eventID.uuidString.lowercased()) refused by PostgreSQL: \(error)",
                        payload: event.clientJSON ?? Self.json(event), contentType: "application/json", receivedAt: event.receivedAt))
            }
        }
        return (stored, failed)
    }

    /// One COPY row of `tagEventColumns`: the same values the one-by-one insert binds.
    static func append(_ e: TagEventRecord, to w: BinaryCopyWriter) throws {
        let values = parameters(e)
        try w.beginRow(fieldCount: values.count)
        for value in values { w.append(value) }
    }

    static func parameters(_ e: TagEventRecord) -> [PostgresValue] {
        [
            .uuid(e.eventID), .text(e.name), .timestamptz(e.occurredAt), .timestamp(e.clientTimestamp), .timestamp(e.sentAt),
            .timestamptz(e.receivedAt), .text(e.sessionID), .text(e.anonymousID), .text(e.userID),
            e.traceID.map { .bytea($0) } ?? .null, e.parentSpanID.map { .bytea($0) } ?? .null, .text(e.pageURL),
            .text(e.pagePath), .text(e.pageReferrer), .text(e.pageTitle), .jsonb(e.properties), .jsonb(e.context),
            .text(e.source), .text(e.protocol), .text(e.callType), .text(e.messageID), .text(e.previousID), .text(e.groupID),
            .text(e.pageName), e.traits.map { .jsonb($0) } ?? .null, e.integrations.map { .jsonb($0) } ?? .null,
        ]
    }
}

extension PostgresError {
    /// A refusal caused by the data itself (SQLSTATE classes 22 data exception, 23 integrity
    /// constraint, 54 program limit): retrying the same row cannot succeed.
    var isDataError: Bool {
        guard code == .server, let sqlState else { return false }
        return sqlState.hasPrefix("22") || sqlState.hasPrefix("23") || sqlState.hasPrefix("54")
    }
}

extension SpoolEntry {
    /// Where the entry starts in the spool.
    var position: SpoolPosition {
        switch self {
        case .frame(let frame): frame.position
        case .corrupt(let damage): damage.position
        }
    }
}
