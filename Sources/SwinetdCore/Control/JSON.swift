/// The JSON of the control protocol: a value, a reader with bounds (depth
/// and size, so no request can make the master recurse or allocate without
/// limit) and a writer. Small on purpose: the master links no Foundation.
public enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    /// Keys in the order written.
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x == y
        case (.string(let x), .string(let y)): return x == y
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSON? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.first { $0.0 == key }?.1
    }

    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var number: Double? { if case .number(let n) = self { return n } else { return nil } }
    public var array: [JSON]? { if case .array(let a) = self { return a } else { return nil } }

    // MARK: Writing

    public var text: String {
        var out: [UInt8] = []
        write(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public func write(to out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let n):
            if n.isFinite && n == n.rounded() && abs(n) < 1e15 {
                out.append(contentsOf: String(Int64(n)).utf8)
            } else if n.isFinite {
                out.append(contentsOf: String(n).utf8)
            } else {
                out.append(contentsOf: "null".utf8)
            }
        case .string(let s): LogText.appendJSON(s, to: &out)
        case .array(let items):
            out.append(91)
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(44) }
                item.write(to: &out)
            }
            out.append(93)
        case .object(let pairs):
            out.append(123)
            for (i, (key, value)) in pairs.enumerated() {
                if i > 0 { out.append(44) }
                LogText.appendJSON(key, to: &out)
                out.append(58)
                value.write(to: &out)
            }
            out.append(125)
        }
    }

    // MARK: Reading

    public struct ParseError: Error, Equatable {
        public var offset: Int
        public var message: String
    }

    public static let maxDepth = 32

    public static func parse(_ bytes: [UInt8]) -> Result<JSON, ParseError> {
        var r = Reader(bytes: bytes)
        do {
            r.skipSpace()
            let value = try r.value(depth: 0)
            r.skipSpace()
            guard r.at == bytes.count else { throw ParseError(offset: r.at, message: "text after the value") }
            return .success(value)
        } catch let e as ParseError {
            return .failure(e)
        } catch {
            return .failure(ParseError(offset: 0, message: "\(error)"))
        }
    }

    private struct Reader {
        let bytes: [UInt8]
        var at = 0

        func fail(_ message: String) -> ParseError { ParseError(offset: at, message: message) }

        mutating func skipSpace() {
            while at < bytes.count, [32, 9, 10, 13].contains(bytes[at]) { at += 1 }
        }

        mutating func literal(_ word: String, _ value: JSON) throws -> JSON {
            let w = Array(word.utf8)
            guard at + w.count <= bytes.count, Array(bytes[at..<at + w.count]) == w else { throw fail("unknown word") }
            at += w.count
            return value
        }

        mutating func value(depth: Int) throws -> JSON {
            guard depth < JSON.maxDepth else { throw fail("nested too deeply") }
            guard at < bytes.count else { throw fail("unexpected end") }
            switch bytes[at] {
            case 110: return try literal("null", .null)
            case 116: return try literal("true", .bool(true))
            case 102: return try literal("false", .bool(false))
            case 34: return .string(try string())
            case 91:
                at += 1
                var items: [JSON] = []
                skipSpace()
                if at < bytes.count, bytes[at] == 93 { at += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard at < bytes.count else { throw fail("unexpected end in a list") }
                    if bytes[at] == 44 { at += 1; continue }
                    if bytes[at] == 93 { at += 1; return .array(items) }
                    throw fail("expected , or ]")
                }
            case 123:
                at += 1
                var pairs: [(String, JSON)] = []
                skipSpace()
                if at < bytes.count, bytes[at] == 125 { at += 1; return .object(pairs) }
                while true {
                    skipSpace()
                    guard at < bytes.count, bytes[at] == 34 else { throw fail("expected a key") }
                    let key = try string()
                    skipSpace()
                    guard at < bytes.count, bytes[at] == 58 else { throw fail("expected :") }
                    at += 1
                    skipSpace()
                    pairs.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    guard at < bytes.count else { throw fail("unexpected end in an object") }
                    if bytes[at] == 44 { at += 1; continue }
                    if bytes[at] == 125 { at += 1; return .object(pairs) }
                    throw fail("expected , or }")
                }
            default:
                return .number(try number())
            }
        }

        mutating func number() throws -> Double {
            let start = at
            while at < bytes.count, (48...57).contains(bytes[at]) || [43, 45, 46, 69, 101].contains(bytes[at]) { at += 1 }
            guard at > start, at - start <= 40, let n = Double(String(decoding: bytes[start..<at], as: UTF8.self)), n.isFinite else {
                at = start
                throw fail("not a value")
            }
            return n
        }

        mutating func hex4() throws -> UInt32 {
            guard at + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[at..<at + 4], as: UTF8.self), radix: 16) else {
                throw fail("bad \\u escape")
            }
            at += 4
            return v
        }

        mutating func string() throws -> String {
            at += 1   // the opening quote
            var out: [UInt8] = []
            while true {
                guard at < bytes.count else { throw fail("unterminated string") }
                let c = bytes[at]
                at += 1
                switch c {
                case 34:
                    return String(decoding: out, as: UTF8.self)
                case 92:
                    guard at < bytes.count else { throw fail("unterminated string") }
                    let e = bytes[at]
                    at += 1
                    switch e {
                    case 34, 92, 47: out.append(e)
                    case 98: out.append(8)
                    case 102: out.append(12)
                    case 110: out.append(10)
                    case 114: out.append(13)
                    case 116: out.append(9)
                    case 117:
                        var scalar = try hex4()
                        if (0xD800..<0xDC00).contains(scalar), at + 6 <= bytes.count, bytes[at] == 92, bytes[at + 1] == 117 {
                            at += 2
                            let low = try hex4()
                            if (0xDC00..<0xE000).contains(low) { scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00) }
                        }
                        out.append(contentsOf: String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8)
                    default:
                        throw fail("bad escape")
                    }
                case 0..<32:
                    throw fail("control character in a string")
                default:
                    out.append(c)
                }
            }
        }
    }
}
