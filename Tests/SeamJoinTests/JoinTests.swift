import Foundation
import Logging
import Prometheus
@testable import SeamJoin
import SeamMetrics
import SeamLake
import SeamPostgres
import Synchronization
import DatabaseSupport
import Testing
import TestSupport

@Suite("Join service", .requiresPostgres)
struct JoinTests {
    /// A fresh lake in its own database; `body` gets a pool on it.
    func withLake(_ body: (PostgresPool) async throws -> Void) async throws {
        try await TestDatabase.withLake(body)
    }

    /// Inserts raw rows as the loader would leave them: duplicates of stored rows are dropped by natural key.
    static func insert(_ rows: [JoinDataset.Raw], into pool: PostgresPool) async throws {
        for table in [JoinDataset.Raw.Table.spans, .logs, .tag_events] {
            let batch = rows.filter { $0.table == table }.map(\.json)
            guard !batch.isEmpty else { continue }
            let json = String(decoding: try JSONSerialization.data(withJSONObject: batch), as: UTF8.self)
            let columns: String
            switch table {
            case .spans:
                columns = "trace_id, span_id, parent_span_id, name, kind, service_name, start_time, end_time, status_code, session_id, user_id, http_route, attributes, resource, events, links, received_at"
            case .logs:
                columns = "log_id, time, event_name, flag_key, flag_variant, flag_context_id, user_id, session_id, trace_id, attributes, resource"
            case .tag_events:
                columns = "event_id, name, occurred_at, received_at, session_id, anonymous_id, user_id, trace_id, page_path, properties, context"
            }
            try await pool.execute(
                """
                INSERT INTO lake.\(unescaped: table.rawValue) (\(unescaped: columns))
                SELECT \(unescaped: columns) FROM jsonb_populate_recordset(NULL::lake.\(unescaped: table.rawValue), \(PostgresValue.jsonb(json)))
                ON CONFLICT DO NOTHING
                """)
        }
    }

