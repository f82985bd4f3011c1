/// A socket address family by the name `address_families` takes (`unix`,
/// `inet`, `inet6`, ...: AF_UNIX, AF_INET, AF_INET6 without the prefix, in
/// lower case; the AF_ spelling is read too), and its number.
public struct AddressFamily: Equatable, Hashable, Sendable, Codable {
    public var number: Int

    public var name: String { Self.names[number] ?? "af\(number)" }

    /// Linux's families (include/linux/socket.h), by number.
    static let names: [Int: String] = [
        1: "unix", 2: "inet", 3: "ax25", 4: "ipx", 5: "appletalk", 6: "netrom", 7: "bridge", 8: "atmpvc",
        9: "x25", 10: "inet6", 11: "rose", 12: "decnet", 13: "netbeui", 14: "security", 15: "key",
        16: "netlink", 17: "packet", 19: "econet", 20: "atmsvc", 21: "rds", 22: "sna", 23: "irda",
        24: "pppox", 25: "wanpipe", 26: "llc", 27: "ib", 28: "mpls", 29: "can", 30: "tipc",
        31: "bluetooth", 32: "iucv", 33: "rxrpc", 34: "isdn", 35: "phonet", 36: "ieee802154", 37: "caif",
        38: "alg", 39: "nfc", 40: "vsock", 41: "kcm", 42: "qipcrtr", 43: "smc", 44: "xdp", 45: "mctp",
    ]

    public init?(name: String) {
        var n = name.lowercased()
        if n.hasPrefix("af_") { n.removeFirst(3) }
        if n == "local" { n = "unix" }
        guard let number = Self.names.first(where: { $0.value == n })?.key else { return nil }
        self.number = number
    }

    static func suggestion(for name: String) -> String? {
        switch name.lowercased() {
        case "ipv4", "ip", "tcp", "udp": return "inet"
        case "ipv6", "tcp6", "udp6": return "inet6"
        default: return Spelling.suggestion(for: name, among: Array(names.values).sorted())
        }
    }
}
