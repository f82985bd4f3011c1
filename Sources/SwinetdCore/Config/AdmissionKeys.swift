#if canImport(Glibc)
import Glibc
#endif

/// The readers of the admission and handler-limit keys: `allow`, `deny`,
/// `per_source`, `source_prefix`, `rate`, `rate_burst`, `source_rate`,
/// `refuse_message`, `timeout`, `limits`, `nice` and `umask`.
extension Validation {
    static let refuseMessageLimit = 512
    static let longestTimeout = 31_536_000.0   // a year

    /// Each admission key from the service, else from `defaults`; nil when
    /// they do not fit together (reported).
    mutating func admissionRules(_ own: Settings, _ defaults: Settings) -> AdmissionRules? {
        var r = AdmissionRules()
        r.allow = PrefixSet(own.allow ?? defaults.allow ?? [])
        r.deny = PrefixSet(own.deny ?? defaults.deny ?? [])
        r.perSource = own.perSource ?? defaults.perSource
        r.sourcePrefix = own.sourcePrefix ?? defaults.sourcePrefix ?? SourcePrefix()
        r.rate = own.rate ?? defaults.rate
        r.rateBurst = (own.rateBurst ?? defaults.rateBurst)?.count
        r.sourceRate = own.sourceRate ?? defaults.sourceRate
        r.refuseMessage = own.refuseMessage ?? defaults.refuseMessage
        r.proxy = own.proxyProtocol ?? defaults.proxyProtocol
        r.penalty = own.penalty ?? defaults.penalty
        r.envBySource = own.envBySource ?? defaults.envBySource ?? []
        if r.rate == nil, let burst = own.rateBurst ?? defaults.rateBurst {
            error(burst.node, "'rate_burst' needs a 'rate' to save tokens of")
            return nil
        }
        return r
    }

    func handlerLimits(_ own: Settings, _ defaults: Settings) -> HandlerLimits {
        var h = HandlerLimits()
        h.timeout = own.timeout ?? defaults.timeout
        // Limits merge by name, as env does: a service overrides some of the defaults'.
        var limits = defaults.limits ?? []
        for l in own.limits ?? [] {
            limits.removeAll { $0.name == l.name }
            limits.append(l)
        }
        h.limits = limits.sorted { $0.name < $1.name }
        h.nice = own.nice ?? defaults.nice
        h.umask = own.umask ?? defaults.umask
        return h
    }

    /// A list of addresses and prefixes (one alone may stand without brackets).
    mutating func prefixes(_ node: Int, key: ServiceKey) -> [AddressPrefix]? {
        let items: [Int]
        switch document[node].kind {
        case .scalar: items = [node]
        case .sequence(let list): items = list
        case .mapping: items = []
        }
        if items.isEmpty || isNull(node) {
            error(node, "'\(key.name)' must be a list of addresses and prefixes, such as [10.0.0.0/8, \"2001:db8::/32\"]")
            return nil
        }
        var out: [AddressPrefix] = []
        var ok = true
        for item in items {
            guard let text = string(item, key: key.name) else { ok = false; continue }
            switch AddressPrefix.parse(text) {
            case .success(let p): out.append(p)
            case .failure(.hostName):
                error(item, "'\(key.name)' takes addresses and prefixes, not host names: '\(text)' (a name can change what it means; write its addresses)")
                ok = false
            case .failure(.malformed):
                error(item, "'\(text)' in '\(key.name)' is not an address or prefix, such as 192.0.2.7, 10.0.0.0/8 or 2001:db8::/32")
                ok = false
            case .failure(.length(let max)):
                error(item, "the prefix length in '\(text)' is too long: at most \(max)")
                ok = false
            case .failure(.notCanonical(let canonical)):
                error(item, "'\(text)' in '\(key.name)' has bits set past its prefix length; the network is \(canonical)")
                ok = false
            }
        }
        return ok ? out : nil
    }

    /// `"N/s"` or `"N/min"`.
    mutating func rate(_ node: Int, key: ServiceKey) -> Rate? {
        let example = "such as \"5/s\" or \"30/min\""
        guard case .scalar(let text, _) = document[node].kind, !isNull(node) else {
            error(node, "'\(key.name)' must be a rate, \(example)")
            return nil
        }
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let unit = parts.count == 2 ? parts[1] : ""
        let seconds = unit == "s" ? 1 : unit == "min" ? 60 : 0
        guard parts.count == 2, seconds > 0, !parts[0].isEmpty, parts[0].utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
              let count = Int(parts[0]), count > 0 else {
            error(node, "'\(key.name)' must be a positive count per second or minute, \(example), not '\(text)'")
            return nil
        }
        guard count <= 1_000_000 else {
            error(node, "'\(key.name)' is too large: at most 1000000/\(unit)")
            return nil
        }
        return Rate(count: count, seconds: seconds)
    }

