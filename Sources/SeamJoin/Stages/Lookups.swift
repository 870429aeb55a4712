import SeamPostgres

/// How a stage's statements reach the lake rows of its claimed keys.
///
/// The stages' SQL reads those rows through lateral subqueries keyed by the claim
/// (`… CROSS JOIN LATERAL (SELECT … FROM lake.spans s WHERE s.trace_id = d.trace_id :per_key)`).
/// `:per_key` decides what PostgreSQL may do with them.
enum Lookups: Sendable, Equatable {
    /// One index lookup per claimed key: `:per_key` is `OFFSET 0`, which keeps each
    /// subquery a subquery, so the only plan is a nested loop of index scans. That is right
    /// for a batch of thousands of keys against tables of millions of rows, where a hash
    /// join would read the whole table for every batch; and it does not depend on
    /// statistics, which for a claim of a few keys are guesses.
    case perKey
    /// A backlog claim, hundreds of thousands of keys: `:per_key` is empty, the subqueries
    /// become plain joins, and the stage runs with nested loops off, so each lake table is
    /// read once and hashed against the claim, as the from-scratch build does. At a
    /// million-event catch-up the trace stage took 6.4 s this way against 12.9 s in claims
    /// of 20,000 looked up key by key (docs/benchmarks.md, "Backlog claims"). Nested loops
    /// are turned off rather than left to the planner: a join on two columns that always
    /// agree (an event's id and its time) is estimated at one row, and a nested loop over
    /// two such "one-row" results of a million rows each ran for minutes before it was
    /// stopped.
    case hashed

    /// A backlog claim is hashed when its items number at least this share of the rows of
    /// the lake table its stage reads most; a smaller one keeps looking keys up, since
    /// hashing reads the whole table, whatever the claim's size. A judgment from one
    /// catch-up of a million tag events, not a fitted model: the traces' spans cost 12.9 s
    /// looked up key by key and 6.4 s hashed with claims of a fifth of the spans; the event
    /// facts 15.7 s and 13.9–15.4 s with claims of half the tag events. A lake of 100
    /// million spans catching up on half a million traces keeps looking them up.
    static let hashedShare = 0.1

    /// The lake table whose rows a stage of `kind` reads most (nil: the stage has no
    /// backlog form).
    static func largestRead(of kind: QueueKind) -> String? {
        switch kind {
        case .trace: "lake.spans"
        case .event: "lake.tag_events"
        case .session: "lake.event_facts"
        case .exposure: "lake.logs"
        case .traceChanged, .unitChanged: nil
        }
    }

    /// How a backlog claim of `items` reads a table of about `tableRows` rows, when an
    /// ordinary claim takes `batchItems`. A backlog claim no larger than an ordinary one is
    /// the backlog's tail (under a steady load, the items that came while the first claim
    /// ran): looked up.
    static func forBacklog(items: Int, batchItems: Int, tableRows: Int) -> Lookups {
        items > batchItems && Double(items) >= hashedShare * Double(tableRows) ? .hashed : .perKey
    }

    /// How a backlog claim of `items` of `kind` reads its rows, from the planner's estimate
    /// of the size of the table its stage reads most (one catalog read).
    static func forBacklog(of kind: QueueKind, items: Int, batchItems: Int, on c: PostgresConnection) throws -> Lookups {
        guard let table = largestRead(of: kind), items > batchItems else { return .perKey }
        return forBacklog(items: items, batchItems: batchItems, tableRows: try estimatedRows(of: table, on: c))
    }

    /// About how many rows `table` holds, its partitions' when it has any: the planner's
    /// estimate (`pg_class.reltuples`), or for a partition never analyzed yet (today's,
    /// filling) its size in bytes over 100, more rows than it can hold (the lake's rows are
    /// wider), so that a doubt counts against hashing.
    static func estimatedRows(of table: String, on c: PostgresConnection) throws -> Int {
        try c.query(
            """
            SELECT coalesce(sum(CASE WHEN r.reltuples >= 0 THEN r.reltuples ELSE pg_relation_size(r.oid) / 100 END), 0)::bigint
            FROM pg_class r
            WHERE r.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = \(text: table)::regclass)
               OR (r.oid = \(text: table)::regclass AND r.relkind = 'r')
            """
        ).scalar(Int.self)
    }

