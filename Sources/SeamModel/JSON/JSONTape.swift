/// A validated JSON document as a flat list of nodes over the client's bytes: one pass, no
/// recursion, no Foundation object per value. Ingestion reads tag events, Segment messages
/// and GA4 hits with it and passes nested objects (`properties`, `context`) on as the
/// client's bytes, checked and not re-serialized.
///
/// What `parse` guarantees of an accepted document, so that any slice of it can be stored
/// in a PostgreSQL `jsonb` or `text` column as it is:
/// - RFC 8259 syntax, one value, whitespace around it only;
/// - strings are valid UTF-8 without control characters, and escapes are well formed;
/// - nesting is at most `maximumDepth` deep (the parser keeps an explicit stack).
///
/// Two things are valid JSON but refused by `jsonb`: the escape `\u0000` and a `\u` escape
/// of an unpaired surrogate. They are not errors of the document; the nodes that hold them
/// are marked, and `isStorable(_:)` says whether a subtree is free of them.
///
/// Objects keep every member in order; a lookup by key answers the last member with that
/// key, as `jsonb` keeps the last.
///
/// A class, so that a `Value` (which refers to its tape) costs one reference count, not one
/// per array: values are passed around for every field read.
public final class JSONTape: Sendable {
    public enum Kind: UInt8, Sendable {
        case object, array, string, number, `true`, `false`, null
    }

    struct Node: Sendable {
        var kind: Kind
        /// A string with escapes (its text needs decoding).
        var escaped: Bool
        /// The string holds `\u0000` or an unpaired surrogate escape (not storable as jsonb).
        var unstorable: Bool
        /// The value's bytes: `start..<end` (quotes included for strings).
        var start: Int32
        var end: Int32
        /// Index of the node after this value's subtree.
        var next: Int32
        /// Children (array elements, or object keys and values: two per member).
        var count: Int32

        // The same as Int (widening never traps; the parser stores only values below
        // Int32.max, as `parse` refuses larger documents).
        var lower: Int { Int(truncatingIfNeeded: start) }
        var upper: Int { Int(truncatingIfNeeded: end) }
        var after: Int { Int(truncatingIfNeeded: next) }
        var children: Int { Int(truncatingIfNeeded: count) }
    }

    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// The document's bytes.
    public let bytes: [UInt8]
    let nodes: [Node]

    init(bytes: [UInt8], nodes: [Node]) {
        self.bytes = bytes
        self.nodes = nodes
    }

    /// The root value.
    public var root: Value { Value(tape: self, index: 0) }

    /// Parses `bytes` (at most `Int32.max` of them) into a tape, or says where and why it is not JSON.
    public static func parse(_ bytes: [UInt8], maximumDepth: Int = JSONDepth.maximum) throws(Failure) -> JSONTape {
        guard bytes.count < Int32.max else { throw Failure(reason: "JSON body larger than 2 GiB") }
        var parser = Parser(bytes: bytes, maximumDepth: maximumDepth)
        try parser.run()
        return JSONTape(bytes: bytes, nodes: parser.nodes)
    }

    /// Whether the value at `index`, and all it contains, can be stored as `jsonb`.
    func isStorable(_ index: Int) -> Bool {
        var i = index
        let end = nodes[index].after
        while i < end {
            if nodes[i].unstorable { return false }
            i += 1
        }
        return true
    }
}

extension JSONTape {
    /// One value of the document.
    public struct Value: Sendable {
        let tape: JSONTape
        let index: Int

        var node: Node { tape.nodes[index] }

        public var kind: Kind { node.kind }

        /// The value's bytes as the client sent them.
        public var bytes: ArraySlice<UInt8> { tape.bytes[node.lower..<node.upper] }

        /// Where the value lies in the document.
        public var range: Range<Int> { node.lower..<node.upper }

        /// Whether the value and all it contains can be stored as `jsonb` (no `\u0000`, no
        /// unpaired surrogate escape).
        public var isStorable: Bool { tape.isStorable(index) }

        /// Number of elements (array) or members (object); 0 for scalars.
        public var count: Int {
            switch node.kind {
            case .array: node.children
            case .object: node.children / 2
            default: 0
            }
        }

