#if canImport(Glibc)
import Glibc
#endif

/// The classic internal services. swinetd serves each in a handler of its
/// own, `swinetd builtin NAME` (its own binary again), so they get every
/// limit, rule and counter of a service, and nothing they do, such as
/// chargen writing to a client that never reads, can stall the master.
public enum Builtin: String, CaseIterable, Equatable, Sendable, Codable {
    case echo, discard, daytime, time, chargen, auth

    /// Whether it also serves UDP (auth, RFC 1413, is TCP only).
    public var servesUDP: Bool { self != .auth }

    /// The binary that serves builtins: this one.
    public static let executable: String? = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()
}
