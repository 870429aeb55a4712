import SeamPostgres

/// How far the derived tables trail the raw ones, read from the queue in PostgreSQL, so
/// any Seam process can report it whichever process runs the join.
public struct JoinStatus: Sendable, Equatable {
    /// Age in seconds of the oldest queue item; 0 when the join has caught up.
    public var lagSeconds: Double
    /// Items waiting in the queue (counted up to a million).
    public var pendingItems: Int
    /// Items set aside because their key fails to compute (`seam_meta.join_set_aside`).
    public var setAsideItems: Int = 0

    public static func read(from pool: PostgresPool) async throws -> JoinStatus {
        try await pool.withConnection { try read(on: $0) }
    }

    public static func read(on c: PostgresConnection) throws -> JoinStatus {
        let row = try c.query(
            """
            SELECT coalesce(extract(epoch FROM now() - (SELECT min(enqueued_at) FROM seam_meta.join_queue)), 0)::float8,
                   (SELECT count(*) FROM (SELECT 1 FROM seam_meta.join_queue LIMIT 1000000) AS q),
                   (SELECT count(*) FROM seam_meta.join_set_aside)
            """)[0]
        return JoinStatus(
            lagSeconds: max(0, try row[0].decode(Double.self)), pendingItems: try row[1].decode(Int.self),
            setAsideItems: try row[2].decode(Int.self))
    }
}
