#if canImport(Glibc)
import Glibc
#endif

/// The keys of one service (or of `defaults`), each parsed to its type.
/// A nil field is either absent or already reported as wrong.
struct Settings {
    var listen: [ListenSpec]?
    var listenNodes: [Int] = []
    var exec: String?
    var args: [String]?
    var argv0: String?
    var user: (name: String, node: Int)?
    var group: (name: String, node: Int)?
    var env: [String: String]?
    var cwd: String?
    var maxConnections: Int?
    var backlog: Int?
    var stderr: StderrMode?
    var enabled: Bool?
    var transport: Transport?
    var wait: (value: Bool, node: Int)?
    var activation: Activation?
    var builtin: (value: Builtin, node: Int)?
    /// `protocol: unix` (a stream transport whose addresses must be paths).
    var saysUnix = false
    var socketMode: UInt32?
    var socketUser: (name: String, node: Int)?
    var socketGroup: (name: String, node: Int)?
    var allow: [AddressPrefix]?
    var deny: [AddressPrefix]?
    var perSource: Int?
    var sourcePrefix: SourcePrefix?
    var rate: Rate?
    var rateBurst: (count: Int, node: Int)?
    var sourceRate: Rate?
    var refuseMessage: String?
    var proxyProtocol: ProxyProtocol?
    var penalty: PenaltyRules?
    var envBySource: [SourceEnvironment]?
    var timeout: Double?
    var limits: [ResourceLimit]?
    var nice: Int?
    var umask: UInt32?
    var noNewPrivileges: Bool?
    var capabilities: [Capability]?
    var privateNetwork: Bool?
    var addressFamilies: [AddressFamily]?
    var systemCalls: SystemCalls?
    var protectSystem: ProtectSystem?
    var protectHome: ProtectHome?
    var readOnlyPaths: [String]?
    var readWritePaths: [String]?
    var inaccessiblePaths: [String]?
    var privateTmp: Bool?
    var rootDirectory: String?
    var sandboxPreset: SandboxPreset?
    /// Keys present in the file, even if their value was wrong: a wrong
    /// value must not be reported a second time as "missing".
    var present: Set<ServiceKey> = []
    /// Where each present key is written, for errors about how keys combine.
    var keyNodes: [ServiceKey: Int] = [:]
}

