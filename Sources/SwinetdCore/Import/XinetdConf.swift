/// Reads an xinetd configuration: xinetd.conf with its `defaults` block,
/// `include` and `includedir` (files without a dot and not ending in ~, in
/// C-locale order), or a directory of service files such as /etc/xinetd.d.
///
///     service NAME
///     {
///         attribute = value ...      (+= and -= on the attributes that are sets)
///     }
public struct XinetdConf {
    public var includeDisabled = false
    /// Whether include and includedir are followed (the fuzzer reads one text alone).
    var followIncludes = true

    public init(includeDisabled: Bool = false) {
        self.includeDisabled = includeDisabled
    }

    /// One attribute as written: its operator, values and line.
    struct Attribute {
        var op: String
        var values: [String]
        var line: Int
    }

    /// A block: `defaults` or one `service`.
    struct Block {
        var name: String
        var file: String
        var line: Int
        var attributes: [String: [Attribute]] = [:]
    }

    /// Attributes whose value is a set, where += and -= apply; in defaults they accumulate.
    static let sets: Set<String> = ["only_from", "no_access", "log_on_success", "log_on_failure", "passenv", "env", "disabled", "enabled", "log_type"]
    static let known: Set<String> = [
        "id", "type", "flags", "disable", "socket_type", "protocol", "wait", "user", "group", "instances", "nice",
        "server", "server_args", "libwrap", "only_from", "no_access", "access_times", "log_type", "log_on_success",
        "log_on_failure", "rpc_version", "rpc_number", "env", "passenv", "port", "redirect", "bind", "interface",
        "banner", "banner_success", "banner_fail", "per_source", "cps", "max_load", "groups", "mdns", "umask",
        "enabled", "disabled", "rlimit_as", "rlimit_files", "rlimit_cpu", "rlimit_data", "rlimit_rss", "rlimit_stack",
        "deny_time", "v6only",
    ]

    public func read(path: String) -> ImportResult {
        var result = ImportResult()
        var blocks: [Block] = []
        var defaults: Block?
        var visited: Set<String> = []
        if ImportInput.isDirectory(path) {
            includeDirectory(path, from: nil, blocks: &blocks, defaults: &defaults, visited: &visited, result: &result)
        } else {
            guard parse(file: path, blocks: &blocks, defaults: &defaults, visited: &visited, result: &result, depth: 0) else { return result }
        }
        return services(blocks, defaults: defaults, path: path, result: result)
    }

    /// One file's text alone, includes not followed.
    func read(lines: [Substring], path: String) -> ImportResult {
        var result = ImportResult()
        var blocks: [Block] = []
        var defaults: Block?
        var visited: Set<String> = []
        parse(lines: lines, file: path, blocks: &blocks, defaults: &defaults, visited: &visited, result: &result, depth: 0)
        return services(blocks, defaults: defaults, path: path, result: result)
    }

    private func services(_ blocks: [Block], defaults: Block?, path: String, result: ImportResult) -> ImportResult {
        var result = result
        let d = defaults ?? Block(name: "defaults", file: path, line: 0)
        if let d = defaults { defaultsNotes(d, result: &result) }
        let enabledList = accumulated(d, "enabled")
        let disabledList = accumulated(d, "disabled")
        for b in blocks {
            let id = b.attributes["id"]?.last?.values.first ?? b.name
            let disabled = b.attributes["disable"]?.last?.values.first?.lowercased() == "yes"
                || disabledList.contains(id) || (!enabledList.isEmpty && !enabledList.contains(id))
            // A disabled entry is not read at all unless asked for: nothing to report about it.
            if disabled && !includeDisabled { continue }
            guard var s = service(b, defaults: d, result: &result) else { continue }
            if disabled { s.enabled = false }
            result.services.append(s)
        }
        return result
    }

    // MARK: Values

    /// A set attribute's values after =, += and -= in order, starting from `base`.
    func setValue(_ attributes: [Attribute]?, base: [String]) -> [String]? {
        guard let attributes else { return nil }
        var v = base
        for a in attributes {
            switch a.op {
            case "=": v = a.values
            case "+=": v += a.values.filter { !v.contains($0) }
            default: v.removeAll { a.values.contains($0) }
            }
        }
        return v
    }

    func accumulated(_ d: Block, _ key: String) -> [String] {
        (d.attributes[key] ?? []).flatMap(\.values)
    }

