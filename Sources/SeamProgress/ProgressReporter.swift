import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Progress of long commands (`seam join rebuild`, `seam etl run` and `backfill`,
/// `seam spool verify`, `seam bench …`) on standard error, so that standard output keeps only
/// results.
///
/// On a terminal one line is redrawn in place (at most ten times a second): the step, how far
/// it is (done of total, and the share), the time it has taken, and an estimate of the time
/// left from the rate so far. Elsewhere (a pipe, a file, a CI log) plain lines: one when a
/// step starts, one every ten seconds or quarter of the way while it runs, and one when it ends,
/// with no carriage returns or escape sequences.
public final class ProgressReporter: Sendable {
    private struct State {
        var step: String?
        var total: Int?
        var done = 0
        var started: ContinuousClock.Instant
        var drawn: ContinuousClock.Instant?
        var printedQuarter = 0
        var lineOpen = false
    }

    private let label: String
    private let descriptor: Int32
    public let isTerminal: Bool
    private let state: Mutex<State>

    /// `label` starts every line (the command); `descriptor` is where it writes (standard
    /// error); `terminal` overrides the `isatty` check (tests).
    public init(label: String, descriptor: Int32 = STDERR_FILENO, terminal: Bool? = nil) {
        self.label = label
        self.descriptor = descriptor
        self.isTerminal = terminal ?? (isatty(descriptor) == 1)
        state = Mutex(State(started: .now))
    }

    /// Starts a step, ending the one before. `total`: how many units it has, when known.
    public func step(_ name: String, total: Int? = nil) {
        state.withLock { state in
            if state.lineOpen { closeLine(&state) }
            state = State(step: name, total: total, started: .now)
            if isTerminal {
                draw(&state)
            } else {
                write("\(label): \(name)\(total.map { " (\($0) to do)" } ?? "")…\n")
            }
        }
    }

    /// How far the current step is: `done` units of its total.
    public func update(done: Int) {
        state.withLock { state in
            state.done = done
            let now = ContinuousClock.now
            if isTerminal {
                if let drawn = state.drawn, now - drawn < .milliseconds(100) { return }
                draw(&state)
            } else {
                let quarter = state.total.map { $0 > 0 ? min(4, done * 4 / $0) : 0 } ?? 0
                let due = (state.drawn ?? state.started) + .seconds(10) <= now
                guard quarter > state.printedQuarter || due else { return }
                state.printedQuarter = max(state.printedQuarter, quarter)
                state.drawn = now
                write("\(label): \(describe(state, now: now))\n")
            }
        }
    }

    /// Ends the current step with `summary` (what it did).
    public func finish(_ summary: String) {
        state.withLock { state in
            let seconds = (ContinuousClock.now - state.started)
            let line = "\(label): \(state.step.map { "\($0): " } ?? "")\(summary) (\(Self.duration(seconds)))"
            write(isTerminal ? "\r\u{1B}[2K\(line)\n" : "\(line)\n")
            state.lineOpen = false
            state.step = nil
        }
    }

    // MARK: Drawing

    private func draw(_ state: inout State) {
        let now = ContinuousClock.now
        write("\r\u{1B}[2K\(label): \(describe(state, now: now))")
        state.drawn = now
        state.lineOpen = true
    }

    private func closeLine(_ state: inout State) {
        write("\n")
        state.lineOpen = false
    }

    /// "name 450 of 1000 (45 %), 12 s, about 15 s left".
    private func describe(_ state: State, now: ContinuousClock.Instant) -> String {
        let elapsed = now - state.started
        var text = state.step ?? ""
        if let total = state.total, total > 0 {
            let share = min(1, Double(state.done) / Double(total))
            text += " \(state.done) of \(total) (\(Int(share * 100)) %), \(Self.duration(elapsed))"
            if share > 0.01 && share < 1 {
                let left = elapsed * ((1 - share) / share)
                text += ", about \(Self.duration(left)) left"
            }
        } else {
            text += state.done > 0 ? " \(state.done) done, \(Self.duration(elapsed))" : ", \(Self.duration(elapsed))"
        }
        return text
    }

    static func duration(_ duration: Duration) -> String {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        if seconds < 10 { return String(format: "%.1f s", seconds) }
        if seconds < 120 { return "\(Int(seconds.rounded())) s" }
        if seconds < 7200 { return "\(Int(seconds / 60)) min \(Int(seconds) % 60) s" }
        return "\(Int(seconds / 3600)) h \(Int(seconds / 60) % 60) min"
    }

    private func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if n <= 0 {
                if n < 0 && errno == EINTR { continue }
                return
            }
            offset += n
        }
        bytes.removeAll()
    }
}
