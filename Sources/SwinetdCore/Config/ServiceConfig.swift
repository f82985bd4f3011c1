#if canImport(Glibc)
import Glibc
#endif

/// Where a handler's descriptor 2 goes.
public enum StderrMode: String, Equatable, Sendable {
    /// The connection itself, like stdout.
    case socket
    /// A pipe the master reads; each line is logged under the service and pid.
    case log
    /// /dev/null.
    case null
}

/// The identity a handler runs as, resolved when the table is loaded so the
/// spawn path does no lookups.
public struct Credentials: Equatable, Sendable {
    public var uid: uid_t
    public var gid: gid_t
    public var groups: [gid_t]
}

/// One service, validated, with every default resolved. Plain values only:
/// two configs compare equal exactly when a reload needs no change.
public struct ServiceConfig: Equatable, Sendable {
    public var name: String
    /// The `listen` entries as written, for summaries.
    public var listenSpecs: [String]
    /// The concrete socket addresses those entries open.
    public var addresses: [ListenAddress]
    public var exec: String
    /// argv[0] followed by `args`.
    public var argv: [String]
    public var user: String?
    public var group: String?
    /// nil: the handler keeps the master's uid, gid and groups.
    public var credentials: Credentials?
    /// The table's environment for the handler (defaults.env merged with the service's), sorted by name.
    public var env: [(String, String)]
    public var cwd: String
    public var maxConnections: Int
    public var backlog: Int
    public var stderr: StderrMode
    public var enabled: Bool

    public static func == (a: ServiceConfig, b: ServiceConfig) -> Bool {
        a.name == b.name && a.listenSpecs == b.listenSpecs && a.addresses == b.addresses
            && a.exec == b.exec && a.argv == b.argv && a.user == b.user && a.group == b.group
            && a.credentials == b.credentials && a.env.elementsEqual(b.env, by: ==)
            && a.cwd == b.cwd && a.maxConnections == b.maxConnections && a.backlog == b.backlog
            && a.stderr == b.stderr && a.enabled == b.enabled
    }
}

/// A whole validated table.
public struct ServiceTable: Equatable, Sendable {
    /// In file order.
    public var services: [ServiceConfig]
    /// Most handlers of all services together.
    public var maxChildren: Int

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
