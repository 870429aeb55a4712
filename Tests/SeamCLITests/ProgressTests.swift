import Foundation
import Testing

@testable import SeamProgress

#if canImport(Glibc)
    import Glibc
#endif

/// The progress of long commands, on a pseudo-terminal (one line redrawn in place) and on a
/// pipe (plain lines).
@Suite("Progress output")
struct ProgressTests {
    /// Runs `body` with a reporter writing to a pipe or to a pseudo-terminal, and returns
    /// what it wrote.
    static func captured(terminal: Bool, _ body: (ProgressReporter) -> Void) throws -> String {
        var writer: Int32 = -1
        var reader: Int32 = -1
        if terminal {
            var leader: Int32 = 0
            var follower: Int32 = 0
            guard openpty(&leader, &follower, nil, nil, nil) == 0 else { throw POSIXError(.EIO) }
            // Raw mode: the terminal passes the bytes as they are (no \n -> \r\n).
            var attributes = termios()
            tcgetattr(follower, &attributes)
            cfmakeraw(&attributes)
            tcsetattr(follower, TCSANOW, &attributes)
            (writer, reader) = (follower, leader)
        } else {
            var fds: [Int32] = [0, 0]
            guard Glibc.pipe(&fds) == 0 else { throw POSIXError(.EIO) }
            (writer, reader) = (fds[1], fds[0])
        }
        let reporter = ProgressReporter(label: "seam test", descriptor: writer)
        #expect(reporter.isTerminal == terminal, "isatty decides")
        body(reporter)
        close(writer)
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(reader, &buffer, buffer.count)
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        close(reader)
        return String(decoding: output, as: UTF8.self)
    }

    static func work(_ reporter: ProgressReporter) {
        reporter.step("segments", total: 4)
        for done in 1...4 {
            Thread.sleep(forTimeInterval: 0.12)
            reporter.update(done: done)
        }
        reporter.finish("4 segments, clean")
        reporter.step("jobs")
        reporter.update(done: 2)
        reporter.finish("2 jobs")
    }

    @Test("on a terminal: one line per step redrawn in place with how far, how long and how long left")
    func terminal() throws {
        let text = try Self.captured(terminal: true, Self.work)
        #expect(text.contains("\r\u{1B}[2Kseam test: segments 0 of 4 (0 %)"))
        #expect(text.contains("segments 2 of 4 (50 %)") && text.contains("left"))
        #expect(text.contains("\r\u{1B}[2Kseam test: segments: 4 segments, clean ("))
        #expect(text.contains("seam test: jobs: 2 jobs ("))
        // Two finished steps: two lines, each ended once.
        #expect(text.filter { $0 == "\n" }.count == 2, "\(text.debugDescription)")
    }

    @Test("on a pipe: plain lines, no carriage return or escape sequence")
    func plainLines() throws {
        let text = try Self.captured(terminal: false, Self.work)
        #expect(!text.contains("\r") && !text.contains("\u{1B}"), "\(text.debugDescription)")
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.first == "seam test: segments (4 to do)…")
        #expect(lines.contains { $0.hasPrefix("seam test: segments 1 of 4 (25 %)") })
        #expect(lines.contains { $0.hasPrefix("seam test: segments 4 of 4 (100 %)") })
        #expect(lines.contains { $0.hasPrefix("seam test: segments: 4 segments, clean (") })
        #expect(lines.last?.hasPrefix("seam test: jobs: 2 jobs (") == true)
        #expect(lines.count == 8, "\(lines)")
    }

    @Test("durations read as people say them")
    func durations() {
        #expect(ProgressReporter.duration(.milliseconds(2500)) == "2.5 s")
        #expect(ProgressReporter.duration(.seconds(75)) == "75 s")
        #expect(ProgressReporter.duration(.seconds(600)) == "10 min 0 s")
        #expect(ProgressReporter.duration(.seconds(7500)) == "2 h 5 min")
    }
}
