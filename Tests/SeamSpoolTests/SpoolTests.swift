import Foundation
import Testing

@testable import SeamSpool

@Suite("Spool")
struct SpoolTests {
    final class Directory {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("seam-spool-\(UUID().uuidString)")
        deinit { try? FileManager.default.removeItem(at: url) }
        func segments() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: url.path).filter { $0.hasSuffix(".seg") }.sorted()
        }
    }

    func payload(_ i: Int, size: Int = 200) -> [UInt8] {
        var bytes = Array("record-\(i)-".utf8)
        while bytes.count < size { bytes.append(UInt8(truncatingIfNeeded: i &* 7 &+ bytes.count)) }
        return bytes
    }

    func readAll(_ spool: Spool, from: SpoolPosition? = nil) throws -> [SpoolEntry] {
        var position = from ?? spool.start
        var all: [SpoolEntry] = []
        while true {
            let (entries, next) = try spool.read(from: position, maximumBytes: 4096)
            if entries.isEmpty { return all }
            all += entries
            position = next
        }
    }

    func frames(_ entries: [SpoolEntry]) -> [SpoolFrame] {
        entries.compactMap { if case .frame(let f) = $0 { f } else { nil } }
    }

    @Test("CRC-32C matches the standard check value")
    func crc() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([]) == 0)
        let long = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 13) }
        let split = long[..<333].withUnsafeBytes { CRC32C.update(0, $0) }
        #expect(long[333...].withUnsafeBytes { CRC32C.update(split, $0) } == CRC32C.checksum(long))
    }

    @Test("concurrent appends come back in position order, each once, sharing flushes")
    func concurrentAppends() async throws {
        let dir = Directory()
        let spool = try Spool(configuration: .init(directory: dir.url))
        let count = 2000
        let positions = try await withThrowingTaskGroup(of: (Int, SpoolPosition).self) { group in
            for i in 0..<count {
                group.addTask { (i, try await spool.append(kind: UInt8(i % 3), payload(i))) }
            }
            return try await group.reduce(into: [Int: SpoolPosition]()) { $0[$1.0] = $1.1 }
        }
        #expect(Set(positions.values).count == count)
        #expect(spool.flushCount < count)  // group commit: several appends per fdatasync
        let read = frames(try readAll(spool))
        #expect(read.count == count)
        #expect(read.map(\.position) == read.map(\.position).sorted())
        for frame in read {
            let i = try #require(positions.first { $0.value == frame.position }?.key)
            #expect(frame.payload == payload(i))
            #expect(frame.kind == UInt8(i % 3))
        }
        await spool.close()
    }

    @Test("compressible payloads are stored LZ4-compressed and read back intact")
    func compression() async throws {
        let dir = Directory()
        let spool = try Spool(configuration: .init(directory: dir.url))
        let text = Array(String(repeating: #"{"name":"page_view","path":"/product/42"},"#, count: 2000).utf8)
        try await spool.append(kind: 1, text)
        #expect(spool.unreleasedBytes < text.count / 4)
        #expect(frames(try readAll(spool)).first?.payload == text)
        await spool.close()
    }

    @Test("segments rotate; releasing deletes consumed segments and frees space")
    func rotationAndRelease() async throws {
        let dir = Directory()
        let spool = try Spool(configuration: .init(directory: dir.url, segmentBytes: 4096, compress: false))
        for i in 0..<100 { try await spool.append(kind: 0, payload(i)) }
        #expect(spool.segmentCount > 3)
        let all = frames(try readAll(spool))
        #expect(all.map(\.payload) == (0..<100).map { payload($0) })
        let before = spool.unreleasedBytes
        let middle = all[60]
        try spool.release(before: middle.position)
        #expect(spool.unreleasedBytes < before)
        #expect(try dir.segments().count == spool.segmentCount)
        // Reading from the release point still yields everything after it.
        let rest = frames(try readAll(spool, from: middle.position))
        #expect(rest.first?.payload == payload(60))
        #expect(rest.count == 40)
        await spool.close()
    }

    func fileSize(_ url: URL) throws -> UInt64 {
        try #require((try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.uint64Value)
    }

    @Test("the active segment is written with zeros ahead of its frames; sealing and closing cut it to its frames")
    func preallocation() async throws {
        let dir = Directory()
        let spool = try Spool(configuration: .init(directory: dir.url, segmentBytes: 8 << 20, compress: false))
        var end = SpoolPosition(segment: 0, offset: 0)
        for i in 0..<10 { end = try await spool.append(kind: 0, payload(i)) }
        let active = dir.url.appendingPathComponent(try dir.segments().last!)
        let durable = spool.durableEnd.offset
        #expect(durable > end.offset)
        #expect(try fileSize(active) == 1 << 20)  // one preallocation step, not yet the frames' size
        let live = try SpoolVerification.run(directory: dir.url)
        #expect(live.isClean)
        #expect(live.segments.last?.preallocatedBytes == (1 << 20) - durable)
        #expect(live.segments.last?.frames == 10)
        await spool.close()
        #expect(try fileSize(active) == durable)

        // Sealed segments hold exactly their frames.
        let small = Directory()
        let rotating = try Spool(configuration: .init(directory: small.url, segmentBytes: 4096, compress: false))
        for i in 0..<40 { try await rotating.append(kind: 0, payload(i)) }
        let sealed = try small.segments().dropLast()
        #expect(sealed.count > 1)
        let verification = try SpoolVerification.run(directory: small.url)
        for segment in verification.segments.dropLast() {
            #expect(segment.preallocatedBytes == 0)
            #expect(segment.bytes == UInt64(segment.frames) * UInt64(FrameHeader.size + 200))
        }
        await rotating.close()
    }

    @Test("a segment left with preallocated zeros (Seam killed) is cut on open without a torn tail; every frame stays")
    func preallocatedTailAfterKill() async throws {
        let dir = Directory()
        let spool = try Spool(configuration: .init(directory: dir.url, compress: false))
        for i in 0..<5 { try await spool.append(kind: 0, payload(i)) }
        let durable = spool.durableEnd.offset
        // What a killed process leaves: the segment as it is on disk while open.
        let copy = Directory()
        try FileManager.default.createDirectory(at: copy.url, withIntermediateDirectories: true)
        let name = try dir.segments().last!
        try FileManager.default.copyItem(at: dir.url.appendingPathComponent(name), to: copy.url.appendingPathComponent(name))
        await spool.close()
        #expect(try fileSize(copy.url.appendingPathComponent(name)) > durable)

        let reopened = try Spool(configuration: .init(directory: copy.url))
        #expect(reopened.recovery.tornTailBytes == 0)
        #expect(try fileSize(copy.url.appendingPathComponent(name)) == durable)
        #expect(frames(try readAll(reopened)).map(\.payload) == (0..<5).map { payload($0) })
        await reopened.close()
        #expect(try SpoolVerification.run(directory: copy.url).isClean)
    }

    @Test("a torn frame followed by preallocated zeros is still a torn tail, cut and reported")
    func tornFrameBeforeZeros() async throws {
        let dir = Directory()
        var spool = try Spool(configuration: .init(directory: dir.url, compress: false))
        for i in 0..<3 { try await spool.append(kind: 0, payload(i)) }
        let partial = try spool.encode(kind: 0, payload(3))
        await spool.close()
        let segment = dir.url.appendingPathComponent(try dir.segments().last!)
        let handle = try FileHandle(forWritingTo: segment)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(partial.prefix(40)) + Data(count: 4096))
        try handle.close()
        let verification = try SpoolVerification.run(directory: dir.url)
        #expect(verification.segments.last?.tornTail?.length == 40 + 4096)
        #expect(!verification.isClean)
        spool = try Spool(configuration: .init(directory: dir.url))
        #expect(spool.recovery.tornTailBytes == 40 + 4096)
        #expect(frames(try readAll(spool)).map(\.payload) == (0..<3).map { payload($0) })
        await spool.close()
    }

    @Test("a full spool refuses appends until space is released")
    func full() async throws {
        let dir = Directory()
        let spool = try Spool(configuration: .init(directory: dir.url, segmentBytes: 2048, maximumBytes: 8192, compress: false))
        var stored = 0
        do {
            for i in 0..<1000 {
                try await spool.append(kind: 0, payload(i))
                stored += 1
            }
            Issue.record("the spool never filled up")
        } catch let error as SpoolError {
            #expect(error.code == .full)
        }
        #expect(stored > 10)
        try spool.release(before: spool.durableEnd)
        try await spool.append(kind: 0, payload(9999))
        await spool.close()
    }

    @Test("reopening keeps every frame and the spool id, and writes to a new segment")
    func reopen() async throws {
        let dir = Directory()
        var spool = try Spool(configuration: .init(directory: dir.url))
        for i in 0..<10 { try await spool.append(kind: 0, payload(i)) }
        let id = spool.id
        await spool.close()
        spool = try Spool(configuration: .init(directory: dir.url))
        #expect(spool.id == id)
        #expect(spool.recovery.tornTailBytes == 0)
        try await spool.append(kind: 0, payload(10))
        #expect(frames(try readAll(spool)).map(\.payload) == (0...10).map { payload($0) })
        #expect(try dir.segments().count == 2)
        await spool.close()
    }

    @Test("a torn final frame (crash mid-write) is cut on open and reported; earlier frames stay")
    func tornTail() async throws {
        let dir = Directory()
        var spool = try Spool(configuration: .init(directory: dir.url))
        for i in 0..<5 { try await spool.append(kind: 0, payload(i)) }
        let partial = try spool.encode(kind: 0, payload(5))
        await spool.close()
        let segment = dir.url.appendingPathComponent(try dir.segments().last!)
        let handle = try FileHandle(forWritingTo: segment)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(partial.prefix(partial.count / 2)))
        try handle.close()
        #expect(try SpoolVerification.run(directory: dir.url).segments.last?.tornTail != nil)

        spool = try Spool(configuration: .init(directory: dir.url))
        #expect(spool.recovery.tornTailBytes == partial.count / 2)
        let read = try readAll(spool)
        #expect(frames(read).map(\.payload) == (0..<5).map { payload($0) })
        #expect(read.count == 5)
        #expect(try SpoolVerification.run(directory: dir.url).isClean)
        await spool.close()
    }

    @Test("damage between valid frames is returned as corruption, never skipped silently")
    func corruptionInTheMiddle() async throws {
        let dir = Directory()
        var spool = try Spool(configuration: .init(directory: dir.url, compress: false))
        var positions: [SpoolPosition] = []
        for i in 0..<3 { positions.append(try await spool.append(kind: 0, payload(i))) }
        await spool.close()
        let segment = dir.url.appendingPathComponent(try dir.segments().last!)
        var bytes = try [UInt8](Data(contentsOf: segment))
        bytes[Int(positions[1].offset) + FrameHeader.size + 10] ^= 0xFF
        try Data(bytes).write(to: segment)

        let verification = try SpoolVerification.run(directory: dir.url)
        #expect(!verification.isClean)
        #expect(verification.segments.first?.corrupt.first?.offset == positions[1].offset)
        #expect(verification.segments.first?.frames == 2)

        spool = try Spool(configuration: .init(directory: dir.url))
        #expect(spool.recovery.tornTailBytes == 0)  // valid data follows: not a torn tail, not cut
        let read = try readAll(spool)
        #expect(read.count == 3)
        guard case .corrupt(let damage) = read[1] else {
            Issue.record("expected the damaged frame to be reported")
            return
        }
        #expect(damage.position == positions[1])
        #expect(damage.next == positions[2])
        #expect(damage.bytes.count == Int(positions[2].offset - positions[1].offset))
        #expect(frames(read).map(\.payload) == [payload(0), payload(2)])
        await spool.close()
    }
}

@Suite("Spool ownership")
struct SpoolOwnershipTests {
    @Test("a second spool on the same directory fails at once with a clear message; the lock goes with close")
    func exclusive() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("seam-spool-lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try Spool(configuration: .init(directory: dir))
        do {
            _ = try Spool(configuration: .init(directory: dir))
            Issue.record("a second spool opened the same directory")
        } catch let error as SpoolError {
            #expect(error.code == .locked)
            #expect(error.message.contains("in use by another Seam process (pid \(getpid()))"))
        }
        await first.close()
        let second = try Spool(configuration: .init(directory: dir))
        await second.close()
    }

    @Test("a spool that fails to open does not keep its directory locked")
    func failedOpenReleasesTheLock() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("seam-spool-lock-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        // spool.id as a directory: the id can be neither read nor written, so opening fails after the lock.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("spool.id"), withIntermediateDirectories: true)
        #expect(throws: SpoolError.self) { try Spool(configuration: .init(directory: dir)) }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("spool.id"))
        let spool = try Spool(configuration: .init(directory: dir))
        await spool.close()
    }
}