extension Validation {
    /// Parses each key of one service (or of `defaults`) in file order.
    mutating func settings(_ keys: [ServiceKey: Entry]) -> Settings {
        var s = Settings()
        s.present = Set(keys.keys)
        // First: `exec` and `cwd` are paths inside it.
        if let root = keys[.rootDirectory] { s.rootDirectory = rootDirectory(root.valueNode) }
        let root = keys[.rootDirectory] == nil ? defaultsRoot : s.rootDirectory
        for (key, entry) in keys.sorted(by: { $0.value.keyNode < $1.value.keyNode }) {
            let v = entry.valueNode
            s.keyNodes[key] = entry.keyNode
            switch key {
            case .listen: (s.listen, s.listenNodes) = listen(v)
            case .exec: s.exec = exec(v, root: root)
            case .args: s.args = stringList(v, key: key.name)
            case .argv0:
                if let a = string(v, key: key.name) {
                    if a.isEmpty { error(v, "'argv0' must not be empty") } else { s.argv0 = a }
                }
            case .user: if let name = string(v, key: key.name) { s.user = (name, v) }
            case .group: if let name = string(v, key: key.name) { s.group = (name, v) }
            case .env: s.env = env(v)
            case .cwd: s.cwd = directory(v, root: root)
            case .maxConnections: s.maxConnections = positiveInt(v, key: key.name, limit: 1_000_000)
            case .backlog: s.backlog = positiveInt(v, key: key.name, limit: 65535)
            case .stderr: s.stderr = stderr(v)
            case .enabled: s.enabled = bool(v, key: key.name)
            case .protocol:
                s.transport = transport(v)
                if case .scalar("unix", _) = document[v].kind { s.saysUnix = true; s.transport = .tcp }
            case .builtin:
                if case .scalar(let text, _) = document[v].kind, let b = Builtin(rawValue: text) {
                    s.builtin = (b, v)
                } else {
                    error(v, "'builtin' must be one of \(Builtin.allCases.map(\.rawValue).joined(separator: ", "))")
                }
            case .socketMode: s.socketMode = octal(v, key: key.name, example: "\"0660\"")
            case .socketUser: if let name = string(v, key: key.name) { s.socketUser = (name, v) }
            case .socketGroup: if let name = string(v, key: key.name) { s.socketGroup = (name, v) }
            case .wait: s.wait = bool(v, key: key.name).map { ($0, v) }
            case .activation:
                if case .scalar(let text, _) = document[v].kind, let a = Activation(rawValue: text) {
                    s.activation = a
                } else {
                    error(v, "'activation' must be inetd or systemd")
                }
            case .allow: s.allow = prefixes(v, key: key)
            case .deny: s.deny = prefixes(v, key: key)
            case .perSource: s.perSource = positiveInt(v, key: key.name, limit: 1_000_000)
            case .sourcePrefix: s.sourcePrefix = sourcePrefix(v)
            case .rate: s.rate = rate(v, key: key)
            case .rateBurst: s.rateBurst = positiveInt(v, key: key.name, limit: 1_000_000).map { ($0, v) }
            case .sourceRate: s.sourceRate = rate(v, key: key)
            case .refuseMessage: s.refuseMessage = refuseMessage(v)
            case .proxyProtocol: s.proxyProtocol = proxyProtocol(v)
            case .penalty: s.penalty = penalty(v)
            case .envBySource: s.envBySource = envBySource(v)
            case .timeout: s.timeout = timeout(v)
            case .limits: s.limits = limits(v)
            case .nice: s.nice = nice(v)
            case .umask: s.umask = umask(v)
            case .noNewPrivileges: s.noNewPrivileges = bool(v, key: key.name)
            case .capabilities: s.capabilities = capabilities(v)
            case .privateNetwork: s.privateNetwork = privateNetwork(v)
            case .addressFamilies: s.addressFamilies = addressFamilies(v)
            case .systemCalls: s.systemCalls = systemCalls(v)
            case .protectSystem: s.protectSystem = choice(v, key: key, ProtectSystem.self)
            case .protectHome: s.protectHome = choice(v, key: key, ProtectHome.self)
            case .readOnlyPaths: s.readOnlyPaths = sandboxPaths(v, key: key)
            case .readWritePaths: s.readWritePaths = sandboxPaths(v, key: key)
            case .inaccessiblePaths: s.inaccessiblePaths = sandboxPaths(v, key: key)
            case .privateTmp: s.privateTmp = bool(v, key: key.name)
            case .rootDirectory: break   // read first, above
            case .sandbox: s.sandboxPreset = choice(v, key: key, SandboxPreset.self)
            }
        }
        return s
    }

    /// `key`: `listen`, or the top level's `metrics`, which takes the same forms.
    mutating func listen(_ node: Int, key: String = "listen") -> ([ListenSpec]?, [Int]) {
        let items: [Int]
        switch document[node].kind {
        case .scalar: items = [node]
        case .sequence(let list): items = list
        case .mapping: items = []
        }
        if items.isEmpty {
            error(node, "'\(key)' must be an address or a list of addresses, such as 127.0.0.1:7007")
            return (nil, [])
        }
        var out: [ListenSpec] = []
        var nodes: [Int] = []
        var ok = true
        for item in items {
            guard let written = string(item, key: key) else { ok = false; continue }
            let text = besideThisFile(written)
            switch ListenAddress.parse(text) {
            case .success(let addresses):
                out.append(ListenSpec(text: text, addresses: addresses, ipv6IsOptional: ListenAddress.impliesIPv6(text)))
                nodes.append(contentsOf: Array(repeating: item, count: addresses.count))
            case .failure(let e):
                error(item, e.message)
                ok = false
            }
        }
        return (ok ? out : nil, nodes)
    }

    /// `./NAME` and `../NAME` are UNIX socket paths relative to the folder
    /// of the file that names them (as `include` patterns are), made
    /// absolute here: the table's own folder is one only its owner writes,
    /// wherever it is, for any user and for root. Anything else as written.
    func besideThisFile(_ text: String) -> String {
        guard text.hasPrefix("./") || text.hasPrefix("../") else { return text }
        guard var folder = PathName.absolute(PathName.split(file).folder) else { return text }
        if folder == "/" { folder = "" }
        return folder + "/" + (text.hasPrefix("./") ? String(text.dropFirst(2)) : text)
    }

