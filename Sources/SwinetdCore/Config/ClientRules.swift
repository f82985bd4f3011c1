/// The admission keys of round two (swinetd.yaml(5), BEHIND A LOAD
/// BALANCER and PENALTIES): who may tell swinetd the real client's address,
/// how a source that misbehaves is kept out, and what a source's rule adds
/// to the handler's environment.

/// `proxy_protocol`: the PROXY protocol header (HAProxy's spec, v1 text or
/// v2 binary) that a load balancer writes before the client's bytes. Only
/// the `from` networks may send one; everything admission decides then
/// applies to the client the header names.
public struct ProxyProtocol: Equatable, Sendable, Codable {
    public enum Version: String, CaseIterable, Sendable, Codable {
        case v1, v2, any
    }

    /// The balancers: the only peers whose header is believed.
    public var from: PrefixSet
    public var version = Version.any
    /// Seconds a balancer has to send the whole header.
    public var timeout = ProxyProtocol.defaultTimeout
    /// Whether a peer outside `from` is served as itself (`direct: allow`)
    /// rather than refused (`proxy-untrusted`).
    public var allowsDirect = false

    public static let defaultTimeout = 5.0

    public init(from: PrefixSet) {
        self.from = from
    }
}

/// `penalty`: a source whose handler ends badly is refused for a while.
public struct PenaltyRules: Equatable, Sendable, Codable {
    /// Exit codes by which a handler says "this client failed".
    public var exitCodes: [Int32] = []
    /// Whether a handler killed by a signal (not swinetd's `timeout`) counts.
    public var signals = false
    /// A handler that lives less than this (nanoseconds) counts.
    public var shortRun: UInt64?
    /// The first penalty; each repeat doubles it, up to `max`.
    public var add: UInt64 = 10 * Nanoseconds.perSecond
    public var max: UInt64 = 600 * Nanoseconds.perSecond

    public init() {}

    /// Whether a handler that ended with `status` after `lived`
    /// nanoseconds (and was not stopped by its `timeout`) counts against
    /// its source.
    func counts(_ status: ExitStatus, lived: UInt64, timedOut: Bool) -> Bool {
        if timedOut { return false }
        switch status {
        case .exited(let code): if exitCodes.contains(Int32(code)) { return true }
        case .signaled: if signals { return true }
        }
        if let short = shortRun, lived < short { return true }
        return false
    }
}

/// One `env_by_source` rule: the variables a client from `from` adds to
/// its handler's environment (tcprules' `10.0.:allow,RELAYCLIENT=""`).
public struct SourceEnvironment: Equatable, Sendable, Codable {
    public var from: PrefixSet
    public var env: [EnvVar]
}

extension ProxyProtocol {
    /// The `from` networks wider than /8 in `table`, by service: each trusts
    /// a great many hosts to name any client they like (`check` warns).
    public static func broadTrust(in table: ServiceTable) -> [(service: String, prefix: AddressPrefix)] {
        table.services.flatMap { s in
            (s.admission.proxy?.from.prefixes ?? []).filter { $0.length < 8 }.map { (s.name, $0) }
        }
    }
}