        /// The elements of an array (empty for anything else).
        public var elements: [Value] {
            guard node.kind == .array else { return [] }
            var out: [Value] = []
            out.reserveCapacity(node.children)
            var i = index + 1
            for _ in 0..<node.count {
                out.append(Value(tape: tape, index: i))
                i = tape.nodes[i].after
            }
            return out
        }

        /// The members of an object in order, keys decoded (empty for anything else).
        public var members: [(key: String, value: Value)] {
            guard node.kind == .object else { return [] }
            var out: [(key: String, value: Value)] = []
            out.reserveCapacity(node.children / 2)
            var i = index + 1
            for _ in 0..<node.count / 2 {
                let key = Value(tape: tape, index: i).string ?? ""
                let value = Value(tape: tape, index: i + 1)
                out.append((key, value))
                i = tape.nodes[i + 1].after
            }
            return out
        }

        /// The last member named `key` of an object; nil when absent or not an object.
        public subscript(key: String) -> Value? {
            guard node.kind == .object else { return nil }
            var key = key
            return key.withUTF8 { wanted in
                var found: Value?
                var i = index + 1
                for _ in 0..<node.count / 2 {
                    if tape.keyEquals(i, wanted) { found = Value(tape: tape, index: i + 1) }
                    i = tape.nodes[i + 1].after
                }
                return found
            }
        }

        /// The text of a string value; nil for other kinds.
        public var string: String? {
            guard node.kind == .string else { return nil }
            let inner = node.lower + 1..<node.upper - 1
            guard node.escaped else { return String(decoding: tape.bytes[inner], as: UTF8.self) }
            return String(decoding: JSONTape.unescape(tape.bytes[inner]), as: UTF8.self)
        }

        /// The UTF-8 length of a string value's text (without decoding it when it has no escapes).
        public var stringByteCount: Int? {
            guard node.kind == .string else { return nil }
            guard node.escaped else { return node.upper - node.lower - 2 }
            return JSONTape.unescape(tape.bytes[node.lower + 1..<node.upper - 1]).count
        }

        /// A number value as a Double (nil for other kinds; ±infinity when out of range).
        public var double: Double? {
            guard node.kind == .number else { return nil }
            return Double(String(decoding: bytes, as: UTF8.self))
        }

        /// A number value written as an integer (no fraction or exponent) that fits Int64.
        public var int64: Int64? {
            guard node.kind == .number else { return nil }
            return Int64(String(decoding: bytes, as: UTF8.self), radix: 10)
        }

        /// `true` / `false` values.
        public var bool: Bool? {
            switch node.kind {
            case .true: true
            case .false: false
            default: nil
            }
        }

        public var isNull: Bool { node.kind == .null }

        /// A short description of the kind for error messages ("a string", "an object"...).
        public var kindDescription: String {
            switch node.kind {
            case .object: "an object"
            case .array: "an array"
            case .string: "a string"
            case .number: "a number"
            case .true, .false: "a boolean"
            case .null: "null"
            }
        }
    }

    func keyEquals(_ index: Int, _ wanted: UnsafeBufferPointer<UInt8>) -> Bool {
        let node = nodes[index]
        let start = node.lower + 1
        let end = node.upper - 1
        if node.escaped { return JSONTape.unescape(bytes[start..<end]).elementsEqual(wanted) }
        guard end - start == wanted.count else { return false }
        var i = 0
        while i < wanted.count {
            if bytes[start + i] != wanted[i] { return false }
            i += 1
        }
        return true
    }

    /// The four hex digits at `at` of a `\u` escape as a number; nil when they are not there.
    static func hex4<Bytes: RandomAccessCollection<UInt8>>(_ bytes: Bytes, at: Int) -> UInt32? where Bytes.Index == Int {
        guard at >= bytes.startIndex, at + 4 <= bytes.endIndex else { return nil }
        var value: UInt32 = 0
        for j in at..<at + 4 {
            guard let digit = TraceIDs.nibble(bytes[j]) else { return nil }
            value = value << 4 | UInt32(truncatingIfNeeded: digit)
        }
        return value
    }

