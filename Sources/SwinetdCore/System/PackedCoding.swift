/// A compact binary form for any Codable value: how the table loader
/// process hands a validated table (or its diagnostics) to the master. A
/// value becomes a tree of `Packed` nodes, written as a tag byte and a
/// payload (LEB128 lengths and integers, little-endian doubles), and back.
/// Adding a field to a Codable type needs nothing here.
enum Packed: Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case list([Packed])
    /// A struct's fields, in the order they were encoded (looked up by a
    /// scan: a struct has a handful of fields, and hashing costs more).
    case map([Field])

    struct Field: Equatable {
        var key: String
        var value: Packed
    }

    struct Malformed: Error {}
}

enum PackedCoding {
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let root = PackedRef()
        try value.encode(to: PackedEncoder(root))
        var out: [UInt8] = []
        write(root.packed(), to: &out)
        return out
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        var offset = 0
        let tree = try read(bytes, &offset, depth: 0)
        guard offset == bytes.count else { throw Packed.Malformed() }
        return try T(from: PackedDecoder(tree))
    }

    // MARK: Bytes

    private static func write(_ p: Packed, to out: inout [UInt8]) {
        switch p {
        case .null: out.append(0)
        case .bool(let b): out.append(b ? 2 : 1)
        case .int(let i): out.append(3); varint(UInt64(bitPattern: (i << 1) ^ (i >> 63)), &out)
        case .uint(let u): out.append(4); varint(u, &out)
        case .double(let d): out.append(5); withUnsafeBytes(of: d.bitPattern.littleEndian) { out.append(contentsOf: $0) }
        case .string(let s): out.append(6); bytes(Array(s.utf8), &out)
        case .list(let items): out.append(7); varint(UInt64(items.count), &out); for i in items { write(i, to: &out) }
        case .map(let fields):
            out.append(8); varint(UInt64(fields.count), &out)
            for f in fields { bytes(Array(f.key.utf8), &out); write(f.value, to: &out) }
        }
    }

    private static func varint(_ value: UInt64, _ out: inout [UInt8]) {
        var v = value
        while v >= 0x80 { out.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }

    private static func bytes(_ b: [UInt8], _ out: inout [UInt8]) {
        varint(UInt64(b.count), &out)
        out.append(contentsOf: b)
    }

    private static func read(_ b: [UInt8], _ at: inout Int, depth: Int) throws -> Packed {
        guard at < b.count, depth < 64 else { throw Packed.Malformed() }
        let tag = b[at]
        at += 1
        switch tag {
        case 0: return .null
        case 1: return .bool(false)
        case 2: return .bool(true)
        case 3:
            let z = try readVarint(b, &at)
            return .int(Int64(bitPattern: z >> 1) ^ -Int64(bitPattern: z & 1))
        case 4: return .uint(try readVarint(b, &at))
        case 5:
            guard at + 8 <= b.count else { throw Packed.Malformed() }
            var bits: UInt64 = 0
            for i in 0..<8 { bits |= UInt64(b[at + i]) << (8 * UInt64(i)) }
            at += 8
            return .double(Double(bitPattern: bits))
        case 6: return .string(try readString(b, &at))
        case 7:
            let n = try readCount(b, &at)
            var items: [Packed] = []
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try read(b, &at, depth: depth + 1)) }
            return .list(items)
        case 8:
            let n = try readCount(b, &at)
            var fields: [Packed.Field] = []
            fields.reserveCapacity(n)
            for _ in 0..<n {
                let k = try readString(b, &at)
                fields.append(Packed.Field(key: k, value: try read(b, &at, depth: depth + 1)))
            }
            return .map(fields)
        default: throw Packed.Malformed()
        }
    }

    private static func readVarint(_ b: [UInt8], _ at: inout Int) throws -> UInt64 {
        var v: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard at < b.count, shift < 64 else { throw Packed.Malformed() }
            let byte = b[at]
            at += 1
            v |= UInt64(byte & 0x7f) << shift
            if byte < 0x80 { return v }
            shift += 7
        }
    }

    private static func readCount(_ b: [UInt8], _ at: inout Int) throws -> Int {
        let n = try readVarint(b, &at)
        // Each item takes at least one byte: a count beyond what is left is a lie.
        guard n <= UInt64(b.count - at) else { throw Packed.Malformed() }
        return Int(n)
    }

    private static func readString(_ b: [UInt8], _ at: inout Int) throws -> String {
        let n = try readCount(b, &at)
        defer { at += n }
        return String(decoding: b[at..<(at + n)], as: UTF8.self)
    }
}
