/// Every key a service (or `defaults`) may set: its name, its default and a
/// one-line description. Validation, did-you-mean, `check`'s summary and
/// the test that swinetd.yaml(5) documents every key all read this list, so
/// a new key is added here once.
public enum ServiceKey: String, CaseIterable, Sendable {
    case listen, exec, args, argv0, user, group, env, cwd
    case maxConnections = "max_connections"
    case backlog, stderr, enabled
    case `protocol`
    case allow, deny
    case perSource = "per_source"
    case sourcePrefix = "source_prefix"
    case rate
    case rateBurst = "rate_burst"
    case sourceRate = "source_rate"
    case refuseMessage = "refuse_message"
    case proxyProtocol = "proxy_protocol"
    case penalty
    case envBySource = "env_by_source"
    case timeout, limits, nice, umask
    case noNewPrivileges = "no_new_privileges"
    case capabilities
    case privateNetwork = "private_network"
    case addressFamilies = "address_families"
    case systemCalls = "system_calls"
    case protectSystem = "protect_system"
    case protectHome = "protect_home"
    case readOnlyPaths = "read_only_paths"
    case readWritePaths = "read_write_paths"
    case inaccessiblePaths = "inaccessible_paths"
    case privateTmp = "private_tmp"
    case rootDirectory = "root_directory"
    case sandbox
    case wait, activation
    case builtin
    case socketMode = "socket_mode"
    case socketUser = "socket_user"
    case socketGroup = "socket_group"

    public var name: String { rawValue }

    /// The default, as swinetd.yaml(5) states it.
    public var defaultValue: String {
        switch self {
        case .listen, .exec: return "required"
        case .args: return "[]"
        case .argv0: return "the last component of exec"
        case .user, .group: return "swinetd's own"
        case .env: return "{}"
        case .cwd: return Defaults.cwd
        case .maxConnections: return String(Defaults.maxConnections)
        case .backlog: return String(Defaults.backlog)
        case .stderr: return Defaults.stderr.rawValue
        case .enabled: return "true"
        case .protocol: return "tcp"
        case .allow: return "everyone"
        case .deny: return "nobody"
        case .perSource, .rate, .sourceRate, .timeout: return "none"
        case .sourcePrefix: return "{ipv4: 32, ipv6: 64}"
        case .rateBurst: return "the count of rate"
        case .refuseMessage: return "none"
        case .proxyProtocol, .penalty: return "none"
        case .envBySource: return "[]"
        case .limits: return "swinetd's own"
        case .nice: return "swinetd's own"
        case .umask: return "swinetd's own"
        case .noNewPrivileges: return "false"
        case .capabilities: return "as the handler's user has"
        case .privateNetwork: return "false"
        case .addressFamilies: return "any"
        case .systemCalls: return "any"
        case .protectSystem, .protectHome, .privateTmp: return "false"
        case .readOnlyPaths, .readWritePaths, .inaccessiblePaths: return "[]"
        case .rootDirectory: return "/"
        case .sandbox: return "none"
        case .wait: return "false"
        case .activation: return "inetd"
        case .builtin: return "none"
        case .socketMode: return "\"0666\""
        case .socketUser, .socketGroup: return "swinetd's own"
        }
    }