    /// The UTF-8 text of a string's contents (between the quotes), escapes decoded. The
    /// parser has checked the escapes; an unpaired surrogate becomes U+FFFD.
    static func unescape(_ raw: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = raw.startIndex
        while i < raw.endIndex {
            let byte = raw[i]
            guard byte == UInt8(ascii: "\\"), i + 1 < raw.endIndex else {
                out.append(byte)
                i += 1
                continue
            }
            let escape = raw[i + 1]
            i += 2
            switch escape {
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "u"):
                guard var scalar = JSONTape.hex4(raw, at: i) else { return out }
                i += 4
                if (0xD800..<0xDC00).contains(scalar), i + 6 <= raw.endIndex, raw[i] == UInt8(ascii: "\\"),
                    raw[i + 1] == UInt8(ascii: "u"), let low = JSONTape.hex4(raw, at: i + 2), (0xDC00..<0xE000).contains(low)
                {
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
                }
                let value = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                out.append(contentsOf: value.utf8)
            default: out.append(escape)  // " \ /
            }
        }
        return out
    }
}

extension JSONTape {
    /// The one-pass parser: an explicit stack of open containers, so nesting costs memory
    /// bounded by `maximumDepth`, never call depth.
    struct Parser {
        let bytes: [UInt8]
        let maximumDepth: Int
        var nodes: [Node] = []
        var position = 0
        /// Open containers: their node index.
        var stack: [Int] = []

        init(bytes: [UInt8], maximumDepth: Int) {
            self.bytes = bytes
            self.maximumDepth = maximumDepth
            nodes.reserveCapacity(bytes.count / 8 + 4)
        }

        /// Positions and node counts fit: `parse` refuses documents of Int32.max bytes or
        /// more, and there are at most as many nodes as bytes.
        static func int32(_ value: Int) -> Int32 { Int32(truncatingIfNeeded: value) }

        func fail(_ what: String) -> Failure {
            Failure(reason: "body is not valid JSON: \(what) at byte \(position)")
        }

        mutating func skipSpace() {
            while position < bytes.count {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        mutating func run() throws(Failure) {
            // States: expecting a value; after a value inside a container.
            skipSpace()
            try value()
            while !stack.isEmpty {
                skipSpace()
                guard position < bytes.count else { throw fail("unexpected end") }
                let open = stack[stack.count - 1]
                let isObject = nodes[open].kind == .object
                let byte = bytes[position]
                if byte == UInt8(ascii: ",") {
                    position += 1
                    skipSpace()
                    if isObject { try key() }
                    try value()
                } else if byte == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    position += 1
                    close()
                } else {
                    throw fail(isObject ? "expected ',' or '}'" : "expected ',' or ']'")
                }
            }
            skipSpace()
            guard position == bytes.count else { throw fail("unexpected bytes after the value") }
        }

        /// Closes the innermost container and finishes its node.
        mutating func close() {
            let open = stack.removeLast()
            nodes[open].end = Self.int32(position)
            nodes[open].next = Self.int32(nodes.count)
        }

        /// Counts a new child of the innermost container.
        mutating func countChild() {
            if let open = stack.last { nodes[open].count += 1 }
        }

        /// An object key and its colon.
        mutating func key() throws(Failure) {
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            try string()
            skipSpace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            position += 1
            skipSpace()
        }

        /// One value; a container is opened (and its first member read up to its value),
        /// to be continued by `run`.
        mutating func value() throws(Failure) {
            while true {
                guard position < bytes.count else { throw fail("unexpected end") }
                let byte = bytes[position]
                switch byte {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard stack.count < maximumDepth else {
                        throw Failure(reason: "JSON nests deeper than \(maximumDepth) levels (at byte \(position))")
                    }
                    countChild()
                    let isObject = byte == UInt8(ascii: "{")
                    stack.append(nodes.count)
                    nodes.append(Node(kind: isObject ? .object : .array, escaped: false, unstorable: false, start: Self.int32(position), end: 0, next: 0, count: 0))
                    position += 1
                    skipSpace()
                    guard position < bytes.count else { throw fail("unexpected end") }
                    if bytes[position] == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        position += 1
                        close()
                        return
                    }
                    if isObject { try key() }
                    continue  // the first element's value
                case UInt8(ascii: "\""):
                    try string()
                    return
                case UInt8(ascii: "t"): try literal("true", .true)
                case UInt8(ascii: "f"): try literal("false", .false)
                case UInt8(ascii: "n"): try literal("null", .null)
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
                default: throw fail("unexpected character")
                }
                return
            }
        }

