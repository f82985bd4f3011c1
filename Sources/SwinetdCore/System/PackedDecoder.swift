/// The Decoder side of `PackedCoding`: containers read a `Packed` tree.
struct PackedDecoder: Decoder {
    let value: Packed
    /// Not kept (see PackedEncoder); errors say what was expected.
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(_ value: Packed) { self.value = value }

    private func mismatch(_ what: String) -> DecodingError {
        .typeMismatch(Packed.self, .init(codingPath: codingPath, debugDescription: "expected \(what)"))
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .map(let m) = value else { throw mismatch("a map") }
        return KeyedDecodingContainer(Keyed<Key>(fields: m))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer {
        guard case .list(let l) = value else { throw mismatch("a list") }
        return Unkeyed(items: l)
    }

    func singleValueContainer() throws -> SingleValueDecodingContainer { Single(value: value) }

    /// A scalar of the type asked for, told apart by metatype (a pointer
    /// comparison, not a dynamic cast); anything else decodes itself.
    static func scalar<T: Decodable>(_ type: T.Type, _ p: Packed) throws -> T {
        let t = ObjectIdentifier(T.self)
        func fail() -> DecodingError {
            DecodingError.typeMismatch(T.self, .init(codingPath: [], debugDescription: "cannot hold \(p)"))
        }
        func integer<I: FixedWidthInteger>(_: I.Type) throws -> T {
            let v: I?
            switch p {
            case .int(let i): v = I(exactly: i)
            case .uint(let u): v = I(exactly: u)
            default: v = nil
            }
            guard let v else { throw fail() }
            return reinterpret(v, as: T.self)
        }
        switch t {
        case ObjectIdentifier(Bool.self):
            guard case .bool(let b) = p else { throw fail() }
            return reinterpret(b, as: T.self)
        case ObjectIdentifier(String.self):
            guard case .string(let s) = p else { throw fail() }
            return reinterpret(s, as: T.self)
        case ObjectIdentifier(Double.self):
            guard case .double(let d) = p else { throw fail() }
            return reinterpret(d, as: T.self)
        case ObjectIdentifier(Float.self):
            guard case .double(let d) = p else { throw fail() }
            return reinterpret(Float(d), as: T.self)
        case ObjectIdentifier(Int.self): return try integer(Int.self)
        case ObjectIdentifier(Int8.self): return try integer(Int8.self)
        case ObjectIdentifier(Int16.self): return try integer(Int16.self)
        case ObjectIdentifier(Int32.self): return try integer(Int32.self)
        case ObjectIdentifier(Int64.self): return try integer(Int64.self)
        case ObjectIdentifier(UInt.self): return try integer(UInt.self)
        case ObjectIdentifier(UInt8.self): return try integer(UInt8.self)
        case ObjectIdentifier(UInt16.self): return try integer(UInt16.self)
        case ObjectIdentifier(UInt32.self): return try integer(UInt32.self)
        case ObjectIdentifier(UInt64.self): return try integer(UInt64.self)
        default: return try T(from: PackedDecoder(p))
        }
    }

    struct Keyed<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let fields: [Packed.Field]
        var codingPath: [CodingKey] { [] }
        var allKeys: [Key] { fields.compactMap { Key(stringValue: $0.key) } }

        private func find(_ key: Key) -> Packed? {
            let name = key.stringValue
            for f in fields where f.key == name { return f.value }
            return nil
        }

        func contains(_ key: Key) -> Bool { find(key) != nil }

        private func value(_ key: Key) throws -> Packed {
            guard let v = find(key) else {
                throw DecodingError.keyNotFound(key, .init(codingPath: [], debugDescription: "missing"))
            }
            return v
        }

        func decodeNil(forKey key: Key) throws -> Bool { try value(key) == .null }
        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try PackedDecoder.scalar(type, value(key))
        }
        func nestedContainer<N: CodingKey>(keyedBy: N.Type, forKey key: Key) throws -> KeyedDecodingContainer<N> {
            try PackedDecoder(value(key)).container(keyedBy: N.self)
        }
        func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
            try PackedDecoder(value(key)).unkeyedContainer()
        }
        func superDecoder() throws -> Decoder { PackedDecoder(fields.first { $0.key == "super" }?.value ?? .null) }
        func superDecoder(forKey key: Key) throws -> Decoder { try PackedDecoder(value(key)) }
    }

    struct Unkeyed: UnkeyedDecodingContainer {
        let items: [Packed]
        var codingPath: [CodingKey] { [] }
        var currentIndex = 0
        var count: Int? { items.count }
        var isAtEnd: Bool { currentIndex >= items.count }

        init(items: [Packed]) { self.items = items }

        private mutating func next() throws -> Packed {
            guard !isAtEnd else { throw DecodingError.valueNotFound(Packed.self, .init(codingPath: [], debugDescription: "end of list")) }
            defer { currentIndex += 1 }
            return items[currentIndex]
        }

        mutating func decodeNil() throws -> Bool {
            if !isAtEnd && items[currentIndex] == .null { currentIndex += 1; return true }
            return false
        }
        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try PackedDecoder.scalar(type, next()) }
        mutating func nestedContainer<N: CodingKey>(keyedBy: N.Type) throws -> KeyedDecodingContainer<N> {
            try PackedDecoder(next()).container(keyedBy: N.self)
        }
        mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try PackedDecoder(next()).unkeyedContainer() }
        mutating func superDecoder() throws -> Decoder { try PackedDecoder(next()) }
    }

    struct Single: SingleValueDecodingContainer {
        let value: Packed
        var codingPath: [CodingKey] { [] }
        func decodeNil() -> Bool { value == .null }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try PackedDecoder.scalar(type, value) }
    }
}
