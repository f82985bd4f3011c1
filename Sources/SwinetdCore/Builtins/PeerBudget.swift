#if canImport(Glibc)
import Glibc
#endif

/// How many answers a UDP builtin may still send each peer (its IPv4
/// address or IPv6 /64, whatever the port: one host sending from thousands
/// of ports or addresses of its /64 is one peer and cannot fill the table
/// alone): a burst of 20, then 5 a second.
///
/// A datagram bouncing between a builtin and another server that answers
/// it (another builtin, another inetd's echo, here or on another host, on
/// any ports) comes back from the same peer after every answer. Once it
/// comes back faster than the rate, that peer's budget runs out, the first
/// datagram left unanswered ends the bounce, and the peer has its budget
/// back after 4 quiet seconds. A bounce slower than that (a round trip over
/// 200 ms) goes on at most at the rate, and ends when either side drops
/// one. The table of peers is bounded: a flood of forged sources cannot
/// grow it, only be left unanswered.
struct PeerBudget {
    static let burst: UInt64 = 20
    static let rate: UInt64 = 5
    static let capacity = 4096
    /// After this long without a datagram a peer's budget is full again,
    /// so forgetting it changes nothing.
    static let refill = burst * Nanoseconds.perSecond / rate

    private var peers: [[UInt8]: (bucket: TokenBucket, seen: UInt64)] = [:]
    private var swept: UInt64?

    /// A peer's key: an IPv4 address, or an IPv6 /64 (one host commonly
    /// has a whole /64 to send from), never the port; an IPv4-mapped IPv6
    /// address is its IPv4 address.
    static func key(_ from: sockaddr_storage) -> [UInt8] {
        var address = from
        return withUnsafeBytes(of: &address) { raw in
            switch Int32(from.ss_family) {
            case AF_INET: return [4] + Array(raw[4..<8])
            case AF_INET6:
                if raw[8..<18].allSatisfy({ $0 == 0 }) && raw[18] == 0xff && raw[19] == 0xff { return [4] + Array(raw[20..<24]) }
                return [6] + Array(raw[8..<16])
            default: return Array(raw.prefix(MemoryLayout<sockaddr_storage>.size))
            }
        }
    }

    /// Whether `peer` (see `key`) may have one more answer now.
    mutating func take(_ peer: [UInt8], now: UInt64) -> Bool {
        if var entry = peers[peer] {
            entry.seen = now
            let granted = entry.bucket.take(now: now)
            peers[peer] = entry
            return granted
        }
        if peers.count >= Self.capacity {
            // At most one sweep a second, so a flood of new sources costs
            // a dictionary lookup each, not a sweep each.
            if swept.map({ Nanoseconds.since(now, $0) >= Nanoseconds.perSecond }) ?? true {
                swept = now
                peers = peers.filter { Nanoseconds.since(now, $0.value.seen) < Self.refill }
            }
            guard peers.count < Self.capacity else { return false }
        }
        var bucket = TokenBucket(rate: Self.rate, burst: Self.burst, now: now)
        _ = bucket.take(now: now)
        peers[peer] = (bucket, now)
        return true
    }
}
