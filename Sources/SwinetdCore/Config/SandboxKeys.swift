#if canImport(Glibc)
import Glibc
#endif

/// The readers of the isolation keys (swinetd.yaml(5), ISOLATION).
extension Validation {
    /// Each isolation key from the service, else its `sandbox` preset,
    /// else from `defaults`, else the preset there (a level's own key
    /// wins over its preset; the service's level over `defaults`'). What
    /// the result needs of swinetd's privileges is checked here (at load),
    /// once presets are applied: an error, never a weaker sandbox.
    mutating func sandbox(_ own: Settings, _ defaults: Settings, nameNode: Int) -> Sandbox? {
        let ownPreset = own.sandboxPreset?.sandbox, defaultsPreset = defaults.sandboxPreset?.sandbox
        func pick<T>(_ mine: T?, _ theirs: T?, _ path: KeyPath<Sandbox, T>) -> T {
            mine ?? ownPreset?[keyPath: path] ?? theirs ?? defaultsPreset?[keyPath: path] ?? Sandbox()[keyPath: path]
        }
        var s = Sandbox()
        s.noNewPrivileges = pick(own.noNewPrivileges, defaults.noNewPrivileges, \.noNewPrivileges)
        s.capabilities = pick(own.capabilities.map { .some($0) }, defaults.capabilities.map { .some($0) }, \.capabilities)
        s.privateNetwork = pick(own.privateNetwork, defaults.privateNetwork, \.privateNetwork)
        s.addressFamilies = pick(own.addressFamilies.map { .some($0) }, defaults.addressFamilies.map { .some($0) }, \.addressFamilies)
        s.systemCalls = pick(own.systemCalls.map { .some($0) }, defaults.systemCalls.map { .some($0) }, \.systemCalls)
        s.protectSystem = pick(own.protectSystem, defaults.protectSystem, \.protectSystem)
        s.protectHome = pick(own.protectHome, defaults.protectHome, \.protectHome)
        s.readOnlyPaths = pick(own.readOnlyPaths, defaults.readOnlyPaths, \.readOnlyPaths)
        s.readWritePaths = pick(own.readWritePaths, defaults.readWritePaths, \.readWritePaths)
        s.inaccessiblePaths = pick(own.inaccessiblePaths, defaults.inaccessiblePaths, \.inaccessiblePaths)
        s.privateTmp = pick(own.privateTmp, defaults.privateTmp, \.privateTmp)
        s.rootDirectory = own.rootDirectory ?? defaults.rootDirectory
        return sandboxFits(s, own: own, defaults: defaults, nameNode: nameNode) ? s : nil
    }

    /// What the resolved sandbox needs that a key's own reader could not
    /// check (it came from a preset, or needs several keys): reported at
    /// the service's `sandbox` key, else at its name.
    private mutating func sandboxFits(_ s: Sandbox, own: Settings, defaults: Settings, nameNode: Int) -> Bool {
        let node = own.keyNodes[.sandbox] ?? nameNode
        let fromPreset = own.sandboxPreset != nil || defaults.sandboxPreset != nil
        if s.rootDirectory != nil && (s.protectSystem != .off || s.protectHome != .off || !s.readOnlyPaths.isEmpty
                                      || !s.readWritePaths.isEmpty || !s.inaccessiblePaths.isEmpty) {
            // They would protect the host's paths, not the root's.
            error(own.keyNodes[.rootDirectory] ?? node, "'root_directory' cannot be combined with protect_system, protect_home or the path lists: they apply to the host's paths, not to those inside the root")
            return false
        }
        if fromPreset && (s.systemCalls != nil || s.addressFamilies != nil) && !sandboxSupport.kernelFiltersSystemCalls {
            error(node, "'sandbox' filters system calls, which this kernel cannot (no seccomp)")
            return false
        }
        if let bad = s.readWritePaths.first(where: { p in ["/proc", "/sys", "/dev"].contains { p == $0 || p.hasPrefix($0 + "/") } || p == "/" }) {
            // It would give back what protect_system: strict keeps read-only (/proc/sys...).
            error(own.keyNodes[.readWritePaths] ?? node, "'read_write_paths' cannot list \(bad): / and the kernel's file systems (/proc, /sys, /dev) are not given back")
            return false
        }
        if s.privateTmp, let root = s.rootDirectory, let problem = HostChecks.insideRoot(root, "/tmp", executable: false) {
            error(own.keyNodes[.privateTmp] ?? node, "'private_tmp' mounts on /tmp inside root_directory, but /tmp\(problem)")
            return false
        }
        guard checkPrivileges else { return true }
        let held = sandboxSupport.ownCapabilities
        func has(_ cap: Int) -> Bool { (held?.effective ?? 0) & (1 << UInt64(cap)) != 0 }
        if fromPreset && s.capabilities != nil && !has(8) {
            error(node, "'sandbox' cuts the handler's capabilities, which needs swinetd to have CAP_SETPCAP (to run as root)")
            return false
        }
        if s.needsMountNamespace && !has(21) {
            let keys = [s.protectSystem != .off ? "protect_system" : nil, s.protectHome != .off ? "protect_home" : nil,
                        s.privateTmp ? "private_tmp" : nil, !s.readOnlyPaths.isEmpty ? "read_only_paths" : nil,
                        !s.readWritePaths.isEmpty ? "read_write_paths" : nil,
                        !s.inaccessiblePaths.isEmpty ? "inaccessible_paths" : nil].compactMap { $0 }
            error(node, "\(keys.map { "'\($0)'" }.joined(separator: ", ")) need\(keys.count == 1 ? "s" : "") a mount namespace of the service's own, which swinetd can make only as root (CAP_SYS_ADMIN)")
            return false
        }
        if s.needsMountNamespace, let failure = sandboxSupport.viewFailure(s) {
            error(node, "the handler's view of the file system cannot be set up here: \(failure)")
            return false
        }
        if s.rootDirectory != nil && !has(18) {
            error(node, "'root_directory' needs swinetd to run as root (CAP_SYS_CHROOT)")
            return false
        }
        return true
    }

