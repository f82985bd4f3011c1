#if canImport(Glibc)
import Glibc
#endif

/// The one owner of connections from a load balancer whose PROXY header
/// has not all arrived: each is watched (edge-triggered, so bytes that sit
/// unread while the rest is awaited wake the loop once, not forever) until
/// the header completes, turns out wrong, or its deadline passes. A
/// balancer's connection here counts against its service's
/// `max_connections` like a running handler, so their number is bounded.
final class PendingHeaders {
    struct Pending {
        var connection: Connection
        var service: String
        var rules: ProxyProtocol
        var deadline: UInt64
        var token: EventToken
    }

    private let epoll: Epoll
    private var byToken: [EventToken: Pending] = [:]
    private var perService: [String: Int] = [:]
    /// When the deadline sweep is timed next (one timer for them all, so a
    /// flood of slow headers leaves no pile of stale timers).
    private var nextSweep: UInt64?
    /// Where headers are peeked at: the longest one there can be.
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: ProxyHeader.longest, alignment: 8)

    init(epoll: Epoll) { self.epoll = epoll }

    deinit { buffer.deallocate() }

    var count: Int { byToken.count }

    /// The connections of `service` waiting for their header.
    func count(_ service: String) -> Int { perService[service] ?? 0 }

    /// Watches `c` until its header is all there. Returns when the deadline
    /// sweep must run for it (nil: one is timed at or before its deadline
    /// already), or the error that kept it from being watched.
    func park(_ c: Connection, service: String, rules: ProxyProtocol, deadline: UInt64) -> Result<UInt64?, Errno> {
        let token = EventToken.next(.proxyHeader, fd: c.fd)
        if case .failure(let e) = epoll.add(token, events: Epoll.readableEdge) { return .failure(e) }
        byToken[token] = Pending(connection: c, service: service, rules: rules, deadline: deadline, token: token)
        perService[service, default: 0] += 1
        if let at = nextSweep, at <= deadline { return .success(nil) }
        nextSweep = deadline
        return .success(deadline)
    }

    /// The connections whose deadline has passed at `now`, taken out, and
    /// when the next sweep is due (nil: none waits).
    func takeExpired(now: UInt64) -> (expired: [Pending], next: UInt64?) {
        nextSweep = nil
        let expired = byToken.values.filter { $0.deadline <= now }.map(\.token).compactMap { take($0) }
        // Deadlines close together share a sweep (each a pass over those
        // waiting): a header may be cut up to `sweepSlack` late.
        nextSweep = byToken.values.map(\.deadline).min().map { Nanoseconds.adding($0, Self.sweepSlack) }
        return (expired, nextSweep)
    }

    /// Whether the sweep timed for `at` is the one due (not one replaced by an earlier).
    func isSweepDue(_ at: UInt64) -> Bool { nextSweep == at }

    static let sweepSlack = 50 * Nanoseconds.perMillisecond

    /// Takes the connection of `token` out (its header came, or will not).
    func take(_ token: EventToken) -> Pending? {
        guard let p = byToken.removeValue(forKey: token) else { return nil }
        epoll.remove(token.fd)
        let n = (perService[p.service] ?? 1) - 1
        perService[p.service] = n > 0 ? n : nil
        return p
    }

    /// Looks at the connection of `token` without taking it.
    subscript(token: EventToken) -> Pending? { byToken[token] }

    /// Every connection of `service` (or of all services), taken out.
    func takeAll(_ service: String? = nil) -> [Pending] {
        let tokens = byToken.values.filter { service == nil || $0.service == service }.map(\.token)
        return tokens.compactMap { take($0) }
    }

    // MARK: Handover

    /// What an upgrade hands over: each connection still waiting for its
    /// header, open, with its deadline (CLOCK_MONOTONIC, the same in both
    /// images), so a balancer's connection is neither dropped nor given
    /// a fresh deadline by the upgrade.
    struct Snapshot: Codable {
        struct Item: Codable {
            var fd: Int32
            var peer: [UInt8]
            var listener: ListenAddress
            var service: String
            var rules: ProxyProtocol
            var deadline: UInt64
        }
        var items: [Item] = []
    }

    func snapshot() -> Snapshot {
        Snapshot(items: byToken.values.map { p in
            .init(fd: p.connection.fd, peer: p.connection.peer.bytes, listener: p.connection.listener.address,
                  service: p.service, rules: p.rules, deadline: p.deadline)
        })
    }
}
