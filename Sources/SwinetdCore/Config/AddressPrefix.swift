#if canImport(Glibc)
import Glibc
#endif

/// A peer address as admission sees it: IPv4 as IPv4, whether it arrived on
/// an IPv4 socket or as an IPv4-mapped address on an IPv6 one, so no
/// spelling of one client escapes a rule written for it.
public struct PeerAddress: Equatable, Hashable, Sendable, Codable {
    public var isIPv4: Bool
    /// IPv6: the 128 bits. IPv4: `low` holds the 32 bits, `high` is 0.
    public var high: UInt64
    public var low: UInt64

    public static func ipv4(_ bits: UInt32) -> PeerAddress { PeerAddress(isIPv4: true, high: 0, low: UInt64(bits)) }

    public static func ipv6(high: UInt64, low: UInt64) -> PeerAddress {
        // ::ffff:a.b.c.d is the IPv4 client a.b.c.d.
        if high == 0 && low >> 32 == 0xffff { return .ipv4(UInt32(truncatingIfNeeded: low)) }
        return PeerAddress(isIPv4: false, high: high, low: low)
    }

    /// From what accept(2) filled in; nil for another family.
    public init?(_ storage: UnsafePointer<sockaddr_storage>) {
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            let bits = storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt32(bigEndian: $0.pointee.sin_addr.s_addr) }
            self = .ipv4(bits)
        case AF_INET6:
            let (h, l) = storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { p in
                withUnsafeBytes(of: p.pointee.sin6_addr) { b in
                    (UInt64(bigEndian: b.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                     UInt64(bigEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
                }
            }
            self = .ipv6(high: h, low: l)
        default:
            return nil
        }
    }

    init(isIPv4: Bool, high: UInt64, low: UInt64) {
        self.isIPv4 = isIPv4
        self.high = high
        self.low = low
    }

    /// The address with all but its first `length` bits cleared.
    public func masked(_ length: Int) -> PeerAddress {
        if isIPv4 {
            let keep = length <= 0 ? 0 : UInt64(UInt32.max << UInt32(32 - min(length, 32)))
            return PeerAddress(isIPv4: true, high: 0, low: low & keep)
        }
        let (mh, ml) = Self.mask128(length)
        return PeerAddress(isIPv4: false, high: high & mh, low: low & ml)
    }

    static func mask128(_ length: Int) -> (UInt64, UInt64) {
        let n = max(0, min(length, 128))
        let high: UInt64 = n == 0 ? 0 : (n >= 64 ? .max : ~(UInt64.max >> UInt64(n)))
        let low: UInt64 = n <= 64 ? 0 : (n == 128 ? .max : ~(UInt64.max >> UInt64(n - 64)))
        return (high, low)
    }

    /// The address written out (no brackets, no port).
    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        if isIPv4 {
            var a = in_addr(s_addr: UInt32(truncatingIfNeeded: low).bigEndian)
            inet_ntop(AF_INET, &a, &text, socklen_t(text.count))
        } else {
            var a = in6_addr()
            withUnsafeMutableBytes(of: &a) { b in
                b.storeBytes(of: high.bigEndian, toByteOffset: 0, as: UInt64.self)
                b.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            inet_ntop(AF_INET6, &a, &text, socklen_t(text.count))
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// One `allow` or `deny` entry: an IPv4 or IPv6 network, a single address
/// being a full-length prefix. An IPv4-mapped IPv6 prefix of /96 or longer
/// (`::ffff:10.0.0.0/104`) is the IPv4 prefix it maps (10.0.0.0/8).
public struct AddressPrefix: Equatable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var isIPv4: Bool
    public var high: UInt64
    public var low: UInt64
    public var length: Int

    public func matches(_ peer: PeerAddress) -> Bool {
        guard peer.isIPv4 == isIPv4 else { return false }
        let m = peer.masked(length)
        return m.high == high && m.low == low
    }

    public var description: String {
        PeerAddress(isIPv4: isIPv4, high: high, low: low).description + "/\(length)"
    }

    public enum ParseError: Error, Equatable {
        case hostName
        case malformed
        case length(max: Int)
        /// Host bits set: the canonical spelling.
        case notCanonical(String)
    }

    /// Parses `192.0.2.7`, `10.0.0.0/8`, `::1`, `2001:db8::/32` or
    /// `::ffff:10.0.0.0/104`.
    public static func parse(_ text: String) -> Result<AddressPrefix, ParseError> {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let host = String(parts[0])
        var length: Int?
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), parts[1].count <= 3 else { return .failure(.malformed) }
            length = Int(parts[1])
        }
        var v4 = in_addr()
        var v6 = in6_addr()
        var address: PeerAddress
        var max: Int
        if inet_pton(AF_INET, host, &v4) == 1 {
            address = .ipv4(UInt32(bigEndian: v4.s_addr))
            max = 32
        } else if inet_pton(AF_INET6, host, &v6) == 1 {
            let (h, l) = withUnsafeBytes(of: v6) {
                (UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                 UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            }
            max = 128
            if h == 0 && l >> 32 == 0xffff && (length ?? 128) >= 96 {
                // The IPv4 network written in its mapped form.
                address = .ipv4(UInt32(truncatingIfNeeded: l))
                length = length.map { $0 - 96 }
                if let n = length, n > 32 { return .failure(.length(max: 128)) }
                max = 32
            } else {
                address = PeerAddress(isIPv4: false, high: h, low: l)
            }
        } else {
            let looksLikeName = host.utf8.contains { ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) } && !host.contains(":")
            return .failure(looksLikeName ? .hostName : .malformed)
        }
        let n = length ?? max
        guard n <= max else { return .failure(.length(max: max)) }
        let network = address.masked(n)
        let prefix = AddressPrefix(isIPv4: address.isIPv4, high: network.high, low: network.low, length: n)
        guard network == address else { return .failure(.notCanonical(prefix.description)) }
        return .success(prefix)
    }
}

/// A list of prefixes, split by family so a peer is compared only with its own.
public struct PrefixSet: Equatable, Sendable, Codable {
    public private(set) var prefixes: [AddressPrefix]
    private var ipv4: [AddressPrefix]
    private var ipv6: [AddressPrefix]

    public init(_ prefixes: [AddressPrefix]) {
        self.prefixes = prefixes
        ipv4 = prefixes.filter(\.isIPv4)
        ipv6 = prefixes.filter { !$0.isIPv4 }
    }

    public var isEmpty: Bool { prefixes.isEmpty }

    public func contains(_ peer: PeerAddress) -> Bool {
        if peer.isIPv4 {
            // One compare each: the network and mask in 32 bits.
            let bits = UInt32(truncatingIfNeeded: peer.low)
            for p in ipv4 {
                let mask: UInt32 = p.length == 0 ? 0 : UInt32.max << UInt32(32 - p.length)
                if bits & mask == UInt32(truncatingIfNeeded: p.low) { return true }
            }
            return false
        }
        return ipv6.contains { $0.matches(peer) }
    }
}
