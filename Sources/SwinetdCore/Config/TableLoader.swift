#if canImport(Glibc)
import Glibc
#endif

/// Turns a table file into a validated `ServiceTable`, or into every
/// diagnostic the file deserves (not only the first).
///
/// Where diagnostics point: an unknown key at the key, a bad value at the
/// value, a missing required key at the service's name, a duplicate at its
/// second occurrence.
public struct TableLoader {
    /// When true, a `user` or `group` other than swinetd's own is an error
    /// unless swinetd runs as root (what `run` needs; `check` does not ask it).
    public var checkPrivileges: Bool

    public init(checkPrivileges: Bool = false) {
        self.checkPrivileges = checkPrivileges
    }

    public static let serviceKeys = [
        "listen", "exec", "args", "argv0", "user", "group", "env", "cwd",
        "max_connections", "backlog", "stderr", "enabled", "protocol",
    ]
    public static let topKeys = ["defaults", "services", "max_children"]

    /// Reads and validates the table at `path`. A missing or unreadable file
    /// is one diagnostic without a position.
    public func load(path: String) -> Result<ServiceTable, TableErrors> {
        switch FileBytes.read(path) {
        case .success(let bytes):
            return load(bytes: bytes, file: path)
        case .failure(let errno):
            return .failure(TableErrors([Diagnostic(file: path, mark: nil, message: "cannot read the table: \(errno.text)")]))
        }
    }

    public func load(bytes: [UInt8], file: String) -> Result<ServiceTable, TableErrors> {
        switch YAMLDocument.parse(bytes) {
        case .failure(let error):
            return .failure(TableErrors([Diagnostic(file: file, mark: error.mark, message: error.message)]))
        case .success(let document):
            var validation = Validation(document: document, file: file, checkPrivileges: checkPrivileges)
            let table = validation.table()
            if validation.diagnostics.isEmpty, let table { return .success(table) }
            let zero = Mark(line: 0, column: 0)
            return .failure(TableErrors(validation.diagnostics.sorted { ($0.mark ?? zero) < ($1.mark ?? zero) }))
        }
    }
}

/// Every diagnostic of a table that did not load, in file order.
public struct TableErrors: Error {
    public var diagnostics: [Diagnostic]
    init(_ diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }
}

/// One pass over a parsed document, collecting diagnostics as it goes.
private struct Validation {
    let document: YAMLDocument
    let file: String
    let checkPrivileges: Bool
    var diagnostics: [Diagnostic] = []

    init(document: YAMLDocument, file: String, checkPrivileges: Bool) {
        self.document = document
        self.file = file
        self.checkPrivileges = checkPrivileges
    }