    /// Every derived row as JSON text, without arrival and bookkeeping columns: equal
    /// snapshots mean equal derived tables.
    static func snapshot(_ pool: PostgresPool) async throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        let tables = [
            ("traces", "trace_id", "'updated_at' - 'first_seen' - 'last_seen'"),
            ("exposures", "experiment_key, unit_id", "'updated_at'"),
            ("event_facts", "event_id", "'updated_at' - 'received_at'"),
            ("sessions", "session_id", "'updated_at'"),
        ]
        for (table, key, drop) in tables {
            result[table] = try await pool.query("SELECT (to_jsonb(t) - \(unescaped: drop))::text FROM lake.\(unescaped: table) t ORDER BY \(unescaped: key)")
                .rows.map { try $0[0].decode(String.self) }
        }
        return result
    }

    static func traceLines(_ pool: PostgresPool) async throws -> Set<String> {
        try await lines(
            pool,
            """
            SELECT encode(trace_id, 'hex') || '|' || root_service || '|' || root_route || '|' || span_count || '|' || error_count
                   || '|' || services::text || '|' || coalesce(session_id, '-') || '|' || round(duration_ms)::bigint
            FROM lake.traces
            """)
    }

    static func exposureLines(_ pool: PostgresPool) async throws -> Set<String> {
        try await lines(
            pool,
            """
            SELECT experiment_key || '|' || unit_id || '|' || unit_type || '|' || variant || '|' || evaluation_count
                   || '|' || multiple_variants FROM lake.exposures
            """)
    }

    static func eventLines(_ pool: PostgresPool) async throws -> Set<String> {
        try await lines(
            pool,
            """
            SELECT event_id::text || '|' || session_id || '|' || session_source || '|' || trace_known || '|'
                   || coalesce(trace_root_route, '-') || '|' || coalesce(trace_error::text, '-') || '|'
                   || coalesce((SELECT string_agg(key || '=' || value, ',' ORDER BY key) FROM jsonb_each_text(variants)), '')
                   || '|' || coalesce(resolved_user_id, '-')
            FROM lake.event_facts
            """)
    }

    static func sessionLines(_ pool: PostgresPool) async throws -> Set<String> {
        try await lines(
            pool,
            """
            SELECT session_id || '|' || derived || '|' || event_count || '|' || page_views || '|' || product_views || '|'
                   || add_to_basket || '|' || purchases || '|' || to_char(revenue, 'FM999990.00') || '|' || trace_count || '|'
                   || server_errors || '|' || coalesce(first_page, '-') || '|' || coalesce(last_page, '-') || '|' || converted
            FROM lake.sessions
            """)
    }

    /// Every index and constraint of the derived tables a claim may rebuild, by name and definition.
    static func indexDefinitions(_ pool: PostgresPool) async throws -> Set<String> {
        try await lines(
            pool,
            """
            SELECT i.indexrelid::regclass::text || ': ' || pg_get_indexdef(i.indexrelid) FROM pg_index i
            WHERE i.indrelid IN ('lake.event_facts'::regclass, 'lake.traces'::regclass)
            UNION ALL
            SELECT conname || ': ' || pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid IN ('lake.event_facts'::regclass, 'lake.traces'::regclass)
            """)
    }

    static func lines(_ pool: PostgresPool, _ sql: SQLQuery) async throws -> Set<String> {
        Set(try await pool.query(sql).rows.map { try $0[0].decode(String.self) })
    }

    /// How `load` claims.
    enum Claims {
        /// The defaults: claims of 20,000, which this data set never fills.
        case defaults
        /// Claims so small (10 items) that every stage finds a backlog: the rest go in
        /// backlog claims (150 items), which against these small tables are read by hash joins.
        case backlog
        /// Claims of 10 items with backlog claims off (`join.backlog_items` 0).
        case backlogOff

        var configuration: JoinConfiguration {
            switch self {
            case .defaults: .init()
            case .backlog: .init(batchItems: 10, backlogItems: 150)
            case .backlogOff: .init(batchItems: 10, backlogItems: 0)
            }
        }
    }

    /// Loads `batches` one after the other, running one join pass after each (incremental
    /// processing), then drains the queue; returns the snapshot.
    func load(_ batches: [[JoinDataset.Raw]], claims: Claims = .defaults) async throws -> [String: [String]] {
        var outcome: [String: [String]] = [:]
        let backlog = claims == .backlog
        try await withLake { pool in
            let registry = PrometheusCollectorRegistry()
            let worker = JoinWorker(
                pool: pool, configuration: claims.configuration,
                metrics: JoinMetrics(handles: MetricHandles(factory: PrometheusMetricsFactory(registry: registry))))
            let indexes = try await Self.indexDefinitions(pool)
            var hashed: [QueueKind: Int] = [:]
            var rebuilds: [String: Int] = [:]
            var intoEmpty: [String: Int] = [:]
            for batch in batches {
                try await Self.insert(batch, into: pool)
                // The flag evaluations' statistics, without which their table's estimate (from
                // its size) is many times its few rows here and keeps exposure claims looking
                // pairs up one by one.
                if backlog { try await pool.execute("ANALYZE lake.logs") }
                let report = try await worker.runPass()
                for (kind, claims) in report.hashedClaims { hashed[kind, default: 0] += claims }
                for (table, claims) in report.indexRebuilds { rebuilds[table, default: 0] += claims }
                for (table, claims) in report.intoEmpty { intoEmpty[table, default: 0] += claims }
            }
            let report = try await worker.drain()
            for (kind, claims) in report.hashedClaims { hashed[kind, default: 0] += claims }
            for (table, claims) in report.indexRebuilds { rebuilds[table, default: 0] += claims }
            for (table, claims) in report.intoEmpty { intoEmpty[table, default: 0] += claims }
            // Claims by hash joins ran in backlog mode, and only there; the metric counts them.
            var exposition = [UInt8]()
            registry.emit(into: &exposition)
            let metrics = String(decoding: exposition, as: UTF8.self)
            for kind in [QueueKind.trace, .exposure, .event, .session] {
                #expect((hashed[kind] ?? 0 > 0) == backlog, "\(kind.label): \(hashed)")
                let line = "seam_join_hashed_claims_total{kind=\"\(kind.label)\"} \(hashed[kind] ?? 0)"
                #expect(metrics.contains(line) == backlog, "\(line) in:\n\(metrics)")
            }
            // Backlog claims into tables at most twice what they add (here the first ones)
            // rebuilt the tables' indexes; the indexes are the migrations' again, and no
            // other claim dropped any.
            for table in ["event_facts", "traces"] {
                #expect((rebuilds[table] ?? 0 > 0) == backlog, "\(table): \(rebuilds)")
                #expect(metrics.contains("seam_join_index_rebuilds_total{table=\"\(table)\"}") == backlog, "\(table) in:\n\(metrics)")
                // At most one claim, a rebuilding one, can find the table empty.
                #expect((intoEmpty[table] ?? 0) <= min(1, rebuilds[table] ?? 0), "\(table): \(intoEmpty)")
            }
            #expect(try await Self.indexDefinitions(pool) == indexes)
            let suspended: Int = try await pool.query("SELECT count(*) FROM seam_meta.join_suspended_indexes").scalar()
            #expect(suspended == 0)
            let pending: Int = try await pool.query("SELECT count(*) FROM seam_meta.join_queue").scalar()
            #expect(pending == 0)
            outcome = try await Self.snapshot(pool)
            // The same tables computed from scratch, one statement per table, have the same rows.
            let differences = try await pool.withConnection { c in
                _ = try JoinFromScratch.build(into: "scratch", sessionTimeout: .seconds(30 * 60), on: c)
                return try JoinFromScratch.differences(from: "scratch", on: c)
            }
            #expect(differences == ["traces": 0, "exposures": 0, "event_facts": 0, "sessions": 0])
            let dataset = JoinDataset(seed: 7)
            #expect(try await Self.traceLines(pool) == dataset.expectedTraceLines)
            #expect(try await Self.exposureLines(pool) == dataset.expectedExposureLines)
            #expect(try await Self.eventLines(pool) == dataset.expectedEventLines)
            #expect(try await Self.sessionLines(pool) == dataset.expectedSessionLines)
        }
        return outcome
    }

    static func chunks<T>(_ items: [T], size: Int) -> [[T]] {
        stride(from: 0, to: items.count, by: size).map { Array(items[$0..<min($0 + size, items.count)]) }
    }

    @Test("in order, shuffled, random batches with duplicates, and late spans: identical derived tables, equal to the truth")
    func orderIndependence() async throws {
        let dataset = JoinDataset(seed: 7)
        #expect(dataset.events.count > 200 && dataset.traces.count > 100 && dataset.evaluations.count > 20)
        #expect(dataset.expectedSessionLines.contains { $0.hasPrefix("derived:") })
        #expect(dataset.expectedExposureLines.contains { $0.hasSuffix("|true") })

        // (a) in order of data time
        let ordered = dataset.raws.sorted { $0.time < $1.time }
        let a = try await load(Self.chunks(ordered, size: 60))

        // (b) shuffled
        var rng = SplitMix64(seed: 99)
        var shuffled = dataset.raws
        rng.shuffle(&shuffled)
        let b = try await load(Self.chunks(shuffled, size: 60))

        // (c) random batch sizes, with a fifth of the rows sent again in later batches
        var withDuplicates = dataset.raws
        for _ in 0..<(dataset.raws.count / 5) {
            withDuplicates.append(dataset.raws[Int(rng.next(below: UInt64(dataset.raws.count)))])
        }
        rng.shuffle(&withDuplicates)
        var batches: [[JoinDataset.Raw]] = []
        var index = 0
        while index < withDuplicates.count {
            let size = 1 + Int(rng.next(below: 150))
            batches.append(Array(withDuplicates[index..<min(index + size, withDuplicates.count)]))
            index += size
        }
        let c = try await load(batches)

        // (d) a third of the spans arrive after all tag events
        let spans = dataset.raws.filter { $0.table == .spans }
        var lateSpans: [JoinDataset.Raw] = []
        var early: [JoinDataset.Raw] = dataset.raws.filter { $0.table != .spans }
        for (i, span) in spans.enumerated() {
            if i % 3 == 0 { lateSpans.append(span) } else { early.append(span) }
        }
        rng.shuffle(&early)
        let d = try await load(Self.chunks(early, size: 80) + Self.chunks(lateSpans, size: 40))

        // (e) everything at once, then (f) the random batches with duplicates, in backlog claims
        // whose rows are read by hash joins (Lookups.hashed) instead of one lookup per key;
        // (g) everything at once in claims of 10 with backlog claims off: key by key only.
        let e = try await load([dataset.raws], claims: .backlog)
        let f = try await load(batches, claims: .backlog)
        let g = try await load([dataset.raws], claims: .backlogOff)

        for table in ["traces", "exposures", "event_facts", "sessions"] {
            #expect(a[table]!.count > 0, "\(table) is empty")
            #expect(a[table] == b[table], "\(table): in order vs shuffled")
            #expect(a[table] == c[table], "\(table): in order vs random batches with duplicates")
            #expect(a[table] == d[table], "\(table): in order vs late spans")
            #expect(a[table] == e[table], "\(table): in order vs all at once in backlog claims")
            #expect(a[table] == f[table], "\(table): in order vs random batches in backlog claims")
            #expect(a[table] == g[table], "\(table): in order vs all at once in small claims, backlog claims off")
        }
    }

    @Test(
        "raw rows that are gone take their derived rows with them when their keys are recomputed, key by key and in backlog claims",
        arguments: [Claims.defaults, .backlog])
    func goneRawRows(claims: Claims) async throws {
        try await withLake { pool in
            let worker = JoinWorker(pool: pool, configuration: claims.configuration)
            try await Self.insert(JoinDataset(seed: 7).raws, into: pool)
            _ = try await worker.drain()
            // A third of the traces lose their spans and a third of the tag events with a
            // client session lose their raw row (as a hand-made correction would); their keys
            // are queued again, forced, as `seam join rebuild` queues them.
            let traces: Int = try await pool.query(
                """
                WITH gone AS (
                    DELETE FROM lake.spans WHERE trace_id IN (SELECT trace_id FROM lake.traces WHERE get_byte(trace_id, 0) % 3 = 0)
                    RETURNING trace_id, start_time
                ), queued AS (
                    INSERT INTO seam_meta.join_queue (kind, bucket, trace_id, at, forced)
                    SELECT seam_meta.join_kind('trace'), seam_meta.join_bucket(trace_id), trace_id, min(start_time), true
                    FROM gone GROUP BY trace_id RETURNING 1
                )
                SELECT count(*) FROM queued
                """
            ).scalar()
            let goneEvents = try await pool.query(
                """
                WITH gone AS (
                    DELETE FROM lake.tag_events WHERE session_id IS NOT NULL AND get_byte(uuid_send(event_id), 15) % 3 = 0
                    RETURNING event_id, anonymous_id, user_id, occurred_at
                ), queued AS (
                    INSERT INTO seam_meta.join_queue (kind, bucket, event_id, key1, at, forced)
                    SELECT seam_meta.join_kind('event'), seam_meta.join_bucket(coalesce(anonymous_id, user_id, event_id::text)),
                           event_id, coalesce(anonymous_id, user_id), occurred_at, true
                    FROM gone RETURNING event_id
                )
                SELECT event_id::text FROM queued
                """
            ).rows.map { try $0[0].decode(String.self) }
            #expect(traces > 10 && goneEvents.count > 10, "\(traces) traces, \(goneEvents.count) events")
            let report = try await worker.drain()
            // Backlog claims of these keys are read by hash joins, other claims key by key.
            #expect((report.hashedClaims[.event, default: 0] > 0) == (claims == .backlog), "\(report.hashedClaims)")
            let remaining: Int = try await pool.query(
                "SELECT count(*) FROM lake.event_facts WHERE event_id::text = ANY(\(PostgresValue.textArray(goneEvents)))"
            ).scalar()
            #expect(remaining == 0)
            let orphanTraces: Int = try await pool.query(
                "SELECT count(*) FROM lake.traces t WHERE NOT EXISTS (SELECT 1 FROM lake.spans s WHERE s.trace_id = t.trace_id)"
            ).scalar()
            #expect(orphanTraces == 0)
            // Every derived table is what the raw rows left give from scratch: the sessions of
            // the events and traces that went, and the trace facts of their events, too.
            let differences = try await pool.withConnection { c in
                _ = try JoinFromScratch.build(into: "scratch", sessionTimeout: .seconds(30 * 60), on: c)
                return try JoinFromScratch.differences(from: "scratch", on: c)
            }
            #expect(differences == ["traces": 0, "exposures": 0, "event_facts": 0, "sessions": 0])
        }
    }

    @Test("an event whose trace has not arrived has null trace facts, updated when the trace arrives; a trace's session.id resolves the event's session")
    func orphans() async throws {
        try await withLake { pool in
            let worker = JoinWorker(pool: pool)
            let now = Date().timeIntervalSince1970
            let t = Int64(now * 1000) - 3_600_000
            let event: [String: Any] = [
                "event_id": "6f1c2a9e-1111-4e0b-9a3f-000000000001", "name": "page_view", "occurred_at": JoinDataset.timestamp(t),
                "received_at": JoinDataset.timestamp(t), "anonymous_id": "visitor-x", "trace_id": "\\x" + String(repeating: "ab", count: 16),
                "properties": [String: Any](), "context": [String: Any](),
            ]
            try await Self.insert([.init(table: .tag_events, json: event, time: t)], into: pool)
            _ = try await worker.drain()
            let before = try await pool.query(
                "SELECT trace_known, trace_root_route, trace_duration_ms, session_source, session_id FROM lake.event_facts")
            #expect(before.rowCount == 1)
            #expect(try before[0].decode(Bool.self, "trace_known") == false)
            #expect(before[0][1].isNull && before[0][2].isNull)
            #expect(try before[0].decode(String.self, "session_source") == "derived")
            let derivedSession = try before[0].decode(String.self, "session_id")
            #expect(derivedSession.hasPrefix("derived:visitor-x:"))

            let span: [String: Any] = [
                "trace_id": "\\x" + String(repeating: "ab", count: 16), "span_id": "\\x0102030405060708", "name": "GET /",
                "kind": 2, "service_name": "web", "start_time": JoinDataset.timestamp(t - 500), "end_time": JoinDataset.timestamp(t - 250),
                "status_code": 0, "session_id": "server-session-1", "http_route": "/home", "attributes": [String: Any](),
                "resource": [String: Any](), "events": [Any](), "links": [Any](), "received_at": JoinDataset.timestamp(t),
            ]
            try await Self.insert([.init(table: .spans, json: span, time: t)], into: pool)
            let report = try await worker.drain()
            // With no other worker holding event buckets, the trace stage reaches the event
            // itself (here: queues it, since its session now resolves from the trace).
            #expect(report.items[.traceChanged, default: 0] == 0)
            #expect(report.items[.event, default: 0] == 1)
            let after = try await pool.query(
                "SELECT trace_known, trace_root_route, trace_duration_ms, session_source, session_id FROM lake.event_facts")
            #expect(try after[0].decode(Bool.self, "trace_known"))
            #expect(try after[0].decode(String.self, "trace_root_route") == "/home")
            #expect(try after[0].decode(Double.self, "trace_duration_ms") == 250)
            #expect(try after[0].decode(String.self, "session_source") == "trace")
            #expect(try after[0].decode(String.self, "session_id") == "server-session-1")
            // The derived session the event left is gone; the trace's session has the event and the trace.
            let sessions = try await pool.query("SELECT session_id, event_count, trace_count FROM lake.sessions")
            #expect(sessions.rowCount == 1)
            #expect(try sessions[0].decode(String.self, "session_id") == "server-session-1")
            #expect(try sessions[0].decode(Int.self, "event_count") == 1)
            #expect(try sessions[0].decode(Int.self, "trace_count") == 1)
        }
    }

    /// The subtree of every Nested Loop node of an EXPLAIN text (the node's line and the
    /// more indented lines below it).
    static func nestedLoops(in plan: String) -> [String] {
        let lines = plan.split(separator: "\n").map(String.init)
        func indent(_ line: String) -> Int { line.prefix { $0 == " " || $0 == "-" || $0 == ">" }.count }
        return lines.indices.filter { lines[$0].contains("Nested Loop") }.map { start in
            let depth = indent(lines[start])
            let end = lines[(start + 1)...].firstIndex { indent($0) <= depth } ?? lines.endIndex
            return lines[start..<end].joined(separator: "\n")
        }
    }

    @Test(
        "a batch claim looks each key's rows up (nested loops, and a probe of lake.identities per id); a backlog claim joins them, nested loops off, then back on"
    )
    func lookupPlans() async throws {
        try await withLake { pool in
            try await Self.insert(JoinDataset(seed: 7).raws, into: pool)
            // Links of other visitors, enough that reading the table whole is not the cheapest
            // way to probe it for a claim's few ids once the planner knows its size.
            try await pool.execute(
                """
                INSERT INTO lake.identities (anonymous_id, user_id, source, first_seen)
                SELECT 'other-' || g, 'user-' || g, 'identify', now() FROM generate_series(1, 20000) AS g
                """)
            try await pool.execute("ANALYZE lake.identities")
            // Sessions are queued by the stages, not by the raw rows: queue the clients' ones.
            try await pool.execute(
                """
                INSERT INTO seam_meta.join_queue (kind, bucket, key1, at)
                SELECT seam_meta.join_kind('session'), seam_meta.join_bucket(session_id), session_id, min(occurred_at)
                FROM lake.tag_events WHERE session_id IS NOT NULL GROUP BY session_id
                """)
            try await pool.withConnection { c in
                /// The plan of `rows` (its values bound) under `lookups`' settings, in one line per node.
                func plan(_ rows: SQLQuery, _ lookups: Lookups) throws -> String {
                    try lookups.applying(on: c) {
                        try c.query(SQLQuery("EXPLAIN " + rows.sql, binds: rows.binds)).rows.map { try $0[0].decode(String.self) }
                            .joined(separator: "\n")
                    }
                }
                for kind in [QueueKind.trace, .exposure, .event, .session] {
                    try c.transaction { c in
                        let claimed = try #require(
                            try QueueClaim.claim(kind: kind, limit: 100_000, horizon: .seconds(3650 * 86_400), on: c))
                        #expect(claimed.items > 10, "\(kind.label)")
                        for lookups in [Lookups.perKey, .hashed] {
                            let rows: SQLQuery
                            switch kind {
                            case .trace: rows = try TraceStage.rows(spans: try JoinSQL.traceClaimedSpans.render(["per_key": lookups.argument]))
                            case .exposure:
                                rows = try ExposureStage.rows(
                                    evaluations: try JoinSQL.exposureClaimedEvaluations.render([
                                        "units": .fragment(try JoinSQL.exposureClaimedUnits.render()), "per_key": lookups.argument,
                                    ]))
                            case .event:
                                rows = try EventStage.rows(
                                    events: try JoinSQL.eventClaimedEvents.render(["per_key": lookups.argument]),
                                    traceJoin: EventStage.traceLookup(lookups), exposureJoin: EventStage.exposureLookup(lookups),
                                    userExposureJoin: EventStage.userExposureLookup(lookups), idProbes: lookups,
                                    sessionTimeout: .seconds(1800))
                            default:
                                let sessions = try JoinSQL.sessionClaimed.render()
                                rows = try SessionStage.rows(
                                    events: try JoinSQL.sessionClaimedEvents.render(["sessions": .fragment(sessions), "per_key": lookups.argument]),
                                    traces: try JoinSQL.sessionClaimedTraces.render(["sessions": .fragment(sessions), "per_key": lookups.argument]))
                            }
                            let text = try plan(rows, lookups)
                            // Nested loops that read a table (not the few values of one row,
                            // as a CROSS JOIN LATERAL (VALUES …) does).
                            let lookupLoops = Self.nestedLoops(in: text).filter { !$0.contains("Values Scan") }
                            if lookups == .perKey {
                                #expect(!lookupLoops.isEmpty, "\(kind.label), per key:\n\(text)")
                                // The claim's ids probe the links' primary key: the planner
                                // hashed the whole table for every claim before.
                                if kind == .event {
                                    #expect(text.contains("identities_pkey") && !text.contains("Seq Scan on identities"), "per key:\n\(text)")
                                }
                            } else {
                                #expect(lookupLoops.isEmpty, "\(kind.label), hashed:\n\(text)")
                                #expect(text.contains("Hash Join"), "\(kind.label), hashed:\n\(text)")
                            }
                        }
                        #expect(try c.query("SHOW enable_nestloop").scalar(String.self) == "on")
                    }
                }
            }
        }
    }

    @Test("a backlog claim rebuilds a table's indexes only when it adds half as many rows as the table holds or more, owns it, and gets it within the wait")
    func indexRebuilds() async throws {
        // The wait in whole milliseconds, rounded up, from 1 ms to an hour; only hashed claims may rebuild.
        func milliseconds(_ rebuild: IndexRebuild) -> Int64? {
            if case .value(.int64(let value))? = rebuild.arguments["lock_timeout_ms"] { value } else { nil }
        }
        #expect(milliseconds(IndexRebuild(lookups: .hashed, wait: .milliseconds(1500))) == 1500)
        #expect(milliseconds(IndexRebuild(lookups: .hashed, wait: .nanoseconds(1))) == 1)
        #expect(milliseconds(IndexRebuild(lookups: .hashed, wait: .seconds(7200))) == 3_600_000)
        #expect(IndexRebuild(lookups: .hashed, wait: .seconds(2)).allowed)
        #expect(!IndexRebuild(lookups: .perKey, wait: .seconds(2)).allowed)
        #expect(!IndexRebuild(lookups: .hashed, wait: .zero).allowed)
        try await withLake { pool in
            let indexes = try await Self.indexDefinitions(pool)
            let url = pool.configuration.connectionString
            // The function's rules, one transaction each (rolled back).
            func suspend(_ table: String, adding: Int, waitMs: Int = 100, before: SQLQuery? = nil) async throws -> (Bool, Int) {
                try await pool.withConnection { c in
                    try c.executeScript("BEGIN")
                    defer { _ = try? c.executeScript("ROLLBACK") }
                    if let before { try c.executeScript(before) }
                    let done = try c.query(
                        "SELECT seam_meta.join_suspend_indexes(\(text: table)::regclass, \(adding), \(waitMs)::integer)").scalar(Bool.self)
                    // The transaction is still usable, and knows how many indexes the table has now.
                    let left = try c.query("SELECT count(*) FROM pg_index WHERE indrelid = \(text: table)::regclass").scalar(Int.self)
                    return (done, left)
                }
            }
            #expect(try await suspend("lake.traces", adding: 0) == (false, 3))
            #expect(try await suspend("lake.traces", adding: 1) == (true, 0))
            // A claim into an empty table drops its indexes before it computes anything, and
            // only then (IndexRebuild.intoEmpty): only a claim that may rebuild, only into an
            // empty table, and only when the lock comes within the wait.
            func intoEmpty(_ rebuild: IndexRebuild, _ table: IndexRebuild.Table = .traces) async throws -> (Bool, Int) {
                try await pool.withConnection { c in
                    try c.executeScript("BEGIN")
                    defer { _ = try? c.executeScript("ROLLBACK") }
                    try c.executeScript("CREATE TEMP TABLE join_claim (kind smallint) ON COMMIT DROP; INSERT INTO join_claim VALUES (1)")
                    let done = try rebuild.intoEmpty(table, on: c)
                    let left = try c.query("SELECT count(*) FROM pg_index WHERE indrelid = \(text: table.rawValue)::regclass").scalar(Int.self)
                    return (done, left)
                }
            }
            let mayRebuild = IndexRebuild(lookups: .hashed, wait: .milliseconds(100))
            #expect(try await intoEmpty(mayRebuild) == (true, 0))
            #expect(try await intoEmpty(mayRebuild, .eventFacts) == (true, 0))
            #expect(try await intoEmpty(IndexRebuild(lookups: .perKey, wait: .seconds(2))) == (false, 3))
            #expect(try await intoEmpty(IndexRebuild(lookups: .hashed, wait: .zero)) == (false, 3))
            try await pool.execute(
                """
                INSERT INTO lake.traces (trace_id, root_known, start_time, end_time, duration_ms, span_count, error_count, services, first_seen, last_seen)
                SELECT decode(md5(i::text), 'hex'), false, now(), now(), 0, 1, 0, '{}', now(), now() FROM generate_series(1, 5) AS i
                """)
            #expect(try await suspend("lake.traces", adding: 2) == (false, 3))
            #expect(try await suspend("lake.traces", adding: 3) == (true, 0))
            #expect(try await intoEmpty(mayRebuild) == (false, 3))
            // Another login that does not own the table keeps its indexes.
            let role = "seam_test_writer_\(UInt32.random(in: 0...UInt32.max))"
            try await pool.execute("CREATE ROLE \(identifier: role) NOLOGIN")
            try await pool.execute("GRANT USAGE ON SCHEMA lake, seam_meta TO \(identifier: role)")
            try await pool.execute("GRANT SELECT ON ALL TABLES IN SCHEMA lake, seam_meta TO \(identifier: role)")
            #expect(try await suspend("lake.traces", adding: 3, before: "SET LOCAL ROLE \(identifier: role)") == (false, 3))
            try await pool.execute("REVOKE ALL ON ALL TABLES IN SCHEMA lake, seam_meta FROM \(identifier: role)")
            try await pool.execute("REVOKE ALL ON SCHEMA lake, seam_meta FROM \(identifier: role)")
            try await pool.execute("DROP ROLE \(identifier: role)")
            // A reader in an open transaction keeps the table: the claim waits at most its
            // wait, then maintains the indexes.
            let reader = try PostgresConnection(url)
            try reader.executeScript("BEGIN; SELECT count(*) FROM lake.traces")
            let started = ContinuousClock.now
            #expect(try await suspend("lake.traces", adding: 3, waitMs: 200) == (false, 3))
            #expect(ContinuousClock.now - started < .seconds(5))
            try reader.executeScript("COMMIT")
            try await pool.execute("TRUNCATE lake.traces")
            try reader.executeScript("BEGIN; SELECT count(*) FROM lake.traces")
            #expect(try await intoEmpty(mayRebuild) == (false, 3))
            try reader.executeScript("COMMIT")
            // Rows another transaction commits while the claim waits for the lock are seen
            // once it has the lock: the claim then takes its usual path (its indexes already
            // dropped, to be built again at its end).
            let writer = try PostgresConnection(url)
            try writer.executeScript(
                """
                BEGIN;
                INSERT INTO lake.traces (trace_id, root_known, start_time, end_time, duration_ms, span_count, error_count, services, first_seen, last_seen)
                VALUES (decode(md5('late'), 'hex'), false, now(), now(), 0, 1, 0, '{}', now(), now())
                """)
            async let raced = intoEmpty(IndexRebuild(lookups: .hashed, wait: .seconds(20)))
            let waiting = "SELECT count(*) FROM pg_locks WHERE relation = 'lake.traces'::regclass AND NOT granted" as SQLQuery
            let deadline = ContinuousClock.now + .seconds(15)
            while try writer.query(waiting).scalar(Int.self) == 0 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            try writer.executeScript("COMMIT")
            #expect(try await raced == (false, 0))
            try await pool.execute("TRUNCATE lake.traces")

            // The worker: backlog claims while a reader holds lake.event_facts. The traces'
            // claims rebuild their indexes; the event facts' maintain theirs; the tables are
            // the same as without the reader.
            try await Self.insert(JoinDataset(seed: 7).raws, into: pool)
            try reader.executeScript("BEGIN; SELECT count(*) FROM lake.event_facts")
            let worker = JoinWorker(pool: pool, configuration: .init(batchItems: 10, backlogItems: 150, indexRebuildWait: .milliseconds(100)))
            let report = try await worker.drain()
            try reader.executeScript("COMMIT")
            #expect((report.indexRebuilds["traces"] ?? 0) > 0, "\(report.indexRebuilds)")
            #expect(report.indexRebuilds["event_facts"] == nil, "\(report.indexRebuilds)")
            #expect((report.hashedClaims[.event] ?? 0) > 0)
            #expect(report.summary.contains("claims that rebuilt a table's indexes: traces="), "\(report.summary)")
            // The first trace claim found lake.traces empty and wrote into it straight.
            #expect(report.intoEmpty == ["traces": 1], "\(report.intoEmpty)")
            #expect(report.summary.contains("(of which written straight into the empty table: traces=1)"), "\(report.summary)")
            #expect(try await Self.indexDefinitions(pool) == indexes)
            let dataset = JoinDataset(seed: 7)
            #expect(try await Self.eventLines(pool) == dataset.expectedEventLines)
            #expect(try await Self.traceLines(pool) == dataset.expectedTraceLines)
        }
        // Without the reader both tables' first claims write into them straight; the tables
        // and their indexes are the same.
        try await withLake { pool in
            let indexes = try await Self.indexDefinitions(pool)
            let dataset = JoinDataset(seed: 7)
            try await Self.insert(dataset.raws, into: pool)
            let report = try await JoinWorker(pool: pool, configuration: .init(batchItems: 10, backlogItems: 150)).drain()
            #expect(report.intoEmpty == ["traces": 1, "event_facts": 1], "\(report.intoEmpty)")
            #expect(try await Self.indexDefinitions(pool) == indexes)
            #expect(try await Self.eventLines(pool) == dataset.expectedEventLines)
            #expect(try await Self.traceLines(pool) == dataset.expectedTraceLines)
            #expect(try await Self.sessionLines(pool) == dataset.expectedSessionLines)
        }
        // With a wait of zero no claim rebuilds anything.
        try await withLake { pool in
            let dataset = JoinDataset(seed: 7)
            try await Self.insert(dataset.raws, into: pool)
            let off = try await JoinWorker(pool: pool, configuration: .init(batchItems: 10, backlogItems: 150, indexRebuildWait: .zero)).drain()
            #expect(off.indexRebuilds.isEmpty, "\(off.indexRebuilds)")
            #expect(off.intoEmpty.isEmpty, "\(off.intoEmpty)")
            #expect((off.hashedClaims[.trace] ?? 0) > 0)
            #expect(try await Self.eventLines(pool) == dataset.expectedEventLines)
        }
    }

    @Test("a backlog claim is hashed only when it is larger than an ordinary claim and a tenth of the table or more; the table's size comes from its partitions")
    func backlogChoice() async throws {
        #expect(Lookups.forBacklog(items: 100, batchItems: 10, tableRows: 1_000) == .hashed)
        #expect(Lookups.forBacklog(items: 99, batchItems: 10, tableRows: 1_000) == .perKey)
        #expect(Lookups.forBacklog(items: 500_000, batchItems: 20_000, tableRows: 100_000_000) == .perKey)
        #expect(Lookups.forBacklog(items: 500_000, batchItems: 20_000, tableRows: 2_400_000) == .hashed)
        // The tail of a backlog, however small the table.
        #expect(Lookups.forBacklog(items: 20_000, batchItems: 20_000, tableRows: 0) == .perKey)
        #expect(Lookups.forBacklog(items: 110, batchItems: 20_000, tableRows: 0) == .perKey)
        try await withLake { pool in
            try await Self.insert(JoinDataset(seed: 7).raws, into: pool)
            try await pool.withConnection { c in
                try c.executeScript("ANALYZE lake.spans, lake.tag_events")
                for table in ["lake.spans", "lake.tag_events"] {
                    let rows = try c.query("SELECT count(*) FROM \(unescaped: table)").scalar(Int.self)
                    #expect(rows > 100)
                    #expect(try Lookups.estimatedRows(of: table, on: c) == rows, "\(table)")
                }
                // A stage without a backlog form, and one with; a table never analyzed counts by its size.
                #expect(try Lookups.forBacklog(of: .traceChanged, items: 1_000_000, batchItems: 10, on: c) == .perKey)
                #expect(try Lookups.forBacklog(of: .exposure, items: 1_000_000, batchItems: 10, on: c) == .hashed)
                #expect(try Lookups.estimatedRows(of: "lake.event_facts", on: c) == 0)
                // (The flag evaluations: not analyzed here; autovacuum may have, then the estimate is exact.)
                let logs = try c.query("SELECT count(*) FROM lake.logs").scalar(Int.self)
                let estimate = try Lookups.estimatedRows(of: "lake.logs", on: c)
                #expect(logs > 10 && estimate >= logs, "an estimate of \(estimate) rows for \(logs)")
            }
        }
    }

    @Test("units served two variants are flagged; derived sessions split after the inactivity timeout, which is configurable")
    func multiVariantAndSessionSplit() async throws {
        let dataset = JoinDataset(seed: 7)
        let rows = dataset.raws
        for (timeout, expectedSplit) in [(30, true), (120, false)] {
            try await withLake { pool in
                try await Self.insert(rows, into: pool)
                let worker = JoinWorker(pool: pool, configuration: .init(sessionTimeout: .seconds(timeout * 60)))
                _ = try await worker.drain()
                let flagged = try await pool.query(
                    "SELECT unit_id, variants::text FROM lake.exposures WHERE multiple_variants ORDER BY unit_id")
                #expect(flagged.rowCount == 1)
                #expect(try flagged[0].decode(String.self, "unit_id") == "anon-2")
                #expect(try flagged[0].decode(String.self, "variants") == "{control,treatment}")
                // anon-3 has no client session and two visits 45 minutes apart.
                let derived: Int = try await pool.query(
                    "SELECT count(*) FROM lake.sessions WHERE derived AND anonymous_id = 'anon-3'").scalar()
                #expect(derived == (expectedSplit ? 2 : 1), "timeout \(timeout) min")
            }
        }
    }

    @Test("two workers at once while data arrives: every queue item processed exactly once, same tables as one worker")
    func twoWorkers() async throws {
        let dataset = JoinDataset(seed: 7)
        var rng = SplitMix64(seed: 5)
        var shuffled = dataset.raws
        rng.shuffle(&shuffled)
        let rows = shuffled
        let single = try await load(Self.chunks(rows, size: 60))
        try await withLake { pool in
            let second = PostgresPool(configuration: .init(connectionString: pool.configuration.connectionString, maximumConnections: 1))
            let loadingDone = DoneFlag()
            let workers = [
                JoinWorker(pool: pool, configuration: .init(batchItems: 100)),
                JoinWorker(pool: second, configuration: .init(batchItems: 100)),
            ]
            let processed = try await withThrowingTaskGroup(of: Int.self) { group in
                group.addTask {
                    for batch in Self.chunks(rows, size: 60) { try await Self.insert(batch, into: pool) }
                    loadingDone.set()
                    return 0
                }
                for worker in workers {
                    group.addTask {
                        var items = 0
                        while true {
                            let report = try await worker.runPass()
                            items += report.totalItems
                            guard report.totalItems == 0 else { continue }
                            // Items another worker holds stay visible until it commits, so an empty queue means done.
                            let pending: Int = try await pool.query("SELECT count(*) FROM seam_meta.join_queue").scalar()
                            if pending == 0 && loadingDone.isSet { return items }
                            try await Task.sleep(for: .milliseconds(10))
                        }
                    }
                }
                var perWorker: [Int] = []
                for try await count in group { perWorker.append(count) }
                return perWorker
            }
            await second.close()
            // The identity has no gaps here (no transaction rolled back), so its last value counts every item ever queued.
            let queued: Int = try await pool.query(
                "SELECT last_value FROM seam_meta.join_queue_item_id_seq").scalar()
            #expect(processed.reduce(0, +) == queued, "items processed \(processed) vs queued \(queued)")
            let snapshot = try await Self.snapshot(pool)
            for table in ["traces", "exposures", "event_facts", "sessions"] {
                #expect(snapshot[table] == single[table], "\(table): two workers vs one")
            }
            #expect(try await Self.sessionLines(pool) == dataset.expectedSessionLines)
        }
    }

    @Test("a trace or exposure change rewrites event facts in place, except in buckets another worker holds: those events are queued and catch up")
    func propagationAroundHeldBuckets() async throws {
        try await withLake { pool in
            // Two visitors whose events fall in different queue buckets.
            let visitors: [String] = try await pool.query(
                """
                SELECT DISTINCT ON (hashtext(v) & 15) v FROM (SELECT 'visitor-' || n AS v FROM generate_series(1, 40) AS n) AS s
                ORDER BY hashtext(v) & 15, v LIMIT 2
                """
            ).rows.map { try $0[0].decode(String.self) }
            let (held, free) = (visitors[0], visitors[1])
            let bucket: Int = try await pool.query("SELECT hashtext($1) & 15", [.text(held)]).scalar()
            let t = Int64(Date().timeIntervalSince1970 * 1000) - 60_000
            let traceID = "\\x" + String(repeating: "ef", count: 16)
            let events: [JoinDataset.Raw] = [(held, 1), (free, 2)].map { visitor, n in
                let json: [String: Any] = [
                    "event_id": "6f1c2a9e-2222-4e0b-9a3f-00000000000\(n)", "name": "page_view", "occurred_at": JoinDataset.timestamp(t),
                    "received_at": JoinDataset.timestamp(t), "session_id": "session-\(n)", "anonymous_id": visitor,
                    "trace_id": traceID, "properties": [String: Any](), "context": [String: Any](),
                ]
                return .init(table: .tag_events, json: json, time: t)
            }
            try await Self.insert(events, into: pool)
            let worker = JoinWorker(pool: pool)
            _ = try await worker.drain()

            // The trace (no session of its own) and both visitors' exposures arrive while
            // another connection holds the event stage's lock of the first visitor's bucket.
            let span: [String: Any] = [
                "trace_id": traceID, "span_id": "\\x0102030405060708", "name": "GET /", "kind": 2, "service_name": "web",
                "start_time": JoinDataset.timestamp(t - 300), "end_time": JoinDataset.timestamp(t - 100), "status_code": 0,
                "http_route": "/home", "attributes": [String: Any](), "resource": [String: Any](), "events": [Any](), "links": [Any](),
                "received_at": JoinDataset.timestamp(t),
            ]
            let evaluations: [JoinDataset.Raw] = visitors.enumerated().map { index, visitor in
                let json: [String: Any] = [
                    "log_id": "\\x" + String(format: "%032x", 900 + index), "time": JoinDataset.timestamp(t - 1000),
                    "event_name": "feature_flag.evaluation", "flag_key": "exp-1", "flag_variant": "treatment",
                    "flag_context_id": visitor, "attributes": [String: Any](), "resource": [String: Any](),
                ]
                return .init(table: .logs, json: json, time: t - 1000)
            }
            try await Self.insert([.init(table: .spans, json: span, time: t)] + evaluations, into: pool)
            let other = PostgresPool(configuration: .init(connectionString: pool.configuration.connectionString, maximumConnections: 1))
            try await other.execute("SELECT pg_advisory_lock($1, $2)", [.int32(QueueClaim.lockKey(.event)), .int32(Int32(bucket))])
            let report = try await worker.runPass()
            let facts: SQLQuery = "SELECT anonymous_id, trace_known, trace_root_route, variants::text FROM lake.event_facts ORDER BY anonymous_id"
            func rows() async throws -> [String: (Bool, String?, String)] {
                var result: [String: (Bool, String?, String)] = [:]
                for row in try await pool.query(facts).rows {
                    result[try row.decode(String.self, "anonymous_id")] = (
                        try row.decode(Bool.self, "trace_known"), row[2].isNull ? nil : try row.decode(String.self, "trace_root_route"),
                        try row.decode(String.self, "variants")
                    )
                }
                return result
            }
            let during = try await rows()
            // The free bucket's event was rewritten in place by the propagation stages...
            #expect(report.rows["event_facts"] == 2, "trace columns and variants of one event")
            #expect(during[free]?.0 == true && during[free]?.1 == "/home" && during[free]?.2 == #"{"exp-1": "treatment"}"#)
            // ...the held bucket's event was left alone and queued for its worker.
            #expect(during[held]?.0 == false && during[held]?.1 == nil && during[held]?.2 == "{}")
            let queued: Int = try await pool.query(
                "SELECT count(*) FROM seam_meta.join_queue WHERE kind = 3 AND event_id = '6f1c2a9e-2222-4e0b-9a3f-000000000001'"
            ).scalar()
            #expect(queued >= 1)

            try await other.execute("SELECT pg_advisory_unlock($1, $2)", [.int32(QueueClaim.lockKey(.event)), .int32(Int32(bucket))])
            await other.close()
            _ = try await worker.drain()
            let after = try await rows()
            #expect(after[held]?.0 == true && after[held]?.1 == "/home" && after[held]?.2 == #"{"exp-1": "treatment"}"#)
            #expect(try await pool.query("SELECT 1 FROM seam_meta.join_queue").rowCount == 0)
            // The sessions read the trace through their events.
            let traced: Int = try await pool.query("SELECT count(*) FROM lake.sessions WHERE trace_count = 1").scalar()
            #expect(traced == 2)
        }
    }

    @Test(
        "an anonymous unit's exposure reaches the events of the user it stands for: in place, or queued when another worker holds their bucket",
        arguments: [false, true])
    func exposureReachesTheStitchedUser(holdPhoneBucket: Bool) async throws {
        try await withLake { pool in
            // Two anonymous ids of one user (a laptop and a phone) whose events fall in
            // different queue buckets.
            let (anonymous, phone): (String, String) = try await {
                let row = try await pool.query(
                    """
                    SELECT a.v, p.v FROM (SELECT 'anon-' || n AS v FROM generate_series(1, 40) AS n) AS a
                    JOIN (SELECT 'phone-' || n AS v FROM generate_series(1, 40) AS n) AS p ON hashtext(a.v) & 15 <> hashtext(p.v) & 15
                    ORDER BY 1, 2 LIMIT 1
                    """
                ).rows[0]
                return (try row[0].decode(String.self), try row[1].decode(String.self))
            }()
            let user = "user-42"
            let bucket: Int = try await pool.query("SELECT hashtext($1) & 15", [.text(phone)]).scalar()
            let t = Int64(Date().timeIntervalSince1970 * 1000) - 60_000
            // A login on each device (both ids: the links), then a purchase on the phone whose
            // event carries the phone's anonymous id alone.
            let events: [JoinDataset.Raw] = [(1, anonymous, user as String?, t), (2, phone, user, t + 1_000), (3, phone, nil, t + 5_000)]
                .map { n, anonymousID, userID, time in
                    var json: [String: Any] = [
                        "event_id": "6f1c2a9e-3333-4e0b-9a3f-00000000000\(n)", "name": n == 3 ? "purchase" : "identify",
                        "occurred_at": JoinDataset.timestamp(time), "received_at": JoinDataset.timestamp(time), "session_id": "device-\(n)",
                        "anonymous_id": anonymousID, "properties": [String: Any](), "context": [String: Any](),
                    ]
                    json["user_id"] = userID
                    return .init(table: .tag_events, json: json, time: time)
                }
            try await Self.insert(events, into: pool)
            let worker = JoinWorker(pool: pool)
            _ = try await worker.drain()

            // The anonymous unit's exposure, from before both events, arrives.
            let evaluation: [String: Any] = [
                "log_id": "\\x" + String(format: "%032x", 990), "time": JoinDataset.timestamp(t - 1000),
                "event_name": "feature_flag.evaluation", "flag_key": "exp-2", "flag_variant": "treatment",
                "flag_context_id": anonymous, "attributes": [String: Any](), "resource": [String: Any](),
            ]
            try await Self.insert([.init(table: .logs, json: evaluation, time: t - 1000)], into: pool)
            let other = PostgresPool(configuration: .init(connectionString: pool.configuration.connectionString, maximumConnections: 1))
            if holdPhoneBucket {
                try await other.execute("SELECT pg_advisory_lock($1, $2)", [.int32(QueueClaim.lockKey(.event)), .int32(Int32(bucket))])
            }
            _ = try await worker.runPass()
            let purchase: SQLQuery = "SELECT variants::text FROM lake.event_facts WHERE event_id = '6f1c2a9e-3333-4e0b-9a3f-000000000003'"
            let during: String = try await pool.query(purchase).scalar()
            if holdPhoneBucket {
                #expect(during == "{}", "the held bucket's event is left alone")
                let queued: Int = try await pool.query(
                    "SELECT count(*) FROM seam_meta.join_queue WHERE kind = 3 AND event_id = '6f1c2a9e-3333-4e0b-9a3f-000000000003'"
                ).scalar()
                #expect(queued >= 1, "and queued for its worker, found through the link")
                try await other.execute("SELECT pg_advisory_unlock($1, $2)", [.int32(QueueClaim.lockKey(.event)), .int32(Int32(bucket))])
            } else {
                #expect(during == #"{"exp-2": "treatment"}"#, "rewritten in place")
            }
            await other.close()
            _ = try await worker.drain()
            let after: String = try await pool.query(purchase).scalar()
            #expect(after == #"{"exp-2": "treatment"}"#)
            let resolved: String? = try await pool.query(
                "SELECT resolved_user_id FROM lake.exposures WHERE experiment_key = 'exp-2'").scalar()
            #expect(resolved == user)
        }
    }

    @Test("late data older than the horizon is stored raw and reported, and joined by a rebuild of its range")
    func horizonAndRebuild() async throws {
        try await withLake { pool in
            let day: TimeInterval = 86_400
            let old = Date().addingTimeInterval(-10 * day)
            _ = try await pool.withConnection { try LakePartitions.ensure(on: $0, covering: old, old) }
            let t = Int64(old.timeIntervalSince1970 * 1000)
            let span: [String: Any] = [
                "trace_id": "\\x" + String(repeating: "cd", count: 16), "span_id": "\\x0102030405060708", "name": "GET /",
                "kind": 2, "service_name": "web", "start_time": JoinDataset.timestamp(t), "end_time": JoinDataset.timestamp(t + 100),
                "status_code": 0, "attributes": [String: Any](), "resource": [String: Any](), "events": [Any](), "links": [Any](),
                "received_at": JoinDataset.timestamp(t),
            ]
            try await Self.insert([.init(table: .spans, json: span, time: t)], into: pool)
            let worker = JoinWorker(pool: pool)
            let report = try await worker.drain()
            #expect(report.late[.trace] == 1)
            #expect(try await pool.query("SELECT 1 FROM lake.traces").rowCount == 0)
            #expect(try await pool.query("SELECT 1 FROM lake.spans").rowCount == 1)

            let queued = try await pool.withConnection {
                try JoinRebuild.enqueue(from: old.addingTimeInterval(-day), to: old.addingTimeInterval(day), on: $0)
            }
            #expect(queued[.trace] == 1)
            let rebuilt = try await worker.drain()
            #expect(rebuilt.rows["traces"] == 1)
            #expect(try await pool.query("SELECT span_count FROM lake.traces").scalar(Int.self) == 1)
            // A second rebuild of the same range changes nothing.
            let before = try await Self.snapshot(pool)
            _ = try await pool.withConnection {
                try JoinRebuild.enqueue(from: old.addingTimeInterval(-day), to: old.addingTimeInterval(day), on: $0)
            }
            _ = try await worker.drain()
            #expect(try await Self.snapshot(pool) == before)
        }
    }
}

/// A flag one task sets and others read.
final class DoneFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
