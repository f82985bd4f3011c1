#if canImport(Glibc)
import Glibc
#endif

/// The readers of the isolation keys (swinetd.yaml(5), ISOLATION).
extension Validation {
    /// Each isolation key from the service, else from `defaults`.
    func sandbox(_ own: Settings, _ defaults: Settings) -> Sandbox {
        Sandbox(noNewPrivileges: own.noNewPrivileges ?? defaults.noNewPrivileges ?? false,
                capabilities: own.capabilities ?? defaults.capabilities,
                privateNetwork: own.privateNetwork ?? defaults.privateNetwork ?? false)
    }

    /// `private_network`: only root can make and enter a network
    /// namespace, and the kernel must have them; otherwise an error, never
    /// a handler with the host's network.
    mutating func privateNetwork(_ node: Int) -> Bool? {
        let key = ServiceKey.privateNetwork.name
        guard let on = bool(node, key: key) else { return nil }
        guard on else { return false }
        guard access("/proc/self/ns/net", F_OK) == 0 else {
            error(node, "'\(key)' needs network namespaces, which this kernel does not have")
            return nil
        }
        guard geteuid() == 0 else {
            error(node, "'\(key)' needs swinetd to run as root: only root can give a handler a network namespace")
            return nil
        }
        return true
    }

    /// `capabilities`: a list of capabilities(7) names, [] for none. Only
    /// root can cut a handler's capabilities, so under another user it is
    /// an error, never a handler that keeps more than the table says.
    mutating func capabilities(_ node: Int) -> [Capability]? {
        let key = ServiceKey.capabilities.name
        guard case .sequence(let items) = document[node].kind else {
            error(node, "'\(key)' must be a list of capability names, such as [CAP_NET_BIND_SERVICE] ([] for none)")
            return nil
        }
        var out: [Capability] = []
        var ok = true
        let last = Capability.lastKnownByKernel
        for item in items {
            guard let name = string(item, key: key) else { ok = false; continue }
            guard let c = Capability(name: name) else {
                var message = "unknown capability '\(name)'"
                if let guess = Capability.suggestion(for: name) { message += "; did you mean '\(guess)'?" }
                error(item, message)
                ok = false
                continue
            }
            if let last, c.number > last {
                error(item, "this kernel does not know \(name) (its last is \(Capability.names[min(last, Capability.names.count - 1)]))")
                ok = false
                continue
            }
            if !out.contains(c) { out.append(c) }
        }
        guard ok else { return nil }
        guard geteuid() == 0 else {
            error(node, "'\(key)' needs swinetd to run as root: only root can cut a handler's capabilities")
            return nil
        }
        return out.sorted { $0.number < $1.number }
    }
}