    /// A key and its value node, as found in a mapping.
    struct Entry {
        var keyNode: Int
        var valueNode: Int
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
        guard let top = entries(of: root, context: "at the top level", known: TableLoader.topKeys) else {
            error(root, "the table must be a map with a 'services' key")
            return nil
        }
        var maxChildren = Defaults.maxChildren
        if let e = top["max_children"], let n = positiveInt(e.valueNode, key: "max_children", limit: 1_000_000) {
            maxChildren = n
        }
        var defaults = Settings()
        if let e = top["defaults"], !isNull(e.valueNode) {
            if let keys = entries(of: e.valueNode, context: "in 'defaults'", known: TableLoader.serviceKeys) {
                if let listen = keys["listen"] {
                    error(listen.keyNode, "'listen' cannot have a default: each service names its own addresses")
                }
                defaults = settings(keys, service: nil)
            } else {
                error(e.valueNode, "'defaults' must be a map of service keys")
            }
        }
        guard let servicesEntry = top["services"] else {
            error(root, "the table has no 'services' map")
            return nil
        }
        let servicesNode = servicesEntry.valueNode
        guard !isNull(servicesNode), case .mapping(let pairs) = document[servicesNode].kind else {
            error(servicesNode, isNull(servicesNode)
                  ? "'services' is empty: name at least one service"
                  : "'services' must be a map from service name to its settings")
            return nil
        }
        if pairs.isEmpty {
            error(servicesNode, "'services' is empty: name at least one service")
            return nil
        }
        var services: [ServiceConfig] = []
        var seenNames: Set<String> = []
        var claimed: [(address: ListenAddress, service: String)] = []
        for pair in pairs {
            guard let name = plainKey(pair.key) else { continue }
            guard seenNames.insert(name).inserted else {
                error(pair.key, "duplicate service name '\(name)'")
                continue
            }
            if !Validation.isValidName(name) {
                error(pair.key, "invalid service name '\(name)': use only letters, digits, '.', '_' and '-'")
            }
            guard let keys = entries(of: pair.value, context: "in service '\(name)'", known: TableLoader.serviceKeys) else {
                error(pair.value, "service '\(name)' must be a map of settings")
                continue
            }
            let own = settings(keys, service: name)
            guard let service = resolve(name: name, nameNode: pair.key, own: own, defaults: defaults) else { continue }
            if service.enabled {
                for (index, address) in service.addresses.enumerated() {
                    if let other = claimed.first(where: { $0.address.conflicts(with: address) }) {
                        let node = own.listenNodes[min(index, own.listenNodes.count - 1)]
                        let whose = other.service == name ? "already listed in this service" : "already used by service '\(other.service)'"
                        error(node, "address \(address) is \(whose)")
                    } else {
                        claimed.append((address, name))
                    }
                }
            }
            services.append(service)
        }
        return ServiceTable(services: services, maxChildren: maxChildren)
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { c in
            (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 46 || c == 95 || c == 45
        }
    }

    // MARK: Maps and keys

    /// The entries of a mapping node by key, reporting unknown keys (with a
    /// suggestion), non-scalar keys and duplicate keys. nil: not a mapping.
    mutating func entries(of node: Int, context: String, known: [String]) -> [String: Entry]? {
        guard case .mapping(let pairs) = document[node].kind else { return nil }
        var result: [String: Entry] = [:]
        for pair in pairs {
            guard let key = plainKey(pair.key) else { continue }
            if result[key] != nil {
                error(pair.key, "duplicate key '\(key)' \(context)")
                continue
            }
            guard known.contains(key) else {
                var message = "unknown key '\(key)' \(context)"
                if let guess = Spelling.suggestion(for: key, among: known) {
                    message += "; did you mean '\(guess)'?"
                }
                error(pair.key, message)
                continue
            }
            result[key] = Entry(keyNode: pair.key, valueNode: pair.value)
        }
        return result
    }

    mutating func plainKey(_ node: Int) -> String? {
        guard case .scalar(let text, _) = document[node].kind else {
            error(node, "a key must be a plain name, not a list or a map")
            return nil
        }
        return text
    }

    func isNull(_ node: Int) -> Bool {
        guard case .scalar(let text, let quoted) = document[node].kind, !quoted else { return false }
        return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }

    // MARK: Typed values

    mutating func string(_ node: Int, key: String) -> String? {
        guard case .scalar(let text, _) = document[node].kind, !isNull(node) else {
            error(node, "'\(key)' must be a string")
            return nil
        }
        if text.utf8.contains(0) {
            error(node, "'\(key)' must not contain a NUL character")
            return nil
        }
        return text
    }

    mutating func positiveInt(_ node: Int, key: String, limit: Int) -> Int? {
        guard case .scalar(let text, let quoted) = document[node].kind, !quoted,
              !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) || (text.hasPrefix("-") && text.count > 1 && text.dropFirst().allSatisfy(\.isNumber))
        else {
            error(node, "'\(key)' must be a positive integer")
            return nil
        }
        guard let n = Int(text), n > 0 else {
            error(node, "'\(key)' must be a positive integer, not \(text)")
            return nil
        }
        guard n <= limit else {
            error(node, "'\(key)' is too large: at most \(limit)")
            return nil
        }
        return n
    }

    mutating func bool(_ node: Int, key: String) -> Bool? {
        if case .scalar(let text, false) = document[node].kind {
            switch text {
            case "true", "True", "TRUE": return true
            case "false", "False", "FALSE": return false
            default: break
            }
        }
        error(node, "'\(key)' must be true or false")
        return nil
    }

