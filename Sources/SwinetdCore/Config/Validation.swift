#if canImport(Glibc)
import Glibc
#endif

/// One pass over a parsed document that reports every mistake it has, each
/// where it is: an unknown key at the key, a bad value at the value, a
/// missing required key at the service's name, a duplicate at its second
/// occurrence. One mistake in a service never hides another: a service
/// without `exec` still has its user checked, and its addresses still claim
/// their ports, so a clash with another service is reported too.
struct Validation {
    /// The file being read now: the main table, then each included file.
    var document: YAMLDocument
    var file: String
    let checkPrivileges: Bool
    /// Whether `include` reads files (not when fuzzing bytes alone).
    let followIncludes: Bool
    var diagnostics: [Diagnostic] = []
    /// Every file read, main table first, in the order diagnostics are listed.
    var files: [String]
    /// What the host said of each `exec` and `cwd` path in this load.
    var pathChecks: [String: String?] = [:]
    /// What the isolation keys need of the host, asked once per load
    /// (SandboxKeys.swift).
    var sandboxSupport = SandboxSupport()
    /// `defaults`' `root_directory`, inside which each service's `exec` and
    /// `cwd` are checked when the service does not name its own.
    var defaultsRoot: String?

    init(document: YAMLDocument, file: String, checkPrivileges: Bool, followIncludes: Bool = true) {
        self.document = document
        self.file = file
        self.checkPrivileges = checkPrivileges
        self.followIncludes = followIncludes
        self.files = [file]
    }

    mutating func error(_ node: Int, _ message: String) {
        diagnostics.append(Diagnostic(file: file, mark: document[node].mark, message: message))
    }

    // MARK: The table

    mutating func table() -> ServiceTable? {
        guard let root = document.root else {
            diagnostics.append(Diagnostic(file: file, mark: Mark(line: 1, column: 1),
                                          message: "the table is empty: a 'services' map is required"))
            return nil
        }
        guard let top = entries(of: root, context: "at the top level", known: TableKey.self) else {
            error(root, "the table must be a map with a 'services' key")
            return nil
        }
        var maxChildren = Defaults.maxChildren
        if let e = top[.maxChildren], let n = positiveInt(e.valueNode, key: TableKey.maxChildren.rawValue, limit: 1_000_000) {
            maxChildren = n
        }
        var metrics: [ListenAddress] = []
        var claims = AddressClaims()
        if let e = top[.metrics], case let (specs?, nodes) = listen(e.valueNode, key: TableKey.metrics.rawValue) {
            metrics = specs.flatMap(\.addresses)
            for (index, address) in metrics.enumerated() where claims.claim(address, by: "'metrics'") != nil {
                error(nodes[min(index, nodes.count - 1)], "address \(address) is already listed in 'metrics'")
            }
        }
        var defaults = Settings()
        if let e = top[.defaults], !isNull(e.valueNode) {
            if let keys = entries(of: e.valueNode, context: "in 'defaults'", known: ServiceKey.self) {
                for (key, entry) in keys where !key.allowedInDefaults {
                    error(entry.keyNode, "'\(key.name)' cannot have a default: each service names its own addresses")
                }
                defaults = settings(keys.filter { $0.key.allowedInDefaults })
                defaultsRoot = defaults.rootDirectory
            } else {
                error(e.valueNode, "'defaults' must be a map of service keys")
            }
        }
        let includeNode = top[.include]?.valueNode
        let includedFiles = includeNode.map { self.included(from: $0) } ?? []
        var found = FoundServices()
        // With `include`, the main table may leave its own services out.
        if let servicesEntry = top[.services] {
            let servicesNode = servicesEntry.valueNode
            if let pairs = servicePairs(servicesNode, emptyIsFine: includeNode != nil) {
                collect(pairs, defaults: defaults, claims: &claims, into: &found)
            }
        } else if includeNode == nil {
            error(root, "the table has no 'services' map")
            return nil
        }
        let main = (document, file)
        for file in includedFiles {
            (document, self.file) = (file.document, file.path)
            files.append(file.path)
            guard let root = document.root,
                  let top = entries(of: root, context: "in an included file (it holds only 'services')", known: IncludedKey.self) else {
                diagnostics.append(Diagnostic(file: file.path, mark: document.root.map { document[$0].mark } ?? Mark(line: 1, column: 1),
                                              message: "an included file must be a map with a 'services' key"))
                continue
            }
            guard let servicesEntry = top[.services] else {
                error(root, "the included file has no 'services' map")
                continue
            }
            if let pairs = servicePairs(servicesEntry.valueNode, emptyIsFine: false) {
                collect(pairs, defaults: defaults, claims: &claims, into: &found)
            }
        }
        (document, file) = main
        if let includeNode, found.seen.isEmpty, diagnostics.isEmpty {
            error(includeNode, "no services: the table has none of its own and 'include' matched no file")
        }
        return ServiceTable(services: found.services, maxChildren: maxChildren, metrics: metrics, origins: found.origins)
    }

