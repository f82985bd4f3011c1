/// The readers of `proxy_protocol`, `penalty` and `env_by_source`
/// (swinetd.yaml(5)), and of the spans of time they take (TimeSpan).
extension Validation {
    private enum ProxyKey: String, CaseIterable { case from, version, timeout, direct }
    private enum PenaltyKey: String, CaseIterable {
        case exitCodes = "exit_codes", signals
        case shortRun = "short_run", add, max
    }
    private enum SourceEnvKey: String, CaseIterable { case from, env }

    static let longestProxyTimeout = 300.0
    static let longestPenalty = 86_400.0 * 7   // a week
    static let mostSourceRules = 10_000

    /// `{from: [CIDR...], version: v1|v2|any, timeout: 5, direct: allow|refuse}`.
    /// `from` is required and may not trust every address: anyone could
    /// then forge the client's address.
    mutating func proxyProtocol(_ node: Int) -> ProxyProtocol? {
        let key = ServiceKey.proxyProtocol.name
        guard let keys = entries(of: node, context: "in '\(key)'", known: ProxyKey.self) else {
            error(node, "'\(key)' must be a map such as {from: [10.0.0.0/24], version: v2}")
            return nil
        }
        var out = ProxyProtocol(from: PrefixSet([]))
        var ok = true
        if let fromEntry = keys[.from] {
            if let from = prefixes(fromEntry.valueNode, key: .proxyProtocol) {
                if let everyone = from.first(where: { $0.length == 0 }) {
                    error(fromEntry.valueNode, "'\(key).from' \(everyone) trusts every address: any client could then claim to be any other; name the load balancers' networks")
                    ok = false
                }
                out.from = PrefixSet(from)
            } else {
                ok = false
            }
        } else {
            error(node, "'\(key)' needs 'from': the load balancers' addresses, the only peers whose header is believed")
            ok = false
        }
        if let e = keys[.version] {
            if case .scalar(let text, _) = document[e.valueNode].kind, let v = ProxyProtocol.Version(rawValue: text.lowercased()) {
                out.version = v
            } else {
                error(e.valueNode, "'\(key).version' must be v1, v2 or any")
                ok = false
            }
        }
        if let e = keys[.timeout] {
            if let seconds = span(e.valueNode, key: "\(key).timeout", longest: Self.longestProxyTimeout) { out.timeout = seconds } else { ok = false }
        }
        if let e = keys[.direct] {
            if case .scalar(let text, _) = document[e.valueNode].kind, text == "allow" || text == "refuse" {
                out.allowsDirect = text == "allow"
            } else {
                error(e.valueNode, "'\(key).direct' must be allow (a peer outside 'from' is served as itself) or refuse")
                ok = false
            }
        }
        return ok ? out : nil
    }

    /// `{exit_codes: [...], signals: true, short_run: 1s, add: 10s, max: 10m}`.
    mutating func penalty(_ node: Int) -> PenaltyRules? {
        let key = ServiceKey.penalty.name
        guard let keys = entries(of: node, context: "in '\(key)'", known: PenaltyKey.self) else {
            error(node, "'\(key)' must be a map such as {exit_codes: [7], add: 10s, max: 10m}")
            return nil
        }
        var out = PenaltyRules()
        var ok = true
        if let e = keys[.exitCodes] {
            if case .sequence(let items) = document[e.valueNode].kind, !items.isEmpty {
                for item in items {
                    guard let code = integer(item, key: "\(key).exit_codes", in: 1...255) else { ok = false; continue }
                    if !out.exitCodes.contains(Int32(code)) { out.exitCodes.append(Int32(code)) }
                }
            } else {
                error(e.valueNode, "'\(key).exit_codes' must be a list of exit codes from 1 to 255, such as [7]")
                ok = false
            }
        }
        if let e = keys[.signals] {
            if let b = bool(e.valueNode, key: "\(key).signals") { out.signals = b } else { ok = false }
        }
        if let e = keys[.shortRun] {
            if let s = span(e.valueNode, key: "\(key).short_run", longest: 3600) { out.shortRun = Nanoseconds.from(seconds: s) } else { ok = false }
        }
        if let e = keys[.add] {
            if let s = span(e.valueNode, key: "\(key).add", longest: Self.longestPenalty) { out.add = Nanoseconds.from(seconds: s) } else { ok = false }
        }
        if let e = keys[.max] {
            if let s = span(e.valueNode, key: "\(key).max", longest: Self.longestPenalty) { out.max = Nanoseconds.from(seconds: s) } else { ok = false }
        }
        if keys[.exitCodes] == nil && keys[.signals] == nil && keys[.shortRun] == nil {
            error(node, "'\(key)' counts nothing: give 'exit_codes', 'signals: true' or 'short_run'")
            return nil
        }
        guard ok else { return nil }
        if out.exitCodes.isEmpty && !out.signals && out.shortRun == nil {
            error(node, "'\(key)' counts nothing: 'signals' is false and neither 'exit_codes' nor 'short_run' is given")
            return nil
        }
        if out.max < out.add {
            error(keys[.max]?.valueNode ?? node, "'\(key).max' \(TimeSpan.text(nanoseconds: out.max)) is shorter than 'add' \(TimeSpan.text(nanoseconds: out.add))")
            return nil
        }
        return out
    }

    /// `[{from: [CIDR...], env: {NAME: value}}, ...]`: the first rule that
    /// matches the client wins.
    mutating func envBySource(_ node: Int) -> [SourceEnvironment]? {
        let key = ServiceKey.envBySource.name
        guard case .sequence(let items) = document[node].kind else {
            error(node, "'\(key)' must be a list of rules such as [{from: [10.0.0.0/8], env: {RELAYCLIENT: \"\"}}]")
            return nil
        }
        guard items.count <= Self.mostSourceRules else {
            error(node, "'\(key)' has \(items.count) rules: at most \(Self.mostSourceRules)")
            return nil
        }
        var out: [SourceEnvironment] = []
        var ok = true
        for item in items {
            guard let keys = entries(of: item, context: "in an '\(key)' rule", known: SourceEnvKey.self) else {
                error(item, "each '\(key)' rule must be a map: {from: [10.0.0.0/8], env: {NAME: value}}")
                ok = false
                continue
            }
            guard let f = keys[.from], let e = keys[.env] else {
                error(item, "an '\(key)' rule needs both 'from' and 'env'")
                ok = false
                continue
            }
            guard let from = prefixes(f.valueNode, key: .envBySource), let env = self.env(e.valueNode, key: key) else { ok = false; continue }
            out.append(SourceEnvironment(from: PrefixSet(from), env: env.sorted { $0.key < $1.key }.map { EnvVar(name: $0.key, value: $0.value) }))
        }
        return ok ? out : nil
    }

    /// A span of time: seconds as a number (`5`, `0.5`) or with a unit
    /// (`500ms`, `10s`, `10m`, `1h`), more than zero and at most `longest`
    /// seconds. In seconds.
    mutating func span(_ node: Int, key: String, longest: Double) -> Double? {
        guard case .scalar(let text, _) = document[node].kind, let seconds = TimeSpan.parse(text), seconds > 0 else {
            error(node, "'\(key)' must be a span of time such as 5, 500ms, 10s, 10m or 1h")
            return nil
        }
        guard seconds <= longest else {
            error(node, "'\(key)' is too long: at most \(TimeSpan.text(seconds: longest))")
            return nil
        }
        return seconds
    }
}