    /// The text `:per_key` stands for.
    var fragment: SQLQuery { self == .perKey ? "OFFSET 0" : "" }

    /// The template argument for `:per_key`.
    var argument: SQLTemplate.Argument { .fragment(fragment) }

    /// Runs `body` with the planner settings of this mode (for `.hashed`: nested loops off
    /// for the transaction, back to the default after), in the current transaction.
    func applying<T>(on c: PostgresConnection, _ body: () throws -> T) throws -> T {
        guard self == .hashed else { return try body() }
        try c.executeScript("SET LOCAL enable_nestloop = off")
        let value = try body()
        try c.executeScript("SET LOCAL enable_nestloop TO DEFAULT")
        return value
    }
}

/// Whether a stage's writes may rebuild their table's indexes instead of maintaining them
/// (`seam_meta.join_suspend_indexes`, migration 0019): only a hashed backlog claim may,
/// when the table holds at most twice as many rows as the claim adds and its exclusive lock
/// comes within `wait`. Rows are written either way; only the indexes' cost differs, and,
/// into an empty table (`intoEmpty`), the comparison with stored rows that is then skipped.
struct IndexRebuild: Sendable, Equatable {
    var allowed: Bool
    var wait: Duration

    init(lookups: Lookups, wait: Duration) {
        allowed = lookups == .hashed && wait > .zero
        self.wait = wait
    }

    /// The wait in whole milliseconds, rounded up, from 1 ms to an hour.
    var lockTimeoutMilliseconds: Int64 {
        let (seconds, attoseconds) = min(max(wait, .zero), .seconds(3600)).components
        return max(1, seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
    }

    /// The template arguments `:'rebuild'` and `:'lock_timeout_ms'`.
    var arguments: [String: SQLTemplate.Argument] {
        ["rebuild": .value(.bool(allowed)), "lock_timeout_ms": .value(.int64(lockTimeoutMilliseconds))]
    }

    /// The derived tables a stage may write straight into (`intoEmpty`).
    enum Table: String {
        case eventFacts = "lake.event_facts"
        case traces = "lake.traces"
    }

    /// Whether a claim that may rebuild `table`'s indexes finds the table empty, in which case
    /// it drops the indexes now (`seam_meta.join_suspend_indexes`, with the claim's size as
    /// the rows it adds) and returns true: the stage then writes its rows straight into the
    /// bare table (`SQL/event_stage_into_empty.sql`, `SQL/trace_stage_into_empty.sql`), as
    /// the from-scratch build does, instead of into a temporary table compared with the
    /// stored rows: a first start over an imported lake, a join that starts from nothing.
    ///
    /// The table is tested again once its exclusive lock is held: another worker may have
    /// written to it between the first test and the lock. Then (or when the lock did not
    /// come within the wait) the stage takes its usual path; indexes already dropped stay
    /// dropped until its end builds them again, which is where that path would drop them
    /// anyway (asking for the lock once more when it did not come). The lock is held from
    /// here to the commit, against from the comparison to the commit on the usual path:
    /// readers of the empty table wait that much longer.
    func intoEmpty(_ table: Table, on c: PostgresConnection) throws -> Bool {
        guard allowed else { return false }
        // Three statements: the drop fails while the same statement reads the table, and the
        // last one's snapshot is taken with the lock held.
        let empty = "SELECT NOT EXISTS (SELECT 1 FROM \(unescaped: table.rawValue))" as SQLQuery
        guard try c.query(empty).scalar(Bool.self) else { return false }
        let suspended = try c.query(
            """
            SELECT seam_meta.join_suspend_indexes(\(text: table.rawValue)::regclass, (SELECT count(*) FROM join_claim),
                                                \(lockTimeoutMilliseconds)::integer)
            """
        ).scalar(Bool.self)
        return try suspended && c.query(empty).scalar(Bool.self)
    }
}