    // MARK: One service, resolved

    /// The service with every default applied; nil when anything about it
    /// was wrong (each thing reported).
    mutating func resolve(name: String, nameNode: Int, own: Settings, defaults: Settings) -> ServiceConfig? {
        var failed = false
        if own.listen == nil && !own.present.contains(.listen) {
            error(nameNode, "service '\(name)' has no 'listen' address")
            failed = true
        }
        if own.builtin == nil && !own.present.contains(.builtin) && own.exec == nil && defaults.exec == nil && !own.present.contains(.exec) && !defaults.present.contains(.exec) {
            error(nameNode, "service '\(name)' has no 'exec'")
            failed = true
        }
        let userEntry = own.user ?? defaults.user
        let groupEntry = own.group ?? defaults.group
        let credentials = self.credentials(user: userEntry, group: groupEntry, service: name)
        let transport = own.transport ?? defaults.transport ?? .tcp
        // A UDP builtin is a wait service whether or not the table says so.
        let wait = own.wait?.value ?? (own.builtin != nil && transport == .udp ? true : defaults.wait?.value ?? false)
        let builtin = own.builtin.flatMap { builtinFits(name: name, $0, transport: transport, own: own) }
        if own.builtin != nil && builtin == nil { failed = true }
        if !waitFits(name: name, nameNode: nameNode, transport: transport, wait: wait, own: own, defaults: defaults) { failed = true }
        let socketFile = own.listen.flatMap { self.socketFile(name: name, nameNode: nameNode, listen: $0, transport: transport, own: own, defaults: defaults) }
        if own.listen != nil && socketFile == nil { failed = true }
        let rules = admissionRules(own, defaults)
        let handlerLimits = self.handlerLimits(own, defaults)
        if rules == nil { failed = true }
        var sandbox = self.sandbox(own, defaults, nameNode: nameNode)
        if builtin != nil, sandbox?.rootDirectory != nil {
            // Its exec is swinetd's own path, looked up inside the jail,
            // where whoever can write that path would run as the handler.
            error(own.keyNodes[.rootDirectory] ?? own.keyNodes[.builtin] ?? nameNode,
                  "'root_directory' does not apply to a builtin: swinetd's own binary is not inside the root")
            sandbox = nil
        }
        // An exec or cwd from `defaults` was checked where defaults' own
        // root says; under the service's own root_directory, check it there.
        if let root = own.rootDirectory, builtin == nil {
            for (key, inherited) in [(ServiceKey.exec, own.exec == nil ? defaults.exec : nil), (.cwd, own.cwd == nil ? defaults.cwd : nil)] {
                if let path = inherited, let problem = HostChecks.insideRoot(root, path, executable: key == .exec) {
                    error(own.keyNodes[.rootDirectory] ?? nameNode, "'\(key.name)' \(path) from defaults\(problem)")
                    sandbox = nil
                }
            }
        }
        if let box = sandbox, builtin == nil, let exec = own.exec ?? defaults.exec,
           let hider = box.hides(exec) ?? box.hides(HostChecks.realPath(exec) ?? exec) {
            error(own.keyNodes[.exec] ?? nameNode, "'exec' \(exec) is inside \(hider): the handler could not be started")
            sandbox = nil
        }
        if sandbox == nil { failed = true }
        guard !failed, let rules, let sandbox, let listen = own.listen, let exec = builtin.map({ _ in SelfExecutable.path ?? "" }) ?? own.exec ?? defaults.exec,
              case .some(let credentials) = credentials else {
            return nil
        }
        let args = builtin.map { ["builtin", $0.rawValue] + (transport == .udp ? ["--udp"] : []) } ?? own.args ?? defaults.args ?? []
        let argv0 = builtin != nil ? "swinetd" : own.argv0 ?? defaults.argv0 ?? String(exec.split(separator: "/").last ?? Substring(exec))
        let env = (defaults.env ?? [:]).merging(own.env ?? [:]) { _, service in service }
        return ServiceConfig(
            name: name,
            listen: listen,
            exec: exec,
            argv: [argv0] + args,
            user: userEntry?.name,
            group: groupEntry?.name,
            credentials: credentials,
            env: env.sorted { $0.key < $1.key }.map { EnvVar(name: $0.key, value: $0.value) },
            cwd: own.cwd ?? defaults.cwd ?? Defaults.cwd,
            maxConnections: own.maxConnections ?? defaults.maxConnections ?? Defaults.maxConnections,
            backlog: own.backlog ?? defaults.backlog ?? Defaults.backlog,
            stderr: own.stderr ?? defaults.stderr ?? Defaults.stderr,
            enabled: own.enabled ?? defaults.enabled ?? true,
            transport: transport,
            wait: wait,
            activation: own.activation ?? defaults.activation ?? .inetd,
            builtin: builtin,
            socketFile: socketFile ?? SocketFile(),
            admission: rules,
            handlerLimits: handlerLimits,
            sandbox: sandbox)
    }

