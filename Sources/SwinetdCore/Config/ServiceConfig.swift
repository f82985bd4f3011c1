#if canImport(Glibc)
import Glibc
#endif

/// A service's transport.
public enum Transport: String, Equatable, Hashable, Sendable, Codable {
    case tcp, udp
}

/// How a UNIX socket's file is made: mode, and owner and group when set
/// (else swinetd's own).
public struct SocketFile: Equatable, Sendable, Codable {
    public var mode: UInt32 = 0o666
    public var owner: uid_t?
    public var group: gid_t?
    public var ownerName: String?
    public var groupName: String?
}

/// How a handler is given its socket.
public enum Activation: String, Equatable, Sendable, Codable {
    /// On descriptors 0 and 1, as inetd does.
    case inetd
    /// On descriptor 3 with LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES, as
    /// systemd does (sd_listen_fds(3)); 0 and 1 are /dev/null.
    case systemd
}

/// Where a handler's descriptor 2 goes.
public enum StderrMode: String, Equatable, Sendable, Codable {
    /// The connection itself, like stdout.
    case socket
    /// A pipe the master reads; each line is logged under the service and pid.
    case log
    /// /dev/null.
    case null
}

/// The identity a handler runs as, resolved when the table is loaded so the
/// spawn path does no lookups.
public struct Credentials: Equatable, Sendable, Codable {
    public var uid: uid_t
    public var gid: gid_t
    public var groups: [gid_t]
}

/// One variable of a handler's environment.
public struct EnvVar: Equatable, Sendable, Codable {
    public var name: String
    public var value: String
}

/// One `listen` entry as written, and the sockets it opens.
public struct ListenSpec: Equatable, Sendable, Codable {
    public var text: String
    public var addresses: [ListenAddress]
    /// `PORT` and `localhost:PORT` name IPv6 only by implication: on a host
    /// without IPv6 that half is skipped. An address written out is not.
    public var ipv6IsOptional: Bool
}

/// One service, validated, with every default resolved. Plain values only,
/// with a synthesized `==`: two configs compare equal exactly when a reload
/// needs no change, and a new field takes part without anyone remembering.
public struct ServiceConfig: Equatable, Sendable, Codable {
    public var name: String
    public var listen: [ListenSpec]
    public var exec: String
    /// argv[0] followed by `args`.
    public var argv: [String]
    public var user: String?
    public var group: String?
    /// nil: the handler keeps the master's uid, gid and groups.
    public var credentials: Credentials?
    /// The table's environment for the handler (defaults.env merged with the service's), sorted by name.
    public var env: [EnvVar]
    public var cwd: String
    public var maxConnections: Int
    public var backlog: Int
    public var stderr: StderrMode
    public var enabled: Bool
    public var transport: Transport = .tcp
    /// The handler gets the listening (or UDP) socket itself and serves
    /// until it exits; the master watches the socket again afterwards.
    public var wait = false
    public var activation = Activation.inetd
    /// An internal service, served by `swinetd builtin NAME` (then `exec` is swinetd itself).
    public var builtin: Builtin?
    /// The files of the service's UNIX sockets.
    public var socketFile = SocketFile()
    /// Who may connect, how many per client group, how fast.
    public var admission = AdmissionRules()
    /// The handler's timeout, resource limits, nice value and umask.
    public var handlerLimits = HandlerLimits()
    /// What the handler is kept from (no_new_privileges).
    public var sandbox = Sandbox()

    /// Whether the service listens on UNIX socket paths (all its addresses are).
    public var isUnix: Bool { listen.first?.addresses.first?.family == .unix }

    /// The concrete socket addresses the `listen` entries open.
    public var addresses: [ListenAddress] { listen.flatMap(\.addresses) }

    /// Whether `address` may be skipped on a host without IPv6.
    public func isOptional(_ address: ListenAddress) -> Bool {
        address.family == .ipv6 && listen.contains { $0.ipv6IsOptional && $0.addresses.contains(address) }
    }
}

/// A whole validated table.
public struct ServiceTable: Equatable, Sendable, Codable {
    /// In file order.
    public var services: [ServiceConfig]
    /// Most handlers of all services together.
    public var maxChildren: Int
    /// Where `GET /metrics` is served (none by default).
    public var metrics: [ListenAddress] = []
    /// Where each service is defined, `FILE:LINE`, by name (the main table
    /// or a file of `include`). Not part of a service's config: moving a
    /// service to another file changes nothing that runs.
    public var origins: [String: String] = [:]

    public subscript(name: String) -> ServiceConfig? {
        services.first { $0.name == name }
    }
}

/// The documented defaults (man/swinetd.yaml.5 lists the same).
public enum Defaults {
    public static let maxConnections = 64
    public static let backlog = 128
    public static let maxChildren = 1024
    public static let cwd = "/"
    public static let stderr = StderrMode.log
    public static let configPath = "/etc/swinetd/services.yaml"
}