    public var summary: String {
        switch self {
        case .listen: return "the addresses the service listens on"
        case .exec: return "the handler, an absolute path"
        case .args: return "the handler's arguments after argv[0]"
        case .argv0: return "the handler's argv[0]"
        case .user: return "the user the handler runs as"
        case .group: return "the group the handler runs as"
        case .env: return "extra environment variables for the handler"
        case .cwd: return "the handler's working directory"
        case .maxConnections: return "the most handlers of the service at once"
        case .backlog: return "the length of each listening socket's queue"
        case .stderr: return "where the handler's stderr goes: socket, log or null"
        case .enabled: return "false: validated but not served"
        case .protocol: return "the transport: tcp or udp"
        case .allow: return "the only networks served, as CIDR prefixes"
        case .deny: return "networks refused, even when allowed"
        case .perSource: return "the most handlers at once for one client group"
        case .sourcePrefix: return "how clients are grouped: prefix lengths for IPv4 and IPv6"
        case .rate: return "the most connections accepted per second or minute; beyond it they wait"
        case .rateBurst: return "connections rate lets through at once after a quiet spell"
        case .sourceRate: return "the most connections per second or minute from one client group"
        case .refuseMessage: return "text written to a client refused for per_source, source_rate or penalty"
        case .proxyProtocol: return "the load balancers whose PROXY protocol header names the real client: {from: [CIDR...], version, timeout, direct}"
        case .penalty: return "refuse a source for a while when its handler fails: {exit_codes, signals, short_run, add, max}"
        case .envBySource: return "variables added to the handler's environment by the client's network: [{from: [CIDR...], env: {NAME: value}}]"
        case .timeout: return "seconds a handler may run before it is stopped"
        case .limits: return "resource limits for the handler: nofile, nproc, as, data, fsize, cpu, core, stack"
        case .nice: return "the handler's nice value, -20 to 19"
        case .umask: return "the handler's umask, a quoted octal string"
        case .noNewPrivileges: return "true: setuid, setgid and file-capability programs the handler runs gain no privileges"
        case .capabilities: return "the only capabilities the handler may have: its bounding set as root, its ambient set as another user"
        case .privateNetwork: return "true: the handler keeps its connection but reaches no network (an empty network namespace)"
        case .addressFamilies: return "the only socket families the handler may open, such as [unix, inet, inet6]"
        case .systemCalls: return "the system calls the handler may make: {allow: [...], deny: [...], action: kill or EPERM}"
        case .protectSystem: return "true: /usr and /boot read-only; full: /etc too; strict: everything but /dev, /proc, /sys"
        case .protectHome: return "true: /home, /root and /run/user empty and unreachable; read-only: read-only"
        case .readOnlyPaths: return "paths the handler sees read-only"
        case .readWritePaths: return "paths the handler may write under protect_system or read_only_paths"
        case .inaccessiblePaths: return "paths the handler sees empty and cannot enter"
        case .privateTmp: return "true: a /tmp and /var/tmp of the handler's own, empty, gone when it ends"
        case .rootDirectory: return "the handler's root directory (chroot): exec and cwd are inside it"
        case .sandbox: return "strict: the isolation keys' preset for a line-based service; none: all off"
        case .wait: return "true: the handler gets the socket itself (required for udp)"
        case .activation: return "inetd (the socket on 0 and 1) or systemd (on 3, with LISTEN_FDS)"
        case .socketMode: return "a UNIX socket file's mode, a quoted octal string"
        case .builtin: return "an internal service instead of exec: echo, discard, daytime, time, chargen or auth"
        case .socketUser: return "the owner of a UNIX socket file"
        case .socketGroup: return "the group of a UNIX socket file"
        }
    }

    /// Whether `defaults` may set it (each service names its own addresses).
    public var allowedInDefaults: Bool { self != .listen && self != .builtin }

    /// What other super-servers call some keys, so a table moved from
    /// xinetd or FreeBSD inetd is told swinetd's name.
    static let borrowed: [String: ServiceKey] = [
        "only_from": .allow, "no_access": .deny, "instances": .maxConnections, "cps": .rate,
        "max-child-per-ip": .perSource, "max_child_per_ip": .perSource,
        "max-connections-per-ip-per-minute": .sourceRate, "rlimit_as": .limits, "rlimit_cpu": .limits,
        "rlimit_data": .limits, "rlimit_files": .limits, "rlimit_rss": .limits, "rlimit_stack": .limits,
        "server": .exec, "server_args": .args, "socket_type": .protocol, "disable": .enabled,
        "banner_fail": .refuseMessage, "ipaddressallow": .allow, "ipaddressdeny": .deny,
        "maxconnectionspersource": .perSource, "runtimemaxsec": .timeout,
        "nonewprivileges": .noNewPrivileges, "capabilityboundingset": .capabilities,
        "ambientcapabilities": .capabilities, "privatenetwork": .privateNetwork,
        "restrictaddressfamilies": .addressFamilies, "systemcallfilter": .systemCalls,
        "systemcallerrornumber": .systemCalls, "protectsystem": .protectSystem, "protecthome": .protectHome,
        "readonlypaths": .readOnlyPaths, "readwritepaths": .readWritePaths,
        "inaccessiblepaths": .inaccessiblePaths, "privatetmp": .privateTmp, "rootdirectory": .rootDirectory,
        "chroot": .rootDirectory, "accept-proxy": .proxyProtocol, "accept_proxy": .proxyProtocol,
        "proxyprotocol": .proxyProtocol, "proxy": .proxyProtocol, "deny_time": .penalty,
        "persourcepenalties": .penalty, "setenv": .envBySource,
    ]
}

/// The keys of the table's top level.
public enum TableKey: String, CaseIterable, Sendable {
    case services, defaults
    case maxChildren = "max_children"
    case metrics
    /// Files of more services (globs, relative to the table's folder).
    case include
}

/// The only key of a file that `include` names.
public enum IncludedKey: String, CaseIterable, Sendable {
    case services
}
