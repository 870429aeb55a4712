import DatabaseSupport
import Foundation
import SeamModel
import SeamPostgres
import SeamRecords
import SeamSpool
import ServiceLifecycle
import ServiceLifecycleTestKit
import TestSupport
import Testing

@testable import SeamLoader

/// The loader as a `Service`: it polls the spool on its clock, and at graceful shutdown
/// drains what was acknowledged before it stops.
@Suite("Loader lifecycle", .requiresPostgres)
struct LoaderLifecycleTests {
    static func append(_ count: Int, to spool: Spool, received: Date) async throws -> [UUID] {
        let events = (0..<count).map { i in
            TagEventRecord(
                eventID: UUID(), name: "page_view", occurredAt: received.addingTimeInterval(Double(-i)), receivedAt: received,
                sessionID: "s\(i)", properties: "{}", context: "{}")
        }
        let frame = SpoolRecord(
            kind: .tagEvents, encoding: .tagEventFrames, receivedMicros: Timestamps.micros(received), body: TagEventFrames.encode(events)
        ).frame
        try await spool.append(kind: frame.kind, frame.payload)
        return events.map(\.eventID)
    }

    static func withSpool(_ body: (Spool) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("seam-loader-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let spool = try Spool(configuration: .init(directory: directory, segmentBytes: 1 << 20, maximumBytes: 64 << 20))
        do {
            try await body(spool)
        } catch {
            await spool.close()
            throw error
        }
        await spool.close()
    }

    @Test("records spooled while it is idle load at its next poll; at shutdown it drains the rest, then stops")
    func pollsDrainsAndStops() async throws {
        try await TestDatabase.withLake { pool in
            try await Self.withSpool { spool in
                let clock = ManualClock(now: Date())
                let loaderPool = PostgresPool(configuration: .init(connectionString: pool.configuration.connectionString, maximumConnections: 1))
                let loader = SpoolLoader(
                    spool: spool, pool: loaderPool, configuration: .init(pollInterval: .seconds(60), drainTimeout: .seconds(10)), clock: clock)
                try await testGracefulShutdown { trigger in
                    let running = Task { try await loader.run() }
                    try await clock.waitForSleepers()
                    _ = try await Self.append(3, to: spool, received: clock.now())
                    #expect(try await pool.query("SELECT count(*) FROM lake.tag_events").scalar(Int.self) == 0)
                    clock.advance(by: .seconds(60))
                    let deadline = ContinuousClock.now + .seconds(30)
                    while try await pool.query("SELECT count(*) FROM lake.tag_events").scalar(Int.self) < 3 {
                        guard ContinuousClock.now < deadline else { Issue.record("the spooled events were not loaded after the poll"); break }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    try await clock.waitForSleepers()
                    // Acknowledged just before shutdown: the drain stores them, though no poll comes.
                    let late = try await Self.append(2, to: spool, received: clock.now())
                    trigger.triggerGracefulShutdown()
                    try await running.value
                    #expect(try await pool.query("SELECT count(*) FROM lake.tag_events").scalar(Int.self) == 5)
                    #expect(try await pool.query("SELECT count(*) FROM lake.tag_events WHERE event_id = \(late[1])").scalar(Int.self) == 1)
                    #expect(loader.totals.tagEventsStored == 5)
                }
                await loaderPool.close()
            }
        }
    }
}
