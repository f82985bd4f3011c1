/// The Encoder side of `PackedCoding`: containers fill a tree of nodes in
/// place (each node a class, so a container appends without copying what
/// is already there), which becomes one `Packed` value at the end.
final class PackedRef {
    enum Kind { case value, map, list }
    private(set) var kind = Kind.value
    private var value = Packed.null
    private var map: [(String, PackedRef)] = []
    private var list: [PackedRef] = []

    func packed() -> Packed {
        switch kind {
        case .value: return value
        case .map: return .map(map.map { Packed.Field(key: $0.0, value: $0.1.packed()) })
        case .list: return .list(list.map { $0.packed() })
        }
    }

    func becomeMap() { if kind != .map { kind = .map; map = [] } }
    func becomeList() { if kind != .list { kind = .list; list = [] } }

    /// A new child node under `key` (this node is a map).
    func child(_ key: String) -> PackedRef {
        let c = PackedRef()
        map.append((key, c))
        return c
    }

    /// A new child node at the end (this node is a list).
    func appended() -> PackedRef {
        let c = PackedRef()
        list.append(c)
        return c
    }

    var count: Int { kind == .list ? list.count : map.count }

    func setScalar(_ p: Packed) {
        kind = .value
        value = p
    }

    func set<T: Encodable>(_ value: T) throws {
        if let scalar = Packed(scalar: value) { setScalar(scalar) } else { try value.encode(to: PackedEncoder(self)) }
    }
}

extension Packed {
    /// The scalar types every Encoder must handle itself. Told apart by
    /// comparing metatypes, which costs a pointer comparison: a chain of
    /// `as?` casts ran a dynamic cast per scalar type for every struct and
    /// list encoded, most of what encoding a table cost.
    init?<T>(scalar value: T) {
        let t = ObjectIdentifier(T.self)
        switch t {
        case ObjectIdentifier(Bool.self): self = .bool(reinterpret(value, as: Bool.self))
        case ObjectIdentifier(String.self): self = .string(reinterpret(value, as: String.self))
        case ObjectIdentifier(Double.self): self = .double(reinterpret(value, as: Double.self))
        case ObjectIdentifier(Float.self): self = .double(Double(reinterpret(value, as: Float.self)))
        case ObjectIdentifier(Int.self): self = .int(Int64(reinterpret(value, as: Int.self)))
        case ObjectIdentifier(Int8.self): self = .int(Int64(reinterpret(value, as: Int8.self)))
        case ObjectIdentifier(Int16.self): self = .int(Int64(reinterpret(value, as: Int16.self)))
        case ObjectIdentifier(Int32.self): self = .int(Int64(reinterpret(value, as: Int32.self)))
        case ObjectIdentifier(Int64.self): self = .int(reinterpret(value, as: Int64.self))
        case ObjectIdentifier(UInt.self): self = .uint(UInt64(reinterpret(value, as: UInt.self)))
        case ObjectIdentifier(UInt8.self): self = .uint(UInt64(reinterpret(value, as: UInt8.self)))
        case ObjectIdentifier(UInt16.self): self = .uint(UInt64(reinterpret(value, as: UInt16.self)))
        case ObjectIdentifier(UInt32.self): self = .uint(UInt64(reinterpret(value, as: UInt32.self)))
        case ObjectIdentifier(UInt64.self): self = .uint(reinterpret(value, as: UInt64.self))
        default: return nil
        }
    }
}

/// `value` as the type it is known to be (the caller compared the
/// metatypes): a copy, without a dynamic cast.
@inline(__always)
func reinterpret<T, U>(_ value: T, as: U.Type) -> U {
    precondition(T.self == U.self)
    return withUnsafePointer(to: value) { $0.withMemoryRebound(to: U.self, capacity: 1) { $0.pointee } }
}

/// Coding paths are not kept: a table that the loader itself encoded has no
/// one to report a path to.
struct PackedEncoder: Encoder {
    let ref: PackedRef
    var codingPath: [CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(_ ref: PackedRef) { self.ref = ref }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        ref.becomeMap()
        return KeyedEncodingContainer(Keyed<Key>(ref: ref))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        ref.becomeList()
        return Unkeyed(ref: ref)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { Single(ref: ref) }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let ref: PackedRef
        var codingPath: [CodingKey] { [] }

        mutating func encodeNil(forKey key: Key) throws { _ = ref.child(key.stringValue) }
        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws { try ref.child(key.stringValue).set(value) }
        mutating func nestedContainer<N: CodingKey>(keyedBy: N.Type, forKey key: Key) -> KeyedEncodingContainer<N> {
            PackedEncoder(ref.child(key.stringValue)).container(keyedBy: N.self)
        }
        mutating func nestedUnkeyedContainer(forKey key: Key) -> UnkeyedEncodingContainer {
            PackedEncoder(ref.child(key.stringValue)).unkeyedContainer()
        }
        mutating func superEncoder() -> Encoder { PackedEncoder(ref.child("super")) }
        mutating func superEncoder(forKey key: Key) -> Encoder { PackedEncoder(ref.child(key.stringValue)) }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let ref: PackedRef
        var codingPath: [CodingKey] { [] }
        var count: Int { ref.count }

        mutating func encodeNil() throws { _ = ref.appended() }
        mutating func encode<T: Encodable>(_ value: T) throws { try ref.appended().set(value) }
        mutating func nestedContainer<N: CodingKey>(keyedBy: N.Type) -> KeyedEncodingContainer<N> {
            PackedEncoder(ref.appended()).container(keyedBy: N.self)
        }
        mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer { PackedEncoder(ref.appended()).unkeyedContainer() }
        mutating func superEncoder() -> Encoder { PackedEncoder(ref.appended()) }
    }

    struct Single: SingleValueEncodingContainer {
        let ref: PackedRef
        var codingPath: [CodingKey] { [] }
        mutating func encodeNil() throws { ref.setScalar(.null) }
        mutating func encode<T: Encodable>(_ value: T) throws { try ref.set(value) }
    }
}
