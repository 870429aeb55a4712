/// Where the elements of a top-level array member lie in a JSON body, found on the raw
/// bytes without recursion (as `JSONDepth`): so a record can be kept as the bytes the
/// client sent.
public enum JSONSlices {
    /// The byte ranges of the elements of the array that member `key` of the top-level
    /// object holds, in order; nil when the body is not such an object, the member is not
    /// found, appears twice, a key of the object is written with escapes (it could name the
    /// member too), or the bytes are malformed. Whitespace around an element is not part of its range.
    public static func arrayElements(of key: String, in body: [UInt8]) -> [Range<Int>]? {
        let wanted = Array(key.utf8)
        var depth = 0
        var index = 0
        var found: [Range<Int>]?
        // State inside the wanted array (depth 2 within it).
        var inWanted = false
        var elementStart: Int?
        var lastNonSpace = 0
        // The last string closed at depth 1 (a candidate key) and whether a ':' followed.
        var lastKey: Range<Int>?
        var keyIsWanted = false
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        while index < body.count {
            let byte = body[index]
            if byte == UInt8(ascii: "\"") {
                let start = index
                index += 1
                while index < body.count && body[index] != UInt8(ascii: "\"") {
                    index += body[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                guard index < body.count else { return nil }
                if inWanted && depth == 2 && elementStart == nil { elementStart = start }
                if depth == 1 { lastKey = start + 1..<index }
                lastNonSpace = index
                index += 1
                continue
            }
            if isSpace(byte) {
                index += 1
                continue
            }
            switch byte {
            case UInt8(ascii: ":") where depth == 1:
                guard let key = lastKey, !body[key].contains(UInt8(ascii: "\\")) else { return nil }
                keyIsWanted = Array(body[key]) == wanted
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                if depth == 1 && keyIsWanted && byte == UInt8(ascii: "[") {
                    guard found == nil else { return nil }
                    inWanted = true
                    found = []
                } else if inWanted && depth == 2 && elementStart == nil {
                    elementStart = index
                }
                if depth == 1 { keyIsWanted = false }
                depth += 1
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                depth -= 1
                guard depth >= 0 else { return nil }
                if inWanted && depth == 1 {
                    // The wanted array closes: its last element ends here.
                    if let start = elementStart { found?.append(start..<lastNonSpace + 1) }
                    elementStart = nil
                    inWanted = false
                }
            case UInt8(ascii: ",") where inWanted && depth == 2:
                guard let start = elementStart else { return nil }
                found?.append(start..<lastNonSpace + 1)
                elementStart = nil
            default:
                if inWanted && depth == 2 && elementStart == nil { elementStart = index }
                if depth == 1 { keyIsWanted = false }
            }
            lastNonSpace = index
            index += 1
        }
        return depth == 0 ? found : nil
    }
}