    /// `address_families`: a list of family names ([] for none). The
    /// kernel must filter system calls (seccomp), even for `check`.
    mutating func addressFamilies(_ node: Int) -> [AddressFamily]? {
        let key = ServiceKey.addressFamilies.name
        guard case .sequence(let items) = document[node].kind else {
            error(node, "'\(key)' must be a list of address families, such as [unix, inet, inet6] ([] for none)")
            return nil
        }
        var out: [AddressFamily] = []
        var ok = true
        for item in items {
            guard let name = string(item, key: key) else { ok = false; continue }
            guard let family = AddressFamily(name: name) else {
                var message = "unknown address family '\(name)'"
                if let guess = AddressFamily.suggestion(for: name) { message += "; did you mean '\(guess)'?" }
                error(item, message)
                ok = false
                continue
            }
            if out.contains(family) {
                error(item, "\(family.name) is listed twice in '\(key)'")
                ok = false
            } else {
                out.append(family)
            }
        }
        guard ok else { return nil }
        guard sandboxSupport.kernelFiltersSystemCalls else {
            error(node, "'\(key)' needs a kernel that filters system calls (seccomp), which this one does not")
            return nil
        }
        return out.sorted { $0.number < $1.number }
    }

    /// `capabilities`: a list of capabilities(7) names, [] for none, each
    /// once. Names the kernel does not know are an error even for `check`;
    /// at load (`checkPrivileges`), swinetd must also be able to cut a
    /// handler's capabilities (CAP_SETPCAP) and have each one listed to
    /// give (permitted and in its bounding set): otherwise an error, never
    /// a handler that keeps more, or fails at each connection.
    mutating func capabilities(_ node: Int) -> [Capability]? {
        let key = ServiceKey.capabilities.name
        guard case .sequence(let items) = document[node].kind else {
            error(node, "'\(key)' must be a list of capability names, such as [CAP_NET_BIND_SERVICE] ([] for none)")
            return nil
        }
        var out: [Capability] = []
        var ok = true
        let last = sandboxSupport.lastCapability
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
            } else if out.contains(c) {
                error(item, "\(name) is listed twice in '\(key)'")
                ok = false
            } else {
                out.append(c)
            }
        }
        guard ok else { return nil }
        if checkPrivileges {
            guard let own = sandboxSupport.ownCapabilities else {
                error(node, "'\(key)': swinetd cannot read its own capabilities (/proc/self/status)")
                return nil
            }
            guard own.effective & (1 << 8) != 0 else {
                error(node, "'\(key)' needs swinetd to have CAP_SETPCAP (to run as root): only then can it cut a handler's capabilities")
                return nil
            }
            let missing = out.filter { own.permitted & own.bounding & (1 << UInt64($0.number)) == 0 }
            guard missing.isEmpty else {
                error(node, "'\(key)': swinetd does not have \(missing.map(\.name).joined(separator: ", ")) itself, so it cannot give it")
                return nil
            }
        }
        return out.sorted { $0.number < $1.number }
    }

    /// `private_network`: the kernel must have network namespaces (an
    /// error even for `check`), and at load (`checkPrivileges`) swinetd
    /// must be able to make one: one is made and closed to see. Otherwise
    /// an error, never a handler with the host's network.
    mutating func privateNetwork(_ node: Int) -> Bool? {
        let key = ServiceKey.privateNetwork.name
        guard let on = bool(node, key: key) else { return nil }
        guard on else { return false }
        guard access("/proc/self/ns/net", F_OK) == 0 else {
            error(node, "'\(key)' needs network namespaces, which this kernel does not have")
            return nil
        }
        if checkPrivileges, let e = sandboxSupport.networkNamespaceFailure {
            error(node, "'\(key)': swinetd cannot make a network namespace here (\(e.text)); it needs to run as root with CAP_SYS_ADMIN")
            return nil
        }
        return true
    }
}
