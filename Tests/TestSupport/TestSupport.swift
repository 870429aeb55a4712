import Foundation
import SeamClock

/// A small deterministic generator (SplitMix64): seeded, so a failing test reproduces.
public struct SplitMix64: RandomNumberGenerator {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public mutating func next(below bound: UInt64) -> UInt64 { next() % bound }

    public mutating func hex(bytes: Int) -> String {
        var text = ""
        for _ in 0..<bytes { text += String(format: "%02x", Int(next(below: 256))) }
        return text
    }

    public mutating func uuid() -> String {
        let h = hex(bytes: 16)
        let c = Array(h)
        return "\(String(c[0..<8]))-\(String(c[8..<12]))-4\(String(c[13..<16]))-a\(String(c[17..<20]))-\(String(c[20..<32]))"
    }

    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            let j = Int(next(below: UInt64(i + 1)))
            array.swapAt(i, j)
        }
    }
}

/// gzip from the system's `gzip`: a real peer, not Seam's own code, for tests of its reader.
public enum SystemGzip {
    public static func compress(_ bytes: [UInt8]) throws -> [UInt8] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("seam-gzip-\(UUID().uuidString)")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-c", "-n", file.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Array(data)
    }
}

/// A clock that moves only when a test says so: services that sleep on it wait until the
/// test advances it past their deadline (or cancels them), so time-dependent behaviour is
/// tested without waiting for real time.
public final class ManualClock: ServiceClock, @unchecked Sendable {
    private struct Sleeper {
        var deadline: Duration
        var continuation: CheckedContinuation<Void, any Error>
    }

    private let lock = NSLock()
    private var wall: Date
    private var elapsed = Duration.zero
    private var sleepers: [UUID: Sleeper] = [:]

    public init(now: Date) { wall = now }

    public func now() -> Date { lock.withLock { wall } }
    public var uptime: Duration { lock.withLock { elapsed } }

    /// How many tasks sleep on the clock now.
    public var sleeping: Int { lock.withLock { sleepers.count } }

    public func sleep(for duration: Duration) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: Bool = lock.withLock {
                    if Task.isCancelled || duration <= .zero { return true }
                    sleepers[id] = Sleeper(deadline: elapsed + duration, continuation: continuation)
                    return false
                }
                if resumeNow {
                    if Task.isCancelled { continuation.resume(throwing: CancellationError()) } else { continuation.resume() }
                }
            }
        } onCancel: {
            let sleeper = lock.withLock { sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves both clocks on by `duration` and wakes every sleeper whose time has come.
    public func advance(by duration: Duration) {
        let due: [Sleeper] = lock.withLock {
            elapsed += duration
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            wall = wall.addingTimeInterval(seconds)
            let due = sleepers.filter { $0.value.deadline <= elapsed }
            for key in due.keys { sleepers.removeValue(forKey: key) }
            return Array(due.values)
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Waits (in real time, briefly) until at least `count` tasks sleep on the clock.
    public func waitForSleepers(_ count: Int = 1, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while sleeping < count {
            guard ContinuousClock.now < deadline else { throw ManualClockTimeout(expected: count, sleeping: sleeping) }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}

public struct ManualClockTimeout: Error, CustomStringConvertible {
    public var expected: Int
    public var sleeping: Int
    public var description: String { "expected \(expected) sleepers on the manual clock, found \(sleeping)" }
}
