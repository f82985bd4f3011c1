#if canImport(Glibc)
import Glibc
#endif

/// Which keys fit which kind of service: a wait service's handler gets the
/// socket itself (it accepts, or reads datagrams, on its own), so the keys
/// that decide about single connections cannot apply to it; and UDP is
/// served only that way, since the master never reads a datagram.
extension Validation {
    static let perConnectionKeys: [ServiceKey] = [
        .maxConnections, .allow, .deny, .perSource, .sourcePrefix, .rate, .rateBurst, .sourceRate, .refuseMessage,
        .proxyProtocol, .penalty, .envBySource,
    ]

    /// false when they do not fit (each misfit reported).
    mutating func waitFits(name: String, nameNode: Int, transport: Transport, wait: Bool, own: Settings, defaults: Settings) -> Bool {
        if transport == .udp && !wait {
            let node = own.keyNodes[.wait] ?? own.keyNodes[.protocol] ?? nameNode
            error(node, "service '\(name)' uses udp, which needs 'wait: true': the master never reads a datagram, so the handler gets the socket and reads them itself")
            return false
        }
        guard wait else { return true }
        var ok = true
        for key in Self.perConnectionKeys {
            if let node = own.keyNodes[key] {
                error(node, "'\(key.name)' does not apply to a wait service: its handler \(transport == .udp ? "reads the datagrams" : "accepts the connections") itself")
                ok = false
            } else if key != .maxConnections, defaults.present.contains(key) {
                error(own.keyNodes[.wait] ?? nameNode, "'\(key.name)' in 'defaults' cannot apply to wait service '\(name)', whose handler \(transport == .udp ? "reads the datagrams" : "accepts the connections") itself")
                ok = false
            }
        }
        return ok
    }

    static let ipClientKeys: [ServiceKey] = [.allow, .deny, .perSource, .sourcePrefix, .sourceRate, .refuseMessage,
                                             .proxyProtocol, .penalty, .envBySource]
    static let socketFileKeys: [ServiceKey] = [.socketMode, .socketUser, .socketGroup]

    /// A service's UNIX socket files: all of its addresses are paths or
    /// none is, the keys about IP clients do not apply to paths, and the
    /// socket_* keys only to them. nil: something did not fit (reported).
    mutating func socketFile(name: String, nameNode: Int, listen: [ListenSpec], transport: Transport,
                             own: Settings, defaults: Settings) -> SocketFile? {
        let paths = listen.flatMap(\.addresses).filter { $0.family == .unix }.count
        let total = listen.flatMap(\.addresses).count
        var ok = true
        if paths == 0 {
            if own.saysUnix {
                error(own.keyNodes[.protocol] ?? nameNode, "service '\(name)' says protocol unix, so each 'listen' entry must be an absolute path")
                ok = false
            }
            for key in Self.socketFileKeys {
                if let node = own.keyNodes[key] {
                    error(node, "'\(key.name)' applies only to UNIX sockets (a path in 'listen')")
                    ok = false
                }
            }
            return ok ? SocketFile() : nil
        }
        if paths != total {
            error(nameNode, "service '\(name)' mixes UNIX socket paths and IP addresses in 'listen': give each kind its own service")
            return nil
        }
        if transport == .udp {
            error(own.keyNodes[.protocol] ?? nameNode, "service '\(name)' listens on a UNIX path, which is a stream socket: its protocol is unix, not udp")
            return nil
        }
        for key in Self.ipClientKeys {
            if let node = own.keyNodes[key] {
                error(node, "'\(key.name)' applies to IP clients; a UNIX socket's clients are known by their uid (UNIXREMOTEEUID), and its file's mode and owner say who may connect")
                ok = false
            }
        }
        var file = SocketFile()
        file.mode = own.socketMode ?? defaults.socketMode ?? 0o666
        if let user = own.socketUser ?? defaults.socketUser {
            if let found = HostChecks.user(user.name) { file.owner = found.uid; file.ownerName = user.name } else {
                error(user.node, "unknown user '\(user.name)' in service '\(name)'")
                ok = false
            }
        }
        if let group = own.socketGroup ?? defaults.socketGroup {
            if let gid = HostChecks.group(group.name) { file.group = gid; file.groupName = group.name } else {
                error(group.node, "unknown group '\(group.name)' in service '\(name)'")
                ok = false
            }
        }
        let euid = geteuid()
        if checkPrivileges && euid != 0 {
            if let owner = file.owner, owner != euid, let user = own.socketUser ?? defaults.socketUser {
                error(user.node, "'socket_user' \(user.name) needs swinetd to run as root (it runs as uid \(euid))")
                ok = false
            }
        }
        return ok ? file : nil
    }

    /// A builtin stands instead of `exec` and its arguments, and serves the
    /// socket the classic way. nil: it does not fit (reported).
    mutating func builtinFits(name: String, _ b: (value: Builtin, node: Int), transport: Transport, own: Settings) -> Builtin? {
        var ok = true
        for key in [ServiceKey.exec, .args, .argv0] {
            if let node = own.keyNodes[key] {
                error(node, "service '\(name)' has 'builtin: \(b.value.rawValue)', which stands instead of '\(key.name)': give one or the other")
                ok = false
            }
        }
        if transport == .udp && !b.value.servesUDP {
            error(b.node, "builtin '\(b.value.rawValue)' is TCP only (RFC 1413)")
            ok = false
        }
        if own.activation == .systemd, let node = own.keyNodes[.activation] {
            error(node, "a builtin takes its socket on descriptors 0 and 1: 'activation: systemd' does not apply")
            ok = false
        }
        if SelfExecutable.path == nil {
            error(b.node, "swinetd cannot find its own binary (/proc/self/exe) to serve builtins")
            ok = false
        }
        return ok ? b.value : nil
    }
}