    mutating func stringList(_ node: Int, key: String) -> [String]? {
        guard case .sequence(let items) = document[node].kind else {
            error(node, "'\(key)' must be a list of strings, such as [\"-n\", \"x\"]")
            return nil
        }
        var out: [String] = []
        var ok = true
        for item in items {
            if let s = string(item, key: key) { out.append(s) } else { ok = false }
        }
        return ok ? out : nil
    }

    // MARK: Settings

    /// The keys of one service (or of `defaults`), each parsed to its type.
    /// A nil field is either absent or already reported as wrong.
    struct Settings {
        var listen: [(spec: String, addresses: [ListenAddress])]?
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
        /// Keys present in the file, even if their value was wrong: a wrong
        /// value must not be reported a second time as "missing".
        var present: Set<String> = []
    }

    mutating func settings(_ keys: [String: Entry], service: String?) -> Settings {
        var s = Settings()
        s.present = Set(keys.keys)
        for (key, entry) in keys.sorted(by: { $0.value.keyNode < $1.value.keyNode }) {
            let v = entry.valueNode
            switch key {
            case "listen":
                if service != nil { (s.listen, s.listenNodes) = listen(v) }
            case "exec":
                s.exec = exec(v)
            case "args":
                s.args = stringList(v, key: key)
            case "argv0":
                if let a = string(v, key: key) {
                    if a.isEmpty { error(v, "'argv0' must not be empty") } else { s.argv0 = a }
                }
            case "user":
                if let name = string(v, key: key) { s.user = (name, v) }
            case "group":
                if let name = string(v, key: key) { s.group = (name, v) }
            case "env":
                s.env = env(v)
            case "cwd":
                s.cwd = directory(v)
            case "max_connections":
                s.maxConnections = positiveInt(v, key: key, limit: 1_000_000)
            case "backlog":
                s.backlog = positiveInt(v, key: key, limit: 65535)
            case "stderr":
                s.stderr = stderr(v)
            case "enabled":
                s.enabled = bool(v, key: key)
            case "protocol":
                protocolCheck(v)
            default:
                break
            }
        }
        return s
    }

    mutating func listen(_ node: Int) -> ([(spec: String, addresses: [ListenAddress])]?, [Int]) {
        let items: [Int]
        switch document[node].kind {
        case .scalar: items = [node]
        case .sequence(let list): items = list
        case .mapping: items = []
        }
        if items.isEmpty {
            error(node, "'listen' must be an address or a list of addresses, such as 127.0.0.1:7007")
            return (nil, [])
        }
        var out: [(spec: String, addresses: [ListenAddress])] = []
        var nodes: [Int] = []
        var ok = true
        for item in items {
            guard let text = string(item, key: "listen") else { ok = false; continue }
            switch ListenAddress.parse(text) {
            case .success(let addresses):
                out.append((text, addresses))
                nodes.append(contentsOf: Array(repeating: item, count: addresses.count))
            case .failure(let e):
                error(item, e.message)
                ok = false
            }
        }
        return (ok ? out : nil, nodes)
    }

    mutating func exec(_ node: Int) -> String? {
        guard let path = string(node, key: "exec") else { return nil }
        guard path.hasPrefix("/") else {
            error(node, "'exec' must be an absolute path, not '\(path)'")
            return nil
        }
        var st = stat()
        guard stat(path, &st) == 0 else {
            error(node, "'exec' \(path): \(Errno.current.text)")
            return nil
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            error(node, "'exec' \(path) is not a regular file")
            return nil
        }
        guard access(path, X_OK) == 0 else {
            error(node, "'exec' \(path) is not executable")
            return nil
        }
        return path
    }

    mutating func directory(_ node: Int) -> String? {
        guard let path = string(node, key: "cwd") else { return nil }
        guard path.hasPrefix("/") else {
            error(node, "'cwd' must be an absolute path, not '\(path)'")
            return nil
        }
        var st = stat()
        guard stat(path, &st) == 0 else {
            error(node, "'cwd' \(path): \(Errno.current.text)")
            return nil
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            error(node, "'cwd' \(path) is not a directory")
            return nil
        }
        return path
    }

