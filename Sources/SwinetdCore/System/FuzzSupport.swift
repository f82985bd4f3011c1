/// What the table fuzzer (Sources/TableFuzzer) needs of the library's
/// internals, and nothing else uses.
public enum FuzzSupport {
    /// Whether `value` comes back equal from `PackedCoding`.
    public static func roundTrips<T: Codable & Equatable>(_ value: T) -> Bool {
        guard let bytes = try? PackedCoding.encode(value) else { return false }
        return (try? PackedCoding.decode(T.self, from: bytes)) == value
    }

    /// A file's bytes (the replay mode's inputs).
    public static func read(_ path: String) -> [UInt8]? {
        try? FileBytes.read(path).get()
    }
}