    /// `key`: where the map stands (`env`, or an `env_by_source` rule's).
    mutating func env(_ node: Int, key: String = "env") -> [String: String]? {
        guard case .mapping(let pairs) = document[node].kind else {
            error(node, "'\(key)' must be a map of variable names to values, such as {TZ: UTC}")
            return nil
        }
        var out: [String: String] = [:]
        var ok = true
        for pair in pairs {
            guard let name = plainKey(pair.key) else { ok = false; continue }
            if name.isEmpty || name.contains("=") || name.utf8.contains(0) {
                error(pair.key, "invalid environment variable name '\(name)'")
                ok = false
                continue
            }
            if HandlerEnvironment.reserved.contains(name) {
                error(pair.key, "'\(name)' in '\(key)' is set by swinetd for each connection; the table cannot set it")
                ok = false
                continue
            }
            if out[name] != nil {
                error(pair.key, "duplicate key '\(name)' in '\(key)'")
                ok = false
                continue
            }
            guard case .scalar(let value, _) = document[pair.value].kind, !value.utf8.contains(0) else {
                error(pair.value, "the value of '\(name)' in '\(key)' must be a string")
                ok = false
                continue
            }
            // An empty plain value is YAML's null: say so rather than guess.
            if isNull(pair.value) && value.isEmpty {
                error(pair.value, "'\(name)' in '\(key)' has no value; write \(name): \"\" for an empty one")
                ok = false
                continue
            }
            out[name] = value
        }
        return ok ? out : nil
    }

    mutating func stderr(_ node: Int) -> StderrMode? {
        if isNull(node) { return .null }
        if case .scalar(let text, _) = document[node].kind, let mode = StderrMode(rawValue: text) {
            return mode
        }
        error(node, "'stderr' must be socket, log or null")
        return nil
    }

    mutating func transport(_ node: Int) -> Transport? {
        guard case .scalar(let text, _) = document[node].kind else {
            error(node, "'protocol' must be tcp, udp or unix")
            return nil
        }
        switch text {
        case "tcp": return .tcp
        case "udp": return .udp
        case "tcp4", "tcp6", "tcp46": error(node, "protocol '\(text)' is written tcp: the address says the family")
        case "udp4", "udp6", "udp46": error(node, "protocol '\(text)' is written udp: the address says the family")
        case "unix": return nil   // settings() notes it
        case "sctp", "rpc": error(node, "protocol '\(text)' is not supported: tcp, udp or unix")
        default: error(node, "unknown protocol '\(text)': tcp, udp or unix")
        }
        return nil
    }

    /// With `root` (`root_directory`), the path is checked inside it.
    mutating func exec(_ node: Int, root: String? = nil) -> String? {
        absolutePath(node, key: ServiceKey.exec.name, root: root, HostChecks.executable)
    }

    mutating func directory(_ node: Int, root: String? = nil) -> String? {
        absolutePath(node, key: ServiceKey.cwd.name, root: root, HostChecks.directory)
    }

    /// An absolute path that `check` finds fit (its answer, if any, follows
    /// the path in the diagnostic: ": No such file or directory"). Each path
    /// is checked once per load, however many services name it.
    private mutating func absolutePath(_ node: Int, key: String, root: String?, _ check: (String) -> String?) -> String? {
        guard let path = string(node, key: key) else { return nil }
        guard path.hasPrefix("/") else {
            error(node, "'\(key)' must be an absolute path, not '\(path)'")
            return nil
        }
        let cacheKey = key + "\0" + (root ?? "") + "\0" + path
        let problem: String?
        if let known = pathChecks[cacheKey] {
            problem = known
        } else {
            problem = root.map { HostChecks.insideRoot($0, path, executable: key == ServiceKey.exec.name) } ?? check(path)
            pathChecks[cacheKey] = .some(problem)
        }
        if let problem {
            error(node, "'\(key)' \(path)\(problem)")
            return nil
        }
        return path
    }
}
