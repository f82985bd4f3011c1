/// What `swinetd check` prints for a valid table: each service with every
/// key resolved (in `ServiceKey` order, defaults filled in), so an admin
/// sees what will actually run.
public enum TableSummary {
    public static func render(_ table: ServiceTable, file: String) -> String {
        var out = "\(file): ok: \(table.services.count) service\(table.services.count == 1 ? "" : "s"), max_children \(table.maxChildren)\n"
        let width = ServiceKey.allCases.map(\.name.count).max()! + 1
        for s in table.services {
            out += "\(s.name)\(s.enabled ? "" : " (disabled)")\(table.origins[s.name].map { "  (from \($0))" } ?? "")\n"
            for key in ServiceKey.allCases {
                out += "  " + key.name + String(repeating: " ", count: width - key.name.count) + value(key, of: s) + "\n"
            }
        }
        return out
    }

    /// The value `key` resolves to in `s`.
    static func value(_ key: ServiceKey, of s: ServiceConfig) -> String {
        switch key {
        case .listen: return s.addresses.map(\.description).joined(separator: " ")
        case .exec: return s.exec
        case .args: return s.argv.count > 1 ? s.argv.dropFirst().map(quote).joined(separator: " ") : "(none)"
        case .argv0: return quote(s.argv[0])
        case .user:
            guard let c = s.credentials else { return "(swinetd's own)" }
            return "\(s.user ?? "-") (uid \(c.uid), groups \(c.groups.map(String.init).joined(separator: ",")))"
        case .group:
            guard let c = s.credentials else { return "(swinetd's own)" }
            return "\(s.group ?? "-") (gid \(c.gid))"
        case .env: return s.env.isEmpty ? "(none)" : s.env.map { "\($0.name)=\(quote($0.value))" }.joined(separator: " ")
        case .cwd: return s.cwd
        case .maxConnections: return String(s.maxConnections)
        case .backlog: return String(s.backlog)
        case .stderr: return s.stderr.rawValue
        case .enabled: return String(s.enabled)
        case .protocol: return s.isUnix ? "unix" : s.transport.rawValue
        case .allow: return s.admission.allow.isEmpty ? "(everyone)" : s.admission.allow.prefixes.map(\.description).joined(separator: " ")
        case .deny: return s.admission.deny.isEmpty ? "(nobody)" : s.admission.deny.prefixes.map(\.description).joined(separator: " ")
        case .perSource: return s.admission.perSource.map(String.init) ?? "(none)"
        case .sourcePrefix: return "ipv4 /\(s.admission.sourcePrefix.ipv4), ipv6 /\(s.admission.sourcePrefix.ipv6)"
        case .rate: return s.admission.rate?.description ?? "(none)"
        case .rateBurst: return s.admission.rate.map { String(s.admission.rateBurst ?? $0.count) } ?? "(none)"
        case .sourceRate: return s.admission.sourceRate?.description ?? "(none)"
        case .refuseMessage: return s.admission.refuseMessage.map(quote) ?? "(none)"
        case .proxyProtocol:
            guard let p = s.admission.proxy else { return "(none)" }
            return "from " + p.from.prefixes.map(\.description).joined(separator: " ")
                + ", version \(p.version.rawValue), timeout \(TimeSpan.text(seconds: p.timeout)), direct \(p.allowsDirect ? "allow" : "refuse")"
        case .penalty:
            guard let p = s.admission.penalty else { return "(none)" }
            var counts: [String] = []
            if !p.exitCodes.isEmpty { counts.append("exit codes " + p.exitCodes.map(String.init).joined(separator: " ")) }
            if p.signals { counts.append("signals") }
            if let short = p.shortRun { counts.append("runs under " + TimeSpan.text(nanoseconds: short)) }
            return counts.joined(separator: ", ") + "; add \(TimeSpan.text(nanoseconds: p.add)), max \(TimeSpan.text(nanoseconds: p.max))"
        case .envBySource:
            let rules = s.admission.envBySource
            return rules.isEmpty ? "(none)" : rules.map { r in
                r.from.prefixes.map(\.description).joined(separator: ",") + ": " + r.env.map { "\($0.name)=\(quote($0.value))" }.joined(separator: " ")
            }.joined(separator: "; ")
        case .timeout: return s.handlerLimits.timeout.map { "\($0)s" } ?? "(none)"
        case .limits:
            let l = s.handlerLimits.limits
            return l.isEmpty ? "(swinetd's own)" : l.map { "\($0.name)=\($0.valueText)" }.joined(separator: " ")
        case .nice: return s.handlerLimits.nice.map(String.init) ?? "(swinetd's own)"
        case .umask: return s.handlerLimits.umask.map { "0" + String($0, radix: 8) } ?? "(swinetd's own)"
        case .noNewPrivileges: return String(s.sandbox.noNewPrivileges)
        case .privateNetwork: return String(s.sandbox.privateNetwork)
        case .addressFamilies:
            guard let list = s.sandbox.addressFamilies else { return "(any)" }
            return list.isEmpty ? "(none)" : list.map(\.name).joined(separator: " ")
        case .capabilities:
            guard let list = s.sandbox.capabilities else { return "(as its user has)" }
            return list.isEmpty ? "(none)" : list.map(\.name).joined(separator: " ")
        case .systemCalls:
            guard let f = s.sandbox.systemCalls else { return "(any)" }
            return [f.allow.map { "allow " + ($0.isEmpty ? "(only @default)" : $0.joined(separator: " ")) },
                    f.deny.isEmpty ? nil : "deny " + f.deny.joined(separator: " "),
                    "action " + f.action.rawValue].compactMap { $0 }.joined(separator: "; ")
        case .protectSystem: return s.sandbox.protectSystem.rawValue
        case .protectHome: return s.sandbox.protectHome.rawValue
        case .readOnlyPaths: return paths(s.sandbox.readOnlyPaths)
        case .readWritePaths: return paths(s.sandbox.readWritePaths)
        case .inaccessiblePaths: return paths(s.sandbox.inaccessiblePaths)
        case .privateTmp: return String(s.sandbox.privateTmp)
        case .rootDirectory: return s.sandbox.rootDirectory.map(quote) ?? "/"
        case .sandbox: return "(each key above)"
        case .wait: return String(s.wait)
        case .activation: return s.activation.rawValue
        case .builtin: return s.builtin?.rawValue ?? "(none)"
        case .socketMode: return "0" + String(s.socketFile.mode, radix: 8)
        case .socketUser: return s.socketFile.ownerName ?? "(swinetd's own)"
        case .socketGroup: return s.socketFile.groupName ?? "(swinetd's own)"
        }
    }

    private static func paths(_ list: [String]) -> String {
        list.isEmpty ? "(none)" : list.map(quote).joined(separator: " ")
    }

    private static func quote(_ s: String) -> String {
        if !s.isEmpty && !s.contains(where: { $0 == " " || $0 == "\"" || $0 == "'" || $0 == "\\" }) { return s }
        return "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}