    /// `.some(nil)`: keep swinetd's identity; `.none`: an error was reported.
    mutating func credentials(user: (name: String, node: Int)?, group: (name: String, node: Int)?, service: String) -> Credentials?? {
        if user == nil && group == nil { return .some(nil) }
        let euid = geteuid(), egid = getegid()
        var uid = euid
        var gid = egid
        var userName: String?
        var failed = false
        if let user {
            if let found = HostChecks.user(user.name) {
                (uid, gid, userName) = (found.uid, found.gid, found.name)
            } else {
                error(user.node, "unknown user '\(user.name)' in service '\(service)'")
                failed = true
            }
        }
        if let group {
            if let found = HostChecks.group(group.name) {
                gid = found
            } else {
                error(group.node, "unknown group '\(group.name)' in service '\(service)'")
                failed = true
            }
        }
        if failed { return .none }
        if euid != 0 && uid == euid && gid == egid { return .some(nil) }
        if checkPrivileges && euid != 0 {
            let who = [user.map { "user '\($0.name)'" }, group.map { "group '\($0.name)'" }].compactMap { $0 }
            let node = (uid != euid ? user?.node : nil) ?? group?.node ?? user!.node
            error(node, "service '\(service)' runs as \(who.joined(separator: " and ")), which needs swinetd to run as root (it runs as uid \(euid))")
            return .none
        }
        let groups = userName.map { HostChecks.groups(of: $0, gid: gid) } ?? [gid]
        return .some(Credentials(uid: uid, gid: gid, groups: groups))
    }
}

/// Which service claims each address, so that two addresses that cannot
/// both be bound are found in one lookup each (not by comparing every pair).
struct AddressClaims {
    private struct Port: Hashable {
        var transport: Transport
        var family: ListenAddress.Family
        var port: UInt16
    }
    private struct Claimants {
        var wildcard: String?
        /// The first specific address's service, named when a wildcard clashes.
        var first: String?
        var specific: [[UInt8]: String] = [:]
    }
    private var byPort: [Port: Claimants] = [:]

    /// Claims `address` for `service`; returns the service that already has
    /// a conflicting one (equal, or the same port and family with a wildcard).
    mutating func claim(_ address: ListenAddress, by service: String) -> String? {
        let key = Port(transport: address.transport, family: address.family, port: address.port)
        var entry = byPort[key] ?? Claimants()
        if let w = entry.wildcard { return w }
        if address.isWildcard {
            if let first = entry.first { return first }
            entry.wildcard = service
        } else {
            if let other = entry.specific[address.ipOrPath] { return other }
            entry.specific[address.ipOrPath] = service
            if entry.first == nil { entry.first = service }
        }
        byPort[key] = entry
        return nil
    }
}
