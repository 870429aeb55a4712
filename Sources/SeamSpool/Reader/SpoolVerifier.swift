import Foundation

/// A read-only check of a spool directory (`seam spool verify`).
public struct SpoolVerification: Sendable {
    public struct Segment: Sendable {
        public var number: UInt64
        public var bytes: UInt64
        public var frames: Int
        public var payloadBytes: Int
        /// Damaged byte ranges `(offset, length)` between valid frames.
        public var corrupt: [(offset: UInt64, length: UInt64)]
        /// A damaged range reaching the end of the file: a torn final write.
        public var tornTail: (offset: UInt64, length: UInt64)?
        /// Zeros after the last frame of a segment still being written (or left by a process
        /// that stopped without closing the spool): preallocated space, not data.
        public var preallocatedBytes: UInt64 = 0
    }

    public var segments: [Segment]
    public var isClean: Bool { segments.allSatisfy { $0.corrupt.isEmpty && $0.tornTail == nil } }

    /// Scans every segment in `directory` without changing anything; `progress` hears
    /// (segments done, segments) after each.
    public static func run(directory: URL, progress: ((Int, Int) -> Void)? = nil) throws -> SpoolVerification {
        var result: [Segment] = []
        let numbers = try Spool.segmentNumbers(in: directory)
        for number in numbers {
            defer { progress?(result.count, numbers.count) }
            let path = Spool.segmentPath(directory, number)
            let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
            let file = try SegmentFile(path: path)
            defer { file.close() }
            var segment = Segment(number: number, bytes: size, frames: 0, payloadBytes: 0, corrupt: [], tornTail: nil)
            var offset: UInt64 = 0
            while offset < size {
                if let frame = file.frame(at: offset, limit: size) {
                    segment.frames += 1
                    segment.payloadBytes += frame.payload.count
                    offset = frame.end
                } else if file.isZero(from: offset, to: size) {
                    segment.preallocatedBytes = size - offset
                    offset = size
                } else if let resume = file.nextValidFrame(after: offset, limit: size) {
                    segment.corrupt.append((offset, resume - offset))
                    offset = resume
                } else {
                    segment.tornTail = (offset, size - offset)
                    offset = size
                }
            }
            result.append(segment)
        }
        return SpoolVerification(segments: result)
    }
}
