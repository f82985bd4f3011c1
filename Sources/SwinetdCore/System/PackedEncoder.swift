/// The Encoder side of `PackedCoding`: containers fill a tree of nodes,
/// which becomes one `Packed` value at the end.
/// A node being filled by an encoder; nested containers fill nested nodes.
final class PackedRef {
    enum Content { case value(Packed), map([String: PackedRef]), list([PackedRef]) }
    var content: Content = .value(.null)

    func packed() -> Packed {
        switch content {
        case .value(let v): return v
        case .map(let m): return .map(m.mapValues { $0.packed() })
        case .list(let l): return .list(l.map { $0.packed() })
        }
    }

    func set<T: Encodable>(_ value: T, path: [CodingKey]) throws {
        if let scalar = Packed(scalar: value) { content = .value(scalar) } else { try value.encode(to: PackedEncoder(self, path)) }
    }
}

extension Packed {
    /// The scalar types every Encoder must handle itself.
    init?<T>(scalar value: T) {
        switch value {
        case let v as Bool: self = .bool(v)
        case let v as String: self = .string(v)
        case let v as Double: self = .double(v)
        case let v as Float: self = .double(Double(v))
        case let v as Int: self = .int(Int64(v))
        case let v as Int8: self = .int(Int64(v))
        case let v as Int16: self = .int(Int64(v))
        case let v as Int32: self = .int(Int64(v))
        case let v as Int64: self = .int(v)
        case let v as UInt: self = .uint(UInt64(v))
        case let v as UInt8: self = .uint(UInt64(v))
        case let v as UInt16: self = .uint(UInt64(v))
        case let v as UInt32: self = .uint(UInt64(v))
        case let v as UInt64: self = .uint(v)
        default: return nil
        }
    }
}

struct PackedEncoder: Encoder {
    let ref: PackedRef
    var codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(_ ref: PackedRef, _ path: [CodingKey] = []) {
        self.ref = ref
        self.codingPath = path
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .map = ref.content {} else { ref.content = .map([:]) }
        return KeyedEncodingContainer(Keyed<Key>(ref: ref, codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        if case .list = ref.content {} else { ref.content = .list([]) }
        return Unkeyed(ref: ref, codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { Single(ref: ref, codingPath: codingPath) }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let ref: PackedRef
        var codingPath: [CodingKey]

        private func child(_ key: Key) -> PackedRef {
            let c = PackedRef()
            if case .map(var m) = ref.content { m[key.stringValue] = c; ref.content = .map(m) }
            return c
        }

        mutating func encodeNil(forKey key: Key) throws { _ = child(key) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try child(key).set(value, path: codingPath + [key]) }
        mutating func nestedContainer<N: CodingKey>(keyedBy: N.Type, forKey key: Key) -> KeyedEncodingContainer<N> {
            PackedEncoder(child(key), codingPath + [key]).container(keyedBy: N.self)
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
            PackedEncoder(child(key), codingPath + [key]).unkeyedContainer()
        }
        mutating func superEncoder() -> Encoder { PackedEncoder(child(Key(stringValue: "super")!), codingPath) }
        mutating func superEncoder(forKey key: Key) -> Encoder { PackedEncoder(child(key), codingPath + [key]) }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let ref: PackedRef
        var codingPath: [CodingKey]
        var count: Int { if case .list(let l) = ref.content { return l.count }; return 0 }

        private func child() -> PackedRef {
            let c = PackedRef()
            if case .list(var l) = ref.content { l.append(c); ref.content = .list(l) }
            return c
        }

        mutating func encodeNil() throws { _ = child() }
        mutating func encode<T: Encodable>(_ value: T) throws { try child().set(value, path: codingPath) }
        mutating func nestedContainer<N: CodingKey>(keyedBy: N.Type) -> KeyedEncodingContainer<N> {
            PackedEncoder(child(), codingPath).container(keyedBy: N.self)
        }
        mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer { PackedEncoder(child(), codingPath).unkeyedContainer() }
        mutating func superEncoder() -> Encoder { PackedEncoder(child(), codingPath) }
    }

    struct Single: SingleValueEncodingContainer {
        let ref: PackedRef
        var codingPath: [CodingKey]
        mutating func encodeNil() throws { ref.content = .value(.null) }
        mutating func encode<T: Encodable>(_ value: T) throws { try ref.set(value, path: codingPath) }
    }
}