    mutating func sourcePrefix(_ node: Int) -> SourcePrefix? {
        enum Family: String, CaseIterable { case ipv4, ipv6 }
        guard let keys = entries(of: node, context: "in 'source_prefix'", known: Family.self) else {
            error(node, "'source_prefix' must be a map such as {ipv4: 32, ipv6: 64}")
            return nil
        }
        var out = SourcePrefix()
        var ok = true
        if let e = keys[.ipv4] {
            if let n = integer(e.valueNode, key: "source_prefix.ipv4", in: 0...32) { out.ipv4 = n } else { ok = false }
        }
        if let e = keys[.ipv6] {
            if let n = integer(e.valueNode, key: "source_prefix.ipv6", in: 0...128) { out.ipv6 = n } else { ok = false }
        }
        return ok ? out : nil
    }

    mutating func refuseMessage(_ node: Int) -> String? {
        guard let text = string(node, key: ServiceKey.refuseMessage.name) else { return nil }
        guard text.utf8.count <= Self.refuseMessageLimit else {
            error(node, "'refuse_message' is \(text.utf8.count) bytes: at most \(Self.refuseMessageLimit)")
            return nil
        }
        return text
    }

    /// Seconds, whole or not: `timeout: 30`, `timeout: 0.5`.
    mutating func timeout(_ node: Int) -> Double? {
        guard case .scalar(let text, false) = document[node].kind,
              !text.isEmpty, text.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == 46 }),
              let seconds = Double(text), seconds > 0 else {
            error(node, "'timeout' must be a positive number of seconds, such as 30 or 0.5")
            return nil
        }
        guard seconds <= Self.longestTimeout else {
            error(node, "'timeout' is too large: at most \(Int(Self.longestTimeout)) seconds (a year)")
            return nil
        }
        return seconds
    }

    mutating func limits(_ node: Int) -> [ResourceLimit]? {
        guard case .mapping(let pairs) = document[node].kind else {
            error(node, "'limits' must be a map such as {nofile: 1024, as: 512M}")
            return nil
        }
        var out: [ResourceLimit] = []
        var ok = true
        for pair in pairs {
            guard let name = plainKey(pair.key) else { ok = false; continue }
            guard let known = ResourceLimit.known.first(where: { $0.name == name }) else {
                var message = "unknown limit '\(name)' in 'limits': known are \(ResourceLimit.known.map(\.name).joined(separator: ", "))"
                if let guess = Spelling.suggestion(for: name, among: ResourceLimit.known.map(\.name)) { message += "; did you mean '\(guess)'?" }
                error(pair.key, message)
                ok = false
                continue
            }
            if out.contains(where: { $0.name == name }) {
                error(pair.key, "duplicate key '\(name)' in 'limits'")
                ok = false
                continue
            }
            guard let value = limitValue(pair.value, name: name, isSize: known.isSize) else { ok = false; continue }
            if checkPrivileges && geteuid() != 0,
               let hard = HostChecks.hardLimit(known.resource), hard != ResourceLimit.unlimited, value > hard {
                error(pair.value, "'limits.\(name)' \(value == ResourceLimit.unlimited ? "unlimited" : String(value)) is above swinetd's own hard limit \(hard); raising it needs swinetd to run as root")
                ok = false
                continue
            }
            out.append(ResourceLimit(name: name, resource: known.resource, value: value))
        }
        return ok ? out : nil
    }

    /// A count, `unlimited`, or for a size a count with K, M or G (powers of
    /// 1024). Quoted or not: `"512M"` and `512M` are the same YAML string,
    /// and tables that programs write quote their scalars.
    private mutating func limitValue(_ node: Int, name: String, isSize: Bool) -> UInt64? {
        let example = isSize ? "a size such as 10M, or unlimited" : "a count, or unlimited"
        guard case .scalar(let raw, _) = document[node].kind, !raw.isEmpty else {
            error(node, "'limits.\(name)' must be \(example)")
            return nil
        }
        if raw == "unlimited" { return ResourceLimit.unlimited }
        var digits = Substring(raw)
        var scale: UInt64 = 1
        if isSize, let last = digits.last, let s = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30][String(last).uppercased()] {
            scale = UInt64(s)
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = UInt64(digits),
              n.multipliedReportingOverflow(by: scale).overflow == false, n * scale < ResourceLimit.unlimited else {
            error(node, "'limits.\(name)' must be \(example), not '\(raw)'")
            return nil
        }
        return n * scale
    }

    mutating func nice(_ node: Int) -> Int? {
        guard let n = integer(node, key: ServiceKey.nice.name, in: -20...19) else { return nil }
        if n < 0 && checkPrivileges && geteuid() != 0 {
            error(node, "'nice' \(n) raises the handler's priority, which needs swinetd to run as root")
            return nil
        }
        return n
    }

    /// A quoted octal string: YAML readers disagree on what a bare 027 is.
    mutating func umask(_ node: Int) -> UInt32? {
        octal(node, key: ServiceKey.umask.name, example: "\"027\"")
    }
}