    private func defaultsNotes(_ d: Block, result: inout ImportResult) {
        for key in ["log_type", "max_load", "deny_time", "banner", "banner_success", "banner_fail", "mdns", "cps"] {
            guard let a = d.attributes[key]?.first else { continue }
            switch key {
            case "log_type": result.note(d.file, a.line, .approximated, "defaults: log_type \(a.values.joined(separator: " ")): swinetd logs to stderr, or to syslog with --daemon")
            case "cps": continue   // taken per service below
            case "deny_time": result.note(d.file, a.line, .approximated, "defaults: deny_time acts only for SENSOR services, which swinetd has not: see penalty in swinetd.yaml(5)")
            default: result.note(d.file, a.line, .approximated, "defaults: \(key) has no equivalent: not carried over")
            }
        }
    }

    /// One service block in swinetd's terms, or nil (noted) when it cannot be served.
    func service(_ b: Block, defaults d: Block, result: inout ImportResult) -> ImportedService? {
        let shown = ImportWriter.comment(b.name)
        func one(_ key: String) -> Attribute? { b.attributes[key]?.last }
        func value(_ key: String) -> String? { one(key)?.values.joined(separator: " ") }
        func own(_ key: String) -> Attribute? { one(key) ?? d.attributes[key]?.last }
        func leftOut(_ why: String, line: Int? = nil) -> ImportedService? {
            result.note(b.file, line ?? b.line, .leftOut, "\(shown): \(why)")
            return nil
        }
        func approx(_ key: String, _ why: String) {
            result.note(b.file, own(key)?.line ?? b.line, .approximated, "\(shown): \(why)")
        }
        var s = ImportedService(name: b.name, file: b.file, line: b.line)
        let types = Set((one("type")?.values ?? []).map { $0.uppercased() })
        if types.contains("RPC") { return leftOut("an RPC service: swinetd serves no RPC, which needs rpcbind registration") }
        if types.contains("TCPMUX") || types.contains("TCPMUXPLUS") { return leftOut("swinetd serves no TCPMUX (RFC 1078)") }
        let flags = Set((setValue(b.attributes["flags"], base: []) ?? []).map { $0.uppercased() })
        if flags.contains("SENSOR") { return leftOut("a SENSOR (a host that touches it is denied every service for deny_time): swinetd has no sensors; its penalty keeps out a client whose handler fails, per service (see penalty in swinetd.yaml(5))") }
        if one("redirect") != nil && one("server") == nil { return leftOut("redirect forwards to another host: swinetd starts handlers only (a handler such as socat can forward)") }
        if let disable = value("disable")?.lowercased(), disable == "yes" { s.enabled = false }
        // socket_type and protocol
        guard let socktype = value("socket_type") else { return leftOut("no socket_type") }
        guard socktype == "stream" || socktype == "dgram" else { return leftOut("socket_type \(ImportWriter.comment(socktype)) is not served by swinetd (stream and dgram are)") }
        let proto = value("protocol") ?? (socktype == "stream" ? "tcp" : "udp")
        guard proto == "tcp" || proto == "udp" else { return leftOut("protocol \(ImportWriter.comment(proto)) is not served by swinetd (tcp and udp are)") }
        guard (proto == "tcp") == (socktype == "stream") else { return leftOut("socket_type \(socktype) does not go with protocol \(proto)") }
        s.transport = proto == "udp" ? .udp : .tcp
        // wait
        guard let wait = value("wait")?.lowercased(), wait == "yes" || wait == "no" else { return leftOut("wait must be yes or no") }
        s.wait = wait == "yes"
        // The port: the port attribute, else /etc/services.
        var port: UInt16
        if let p = value("port") {
            guard let entry = ServicePorts.lookup(p, proto: proto), p.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
                return leftOut("port '\(ImportWriter.comment(p))' is not a port number", line: one("port")?.line)
            }
            port = entry.port
        } else {
            guard let entry = ServicePorts.lookup(b.name, proto: proto) else {
                return leftOut("no such service in /etc/services for \(proto), and no port")
            }
            port = entry.port
        }
        // Where: bind/interface, IPv4 (xinetd's default) or IPv6 (both families).
        let bind = value("bind") ?? value("interface") ?? d.attributes["bind"]?.last?.values.first
        let ipv6 = flags.contains("IPV6")
        if let bind {
            let isV6 = bind.contains(":")
            guard let addresses = ImportInput.address(host: bind, port: port, ipv6: isV6) else { return leftOut("bind address '\(ImportWriter.comment(bind))' does not resolve") }
            if !ImportInput.isNumericHost(bind) && bind != "localhost" { approx("bind", "the host name \(ImportWriter.comment(bind)) is written as the address it has now, \(addresses.joined(separator: ", "))") }
            s.listen = addresses
        } else {
            s.listen = ipv6 ? ["\(port)"] : ["0.0.0.0:\(port)"]
        }
        // What runs.
        if types.contains("INTERNAL") {
            let id = value("id") ?? b.name
            let base = id.split(separator: "-").first.map(String.init) ?? id
            guard let builtin = Builtin(rawValue: base), builtin != .auth, !(s.transport == .udp && !builtin.servesUDP) else {
                return leftOut("the internal service \(ImportWriter.comment(id)) has no swinetd builtin (its builtins are echo, discard, daytime, time and chargen)")
            }
            s.builtin = builtin
            if s.transport == .tcp { s.wait = false }
        } else {
            guard let server = value("server"), server.hasPrefix("/") else { return leftOut("no server (an absolute path)") }
            s.exec = server
            var args = one("server_args")?.values ?? []
            if flags.contains("NAMEINARGS"), let first = args.first {
                if first != ImportInput.basename(server) { s.argv0 = first }
                args.removeFirst()
            }
            s.args = args
            if one("redirect") != nil { approx("redirect", "redirect is not carried over: the server runs instead") }
        }
        s.user = value("user")
        if s.builtin != nil && s.user == "root" { s.user = nil }
        s.group = value("group")
        // Limits of admission.
        if let n = own("instances")?.values.first, n.uppercased() != "UNLIMITED" {
            guard let v = Int(n), v > 0 else { return leftOut("instances '\(ImportWriter.comment(n))' is not a number", line: own("instances")?.line) }
            if s.wait { approx("instances", "instances does not apply to a wait service") } else { s.maxConnections = v }
        }
        if let n = own("per_source")?.values.first, n.uppercased() != "UNLIMITED" {
            guard let v = Int(n), v > 0 else { return leftOut("per_source '\(ImportWriter.comment(n))' is not a number", line: own("per_source")?.line) }
            if s.wait { approx("per_source", "per_source does not apply to a wait service") } else { s.perSource = v; s.groupByAddress = true }
        }
        if let cps = own("cps")?.values, let n = cps.first.flatMap({ Int($0) }), n > 0 {
            if s.wait {
                approx("cps", "cps does not apply to a wait service in swinetd")
            } else {
                s.rate = "\(n)/s"
                approx("cps", "cps \(cps.joined(separator: " ")): over \(n) connections a second xinetd stops the service for \(cps.count > 1 ? cps[1] : "10") seconds; swinetd's rate: \(n)/s makes the extra connections wait instead")
            }
        }
        // Who may connect.
        let allow = setValue(b.attributes["only_from"], base: accumulated(d, "only_from")) ?? (d.attributes["only_from"] == nil ? nil : accumulated(d, "only_from"))
        let deny = setValue(b.attributes["no_access"], base: accumulated(d, "no_access")) ?? (d.attributes["no_access"] == nil ? nil : accumulated(d, "no_access"))
        if let allow {
            if s.wait { approx("only_from", "only_from does not apply to a wait service in swinetd") } else if allow.isEmpty {
                s.deny = ["0.0.0.0/0", "::/0"]   // only_from with no value: nobody
            } else {
                s.allow = addressList(allow, key: "only_from", block: b, defaults: d, result: &result)
                if s.allow.isEmpty { s.deny = ["0.0.0.0/0", "::/0"] }
            }
        }
        if let deny, !deny.isEmpty, !s.wait {
            s.deny += addressList(deny, key: "no_access", block: b, defaults: d, result: &result)
            if !s.allow.isEmpty { approx("no_access", "with both only_from and no_access xinetd lets the more specific entry decide; in swinetd deny always wins") }
        }
        // The handler's environment and limits.
        for e in setValue(b.attributes["env"], base: []) ?? [] {
            guard let eq = e.firstIndex(of: "="), eq != e.startIndex else { approx("env", "env '\(ImportWriter.comment(e))' is not NAME=value: left out"); continue }
            s.env.append((String(e[..<eq]), String(e[e.index(after: eq)...])))
        }
        if let pass = setValue(b.attributes["passenv"], base: accumulated(d, "passenv")), !pass.isEmpty {
            approx("passenv", "passenv \(pass.joined(separator: " ")): swinetd passes nothing of its own environment; set the values in env")
        }
        if let n = value("nice") {
            guard let v = Int(n), (-20...19).contains(v) else { return leftOut("nice '\(ImportWriter.comment(n))' is not from -20 to 19", line: one("nice")?.line) }
            s.nice = v
        }
        if let u = own("umask")?.values.first {
            guard !u.isEmpty, u.count <= 4, u.allSatisfy({ ("0"..."7").contains($0) }) else { return leftOut("umask '\(ImportWriter.comment(u))' is not octal", line: own("umask")?.line) }
            s.umask = String(repeating: "0", count: 4 - u.count) + u
        }
        let rlimits = [("rlimit_as", "as"), ("rlimit_cpu", "cpu"), ("rlimit_data", "data"), ("rlimit_rss", "rss"), ("rlimit_stack", "stack"), ("rlimit_files", "nofile")]
        for (key, limit) in rlimits {
            guard let v = value(key) else { continue }
            let upper = v.uppercased()
            if upper == "UNLIMITED" { s.limits.append((limit, "unlimited")); continue }
            let digits = upper.hasSuffix("K") || upper.hasSuffix("M") ? String(upper.dropLast()) : upper
            guard !digits.isEmpty, digits.count <= 15, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return leftOut("\(key) '\(ImportWriter.comment(v))' is not a number or UNLIMITED", line: one(key)?.line) }
            s.limits.append((limit, limit == "cpu" || limit == "nofile" ? digits : digits + (upper.hasSuffix("K") ? "K" : upper.hasSuffix("M") ? "M" : "")))
        }
        // What has no equivalent.
        for key in ["access_times", "banner", "banner_success", "banner_fail", "max_load", "libwrap", "mdns"] where one(key) != nil {
            approx(key, "\(key) has no equivalent in swinetd: not carried over")
        }
        if one("deny_time") != nil { approx("deny_time", "deny_time acts only for a SENSOR, and this service is none: nothing to carry over") }
        if let g = value("groups")?.lowercased(), g == "no" { approx("groups", "groups = no: swinetd always gives the handler its user's supplementary groups") }
        for flag in flags.subtracting(["IPV4", "IPV6", "NAMEINARGS", "REUSE", "NOLIBWRAP"]) {
            approx("flags", "the flag \(ImportWriter.comment(flag)) has no equivalent in swinetd: not carried over")
        }
        for key in ["log_on_success", "log_on_failure"] {
            if let v = setValue(b.attributes[key], base: accumulated(d, key)), v.contains(where: { $0.uppercased() == "USERID" }) {
                approx(key, "\(key) USERID: swinetd makes no RFC 1413 lookups (its log has pid, peer, exit status and duration)")
            }
        }
        if one("log_type") != nil { approx("log_type", "log_type: swinetd logs to stderr, or to syslog with --daemon") }
        return s
    }

    /// only_from and no_access entries as prefixes: xinetd's trailing zero
    /// octets are wildcards (10.1.0.0 is 10.1.0.0/16), {a,b} lists expand,
    /// host and network names are left out with a note.
    func addressList(_ entries: [String], key: String, block b: Block, defaults d: Block, result: inout ImportResult) -> [String] {
        var out: [String] = []
        let line = (b.attributes[key]?.last ?? d.attributes[key]?.last)?.line ?? b.line
        for e in entries {
            for x in Self.expandBraces(e) {
                var text = x
                if !text.contains("/") && !text.contains(":") {
                    var octets = text.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
                    if octets.count < 4, octets.allSatisfy({ Int($0) != nil }) { octets += Array(repeating: "0", count: 4 - octets.count) }
                    if octets.count == 4, octets.allSatisfy({ Int($0) != nil }) {
                        var length = 32
                        while length > 0, octets[length / 8 - 1] == "0" { length -= 8 }
                        text = octets.joined(separator: ".") + "/\(length)"
                    }
                }
                if text == "0.0.0.0/0" && key == "only_from" { out.append("0.0.0.0/0"); out.append("::/0"); continue }
                switch AddressPrefix.parse(text) {
                case .success(let p): out.append(p.description)
                case .failure:
                    result.note(b.file, line, .approximated, "\(ImportWriter.comment(b.name)): \(key) \(ImportWriter.comment(x)) is a name, not an address: swinetd matches addresses only, so it is left out of the list")
                }
            }
        }
        return out
    }
}