    mutating func env(_ node: Int) -> [String: String]? {
        guard case .mapping(let pairs) = document[node].kind else {
            error(node, "'env' must be a map of variable names to values, such as {TZ: UTC}")
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
            if out[name] != nil {
                error(pair.key, "duplicate key '\(name)' in 'env'")
                ok = false
                continue
            }
            guard case .scalar(let value, _) = document[pair.value].kind, !value.utf8.contains(0) else {
                error(pair.value, "the value of '\(name)' in 'env' must be a string")
                ok = false
                continue
            }
            // An empty plain value is YAML's null: say so rather than guess.
            if isNull(pair.value) && value.isEmpty {
                error(pair.value, "'\(name)' in 'env' has no value; write \(name): \"\" for an empty one")
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

    mutating func protocolCheck(_ node: Int) {
        guard case .scalar(let text, _) = document[node].kind else {
            error(node, "'protocol' must be tcp")
            return
        }
        switch text {
        case "tcp":
            break
        case "udp", "tcp6", "udp6", "unix", "sctp", "rpc":
            error(node, "protocol '\(text)' is not supported yet: only tcp")
        default:
            error(node, "unknown protocol '\(text)': only tcp is supported")
        }
    }

    // MARK: One service, resolved

    mutating func resolve(name: String, nameNode: Int, own: Settings, defaults: Settings) -> ServiceConfig? {
        var missing = false
        if own.listen == nil && !own.present.contains("listen") {
            error(nameNode, "service '\(name)' has no 'listen' address")
            missing = true
        }
        if own.exec == nil && defaults.exec == nil && !own.present.contains("exec") && !defaults.present.contains("exec") {
            error(nameNode, "service '\(name)' has no 'exec'")
            missing = true
        }
        guard !missing, let listen = own.listen, let exec = own.exec ?? defaults.exec else { return nil }

        let userEntry = own.user ?? defaults.user
        let groupEntry = own.group ?? defaults.group
        let credentials: Credentials?
        switch self.credentials(user: userEntry, group: groupEntry, service: name) {
        case .some(let c): credentials = c
        case .none: return nil
        }
        let args = own.args ?? defaults.args ?? []
        let argv0 = own.argv0 ?? defaults.argv0 ?? String(exec.split(separator: "/").last ?? Substring(exec))
        let env = (defaults.env ?? [:]).merging(own.env ?? [:]) { _, service in service }
        return ServiceConfig(
            name: name,
            listenSpecs: listen.map(\.spec),
            addresses: listen.flatMap(\.addresses),
            exec: exec,
            argv: [argv0] + args,
            user: userEntry?.name,
            group: groupEntry?.name,
            credentials: credentials,
            env: env.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            cwd: own.cwd ?? defaults.cwd ?? Defaults.cwd,
            maxConnections: own.maxConnections ?? defaults.maxConnections ?? Defaults.maxConnections,
            backlog: own.backlog ?? defaults.backlog ?? Defaults.backlog,
            stderr: own.stderr ?? defaults.stderr ?? Defaults.stderr,
            enabled: own.enabled ?? defaults.enabled ?? true)
    }

    /// `.some(nil)`: keep swinetd's identity; `.none`: an error was reported.
    mutating func credentials(user: (name: String, node: Int)?, group: (name: String, node: Int)?, service: String) -> Credentials??  {
        if user == nil && group == nil { return .some(nil) }
        let euid = geteuid(), egid = getegid()
        var uid = euid
        var gid = egid
        var userName: String?
        var failed = false
        if let user {
            if let found = Accounts.user(user.name) {
                uid = found.uid
                gid = found.gid
                userName = found.name
            } else {
                error(user.node, "unknown user '\(user.name)' in service '\(service)'")
                failed = true
            }
        }
        if let group {
            if let found = Accounts.group(group.name) {
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
        let groups = userName.map { Accounts.groups(of: $0, gid: gid) } ?? [gid]
        return .some(Credentials(uid: uid, gid: gid, groups: groups))
    }
}
