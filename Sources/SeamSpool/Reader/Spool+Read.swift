import Foundation

/// One frame read back from the spool.
public struct SpoolFrame: Sendable {
    /// Where the frame starts.
    public var position: SpoolPosition
    /// Where the next entry starts: the progress to record once this frame is stored.
    public var next: SpoolPosition
    /// The kind given to `append`.
    public var kind: UInt8
    /// When the frame was appended (and acknowledged).
    public var appendedAt: Date
    /// The payload given to `append`.
    public var payload: [UInt8]
}

/// Bytes between two valid frames that are not a valid frame: disk damage. They are
/// returned rather than skipped, so the reader can keep them (in `lake.rejected`) and report.
public struct SpoolCorruption: Sendable {
    public var position: SpoolPosition
    public var next: SpoolPosition
    public var bytes: [UInt8]
}

public enum SpoolEntry: Sendable {
    case frame(SpoolFrame)
    case corrupt(SpoolCorruption)

    public var next: SpoolPosition {
        switch self {
        case .frame(let frame): frame.next
        case .corrupt(let corruption): corruption.next
        }
    }
}

extension Spool {
    /// Reads entries in order from `position` up to what is durable, about `maximumBytes`
    /// of payload at most (always at least one entry when one is available). Blocking.
    ///
    /// Returns the entries and the position after the last one (`position` itself when there
    /// is nothing new). A position in a released segment starts at the oldest one on disk.
    public func read(from position: SpoolPosition, maximumBytes: Int = 8 << 20) throws -> (entries: [SpoolEntry], next: SpoolPosition) {
        var position = max(position, start)
        var entries: [SpoolEntry] = []
        var bytes = 0
        var file: (number: UInt64, handle: SegmentFile)?
        defer { file?.handle.close() }

        while bytes < maximumBytes {
            let (limit, sealed) = state.withLock { state -> (UInt64?, Bool) in
                if position.segment == state.active { return (state.activeDurableSize, false) }
                return (state.segmentSizes[position.segment], true)
            }
            guard let limit else { break }  // nothing there (yet)
            if position.offset >= limit {
                guard sealed else { break }  // caught up with the writer
                position = SpoolPosition(segment: position.segment + 1, offset: 0)
                continue
            }
            if file?.number != position.segment {
                file?.handle.close()
                file = (position.segment, try SegmentFile(path: Self.segmentPath(configuration.directory, position.segment)))
            }
            let segment = file!.handle
            if let frame = segment.frame(at: position.offset, limit: limit) {
                let next = SpoolPosition(segment: position.segment, offset: frame.end)
                entries.append(
                    .frame(
                        SpoolFrame(
                            position: position, next: next, kind: frame.header.kind,
                            appendedAt: Date(timeIntervalSince1970: Double(frame.header.appendedAtMilliseconds) / 1000),
                            payload: frame.payload)))
                bytes += frame.payload.count
                position = next
            } else {
                let resume = segment.nextValidFrame(after: position.offset, limit: limit) ?? limit
                let damaged = segment.bytes(at: position.offset, count: Int(resume - position.offset))
                let next = SpoolPosition(segment: position.segment, offset: resume)
                entries.append(.corrupt(SpoolCorruption(position: position, next: next, bytes: damaged)))
                bytes += damaged.count
                position = next
            }
        }
        return (entries, position)
    }
}
