#if canImport(Glibc)
import Glibc
#endif

/// So many events per interval: `rate: "5/s"`, `source_rate: "30/min"`.
public struct Rate: Equatable, Sendable, Codable, CustomStringConvertible {
    public var count: Int
    /// 1 or 60.
    public var seconds: Int

    public var description: String { "\(count)/\(seconds == 1 ? "s" : "min")" }
    /// Nanoseconds between two tokens.
    var interval: UInt64 { UInt64(seconds) * Nanoseconds.perSecond / UInt64(count) }
}

/// How peers are grouped for `per_source` and `source_rate`: by their first
/// `ipv4` or `ipv6` bits. One IPv6 host usually owns a whole /64.
public struct SourcePrefix: Equatable, Sendable, Codable {
    public var ipv4 = 32
    public var ipv6 = 64

    public init(ipv4: Int = 32, ipv6: Int = 64) {
        self.ipv4 = ipv4
        self.ipv6 = ipv6
    }

    public func group(_ peer: PeerAddress) -> PeerAddress {
        peer.masked(peer.isIPv4 ? ipv4 : ipv6)
    }

    /// A group as the log and `status` write it: `192.0.2.0/24`.
    public func text(_ group: PeerAddress) -> String {
        "\(group.description)/\(group.isIPv4 ? ipv4 : ipv6)"
    }
}

/// Who may connect to a service, how many at once per client group, and
/// how fast: everything admission decides about a connection.
public struct AdmissionRules: Equatable, Sendable, Codable {
    /// Empty: everyone not denied.
    public var allow = PrefixSet([])
    public var deny = PrefixSet([])
    public var perSource: Int?
    public var sourcePrefix = SourcePrefix()
    public var rate: Rate?
    /// Tokens saved up for `rate` (its count when not set).
    public var rateBurst: Int?
    public var sourceRate: Rate?
    public var refuseMessage: String?
    /// Who may send a PROXY protocol header (nil: nobody, every peer is the client).
    public var proxy: ProxyProtocol?
    public var penalty: PenaltyRules?
    public var envBySource: [SourceEnvironment] = []

    public init() {}

    /// Whether a connection from `peer` is denied outright.
    public func denies(_ peer: PeerAddress) -> Bool {
        deny.contains(peer) || (!allow.isEmpty && !allow.contains(peer))
    }
}

/// One `limits` entry: a resource limit set, soft and hard, in the handler.
public struct ResourceLimit: Equatable, Sendable, Codable {
    public var name: String
    public var resource: Int32
    /// `unlimited` for no limit.
    public var value: UInt64

    /// RLIM_INFINITY (all ones: Glibc's macro does not import into Swift).
    public static let unlimited = UInt64.max

    /// The names `limits` takes, with their resource (Linux's numbers, the
    /// same on every architecture swinetd builds for; Glibc hides some of
    /// them from Swift) and whether the value is a size.
    static let known: [(name: String, resource: Int32, isSize: Bool)] = [
        ("as", 9, true), ("core", 4, true), ("cpu", 0, false), ("data", 2, true),
        ("fsize", 1, true), ("memlock", 8, true), ("nofile", 7, false), ("nproc", 6, false),
        ("rss", 5, true), ("stack", 3, true),
    ]

    public var valueText: String { value == ResourceLimit.unlimited ? "unlimited" : String(value) }
}

/// What a handler runs under besides its identity: a wall-clock limit,
/// resource limits, a nice value and a umask.
public struct HandlerLimits: Equatable, Sendable, Codable {
    /// Seconds; when they pass the handler's group gets SIGTERM, then SIGKILL.
    public var timeout: Double?
    public var limits: [ResourceLimit] = []
    public var nice: Int?
    public var umask: UInt32?

    public init() {}
}
