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
}
