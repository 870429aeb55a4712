import CLZ4

/// LZ4 block compression of frame payloads (liblz4).
enum LZ4 {
    /// The compressed bytes, or nil when compression would not make them smaller.
    static func compress(_ input: [UInt8]) -> [UInt8]? {
        guard !input.isEmpty, input.count < Int(Int32.max) else { return nil }
        let bound = Int(LZ4_compressBound(Int32(input.count)))
        var output = [UInt8](repeating: 0, count: bound)
        let written = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { destination in
                source.withMemoryRebound(to: CChar.self) { src in
                    destination.withMemoryRebound(to: CChar.self) { dst in
                        LZ4_compress_default(src.baseAddress, dst.baseAddress, Int32(input.count), Int32(bound))
                    }
                }
            }
        }
        guard written > 0, Int(written) < input.count else { return nil }
        output.removeSubrange(Int(written)...)
        return output
    }

    /// Decompresses exactly `rawLength` bytes, or nil when the input is not valid LZ4 of that size.
    static func decompress(_ input: UnsafeRawBufferPointer, rawLength: Int) -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: rawLength)
        let read = output.withUnsafeMutableBufferPointer { destination in
            destination.withMemoryRebound(to: CChar.self) { dst in
                LZ4_decompress_safe(
                    input.baseAddress?.assumingMemoryBound(to: CChar.self), dst.baseAddress, Int32(input.count), Int32(rawLength))
            }
        }
        return Int(read) == rawLength ? output : nil
    }
}
