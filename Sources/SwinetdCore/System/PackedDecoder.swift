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

    static func scalar<T: Decodable>(_ type: T.Type, _ p: Packed) throws -> T {
        let out: Any?
        switch (p, type) {
        case (.bool(let b), is Bool.Type): out = b
        case (.string(let s), is String.Type): out = s
        case (.double(let d), is Double.Type): out = d
        case (.double(let d), is Float.Type): out = Float(d)
        case (.int(let i), let t as any FixedWidthInteger.Type): out = t.init(exactly: i)
        case (.uint(let u), let t as any FixedWidthInteger.Type): out = t.init(exactly: u)
        default: out = try T(from: PackedDecoder(p))
        }
        guard let typed = out as? T else {
            throw DecodingError.typeMismatch(T.self, .init(codingPath: [], debugDescription: "cannot hold \(p)"))
        }
        return typed
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