        mutating func literal(_ text: StaticString, _ kind: Kind) throws(Failure) {
            let start = position
            let length = text.utf8CodeUnitCount
            guard bytes.count - position >= length else { throw fail("unexpected end") }
            let matches = text.withUTF8Buffer { expected in
                var i = 0
                while i < length {
                    if bytes[start + i] != expected[i] { return false }
                    i += 1
                }
                return true
            }
            guard matches else { throw fail("unexpected character") }
            position += length
            append(kind, start: start)
        }

        mutating func append(_ kind: Kind, start: Int, escaped: Bool = false, unstorable: Bool = false) {
            countChild()
            nodes.append(Node(kind: kind, escaped: escaped, unstorable: unstorable, start: Self.int32(start), end: Self.int32(position), next: Self.int32(nodes.count + 1), count: 0))
        }

        mutating func digits() -> Int {
            let start = position
            while position < bytes.count, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") { position += 1 }
            return position - start
        }

        mutating func number() throws(Failure) {
            let start = position
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard position < bytes.count else { throw fail("unexpected end in a number") }
            if bytes[position] == UInt8(ascii: "0") {
                position += 1
            } else if digits() == 0 {
                throw fail("expected a digit")
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard digits() > 0 else { throw fail("expected a digit after '.'") }
            }
            if position < bytes.count, bytes[position] | 0x20 == UInt8(ascii: "e") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
                guard digits() > 0 else { throw fail("expected a digit in the exponent") }
            }
            append(.number, start: start)
        }

        /// A string at `position` (its opening quote): escapes and UTF-8 checked.
        mutating func string() throws(Failure) {
            let start = position
            position += 1
            var escaped = false
            var unstorable = false
            while true {
                guard position < bytes.count else { throw fail("unterminated string") }
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    position += 1
                    break
                }
                if byte == UInt8(ascii: "\\") {
                    escaped = true
                    guard position + 1 < bytes.count else { throw fail("unterminated string") }
                    let escape = bytes[position + 1]
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        position += 2
                    case UInt8(ascii: "u"):
                        guard let scalar = hex4(position + 2) else { throw fail("a \\u escape needs four hex digits") }
                        position += 6
                        if scalar == 0 {
                            unstorable = true
                        } else if (0xD800..<0xDC00).contains(scalar) {
                            // A high surrogate is storable only when a low one follows.
                            if position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u"),
                                let low = hex4(position + 2), (0xDC00..<0xE000).contains(low)
                            {
                                position += 6
                            } else {
                                unstorable = true
                            }
                        } else if (0xDC00..<0xE000).contains(scalar) {
                            unstorable = true
                        }
                    default: throw fail("invalid escape")
                    }
                    continue
                }
                if byte < 0x20 { throw fail("control character in a string") }
                if byte < 0x80 {
                    position += 1
                    continue
                }
                guard let length = utf8Sequence(at: position) else { throw fail("invalid UTF-8") }
                position += length
            }
            append(.string, start: start, escaped: escaped, unstorable: unstorable)
        }

        func hex4(_ at: Int) -> UInt32? { JSONTape.hex4(bytes, at: at) }

        /// The length of the well-formed UTF-8 sequence starting at `at` (a byte ≥ 0x80), or
        /// nil: no overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629).
        func utf8Sequence(at: Int) -> Int? {
            let b0 = bytes[at]
            func continuation(_ offset: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
                at + offset < bytes.count && range.contains(bytes[at + offset])
            }
            switch b0 {
            case 0xC2...0xDF:
                return continuation(1) ? 2 : nil
            case 0xE0:
                return continuation(1, 0xA0...0xBF) && continuation(2) ? 3 : nil
            case 0xE1...0xEC, 0xEE...0xEF:
                return continuation(1) && continuation(2) ? 3 : nil
            case 0xED:
                return continuation(1, 0x80...0x9F) && continuation(2) ? 3 : nil
            case 0xF0:
                return continuation(1, 0x90...0xBF) && continuation(2) && continuation(3) ? 4 : nil
            case 0xF1...0xF3:
                return continuation(1) && continuation(2) && continuation(3) ? 4 : nil
            case 0xF4:
                return continuation(1, 0x80...0x8F) && continuation(2) && continuation(3) ? 4 : nil
            default:
                return nil
            }
        }
    }
}
