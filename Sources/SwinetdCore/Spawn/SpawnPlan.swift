#if canImport(Glibc)
import Glibc
#endif
import CSpawn

/// Everything the C shim needs to start one service's handler, built once
/// per table load (argv, the fixed environment, groups, cwd) so that the
/// per-connection path only writes four environment values and spawns.
///
/// Owns its C memory and frees it in deinit; the master is single-threaded
/// and the spawn is synchronous, so the per-connection slots are reused.
public final class SpawnPlan {
    private var strings: [UnsafeMutablePointer<CChar>] = []
    private let argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    /// The environment without an `env_by_source` rule, then one per rule
    /// (the table's `env` with the rule's variables over it): a connection
    /// picks one by pointer, so a hundred rules cost nothing per connection.
    private var environments: [UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>] = []
    /// Where each environment's per-connection tail starts (the PROXY
    /// variables a header gave), and how many entries it may take.
    private var tailStarts: [Int] = []
    /// PROXYPEERIP, PROXYPEERPORT, then the TLV variables (ProxyFacts), each
    /// a buffer with "NAME=" in place; empty when the service takes no header.
    private var proxyBuffers: [(buffer: UnsafeMutablePointer<CChar>, valueOffset: Int, size: Int)] = []
    private static let tlvSize = 32 + ProxyHeader.longestV2Body
    /// Whether each connection picks its environment (`env_by_source` or `proxy_protocol`).
    let variesByConnection: Bool
    /// Which of `env_by_source`'s environments a client gets.
    let sourceRules: SourceRuleIndex
    private let groups: UnsafeMutablePointer<gid_t>
    private let rlimits: UnsafeMutablePointer<cspawn_rlimit>
    /// "LISTEN_PID=…" for systemd activation; the child writes its pid after the '='.
    private var listenPID: UnsafeMutablePointer<CChar>?
    /// The four connection variables: a buffer each, "NAME=" already in place.
    private var slots: [(buffer: UnsafeMutablePointer<CChar>, valueOffset: Int)] = []
    /// Room for a name, '=' and an IPv6 address or a UNIX socket's path.
    private static let slotSize = 16 + ListenAddress.longestPath + 1
    private(set) var plan = cspawn_plan()
    /// `private_network`: the service's namespace.
    private let networkNamespace: NetworkNamespace?
    /// `address_families`: the service's seccomp filter, or why it could
    /// not be built (then it is tried again at each spawn, which fails
    /// meanwhile: never a handler without it).
    private var seccompFilter: Result<SeccompFilter, Errno>?
    private let addressFamilies: [AddressFamily]?
    /// The service's mount namespace and root directory, when it has them.
    private let fileSystemView: FileSystemView?
    /// Which step of the view failed at the last spawn ("read_only_paths
    /// /srv/x"), for the log's refusal line.
    private(set) var viewFailure: String?
    private let systemCalls: SystemCalls?

    init(_ service: ServiceConfig) {
        argv = .allocate(capacity: service.argv.count + 1)
        for (i, arg) in service.argv.enumerated() { argv[i] = Self.own(arg, &strings) }
        argv[service.argv.count] = nil

        let activation = service.activation == .systemd
        for name in HandlerEnvironment.connectionVariables(for: service) {
            slots.append(Self.variableBuffer(name, size: Self.slotSize))
        }
        if service.admission.proxy != nil {
            for name in ProxyFacts.peerNames { let b = Self.variableBuffer(name, size: Self.slotSize); proxyBuffers.append((b.buffer, b.valueOffset, Self.slotSize)) }
            for name in ProxyFacts.tlvNames { let b = Self.variableBuffer(name, size: Self.tlvSize); proxyBuffers.append((b.buffer, b.valueOffset, Self.tlvSize)) }
        }
        if activation { listenPID = Self.own("LISTEN_PID=000000000000", &strings) }
        variesByConnection = service.admission.proxy != nil || !service.admission.envBySource.isEmpty
        sourceRules = SourceRuleIndex(service.admission.envBySource)
        let base = HandlerEnvironment.fixedEntries(for: service)
        for rule in [nil] + service.admission.envBySource.map(Optional.some) {
            var fixed = base
            if let rule {
                // The rule's variables over the table's (a name once: getenv takes the first).
                let names = Set(rule.env.map(\.name))
                fixed.removeAll { names.contains(String($0.prefix { $0 != "=" })) }
                fixed.insert(contentsOf: rule.env.map { "\($0.name)=\($0.value)" }, at: 0)
            }
            let tail = fixed.count + slots.count + (activation ? 1 : 0)
            let envp = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: tail + proxyBuffers.count + 1)
            for (i, entry) in fixed.enumerated() { envp[i] = Self.own(entry, &strings) }
            for (j, slot) in slots.enumerated() { envp[fixed.count + j] = slot.buffer }
            if activation { envp[fixed.count + slots.count] = listenPID }
            envp[tail] = nil
            environments.append(envp)
            tailStarts.append(tail)
        }

        let creds = service.credentials
        let groupList = creds?.groups ?? []
        groups = .allocate(capacity: max(groupList.count, 1))
        for (i, g) in groupList.enumerated() { groups[i] = g }

        plan.path = UnsafePointer(Self.own(service.exec, &strings))
        plan.argv = UnsafePointer(argv)
        plan.envp = UnsafePointer(environments[0])
        plan.cwd = UnsafePointer(Self.own(service.cwd, &strings))
        plan.change_credentials = creds == nil ? 0 : 1
        plan.uid = creds?.uid ?? 0
        plan.gid = creds?.gid ?? 0
        plan.groups = UnsafePointer(groups)
        plan.ngroups = groupList.count

        let limits = service.handlerLimits
        rlimits = .allocate(capacity: max(limits.limits.count, 1))
        for (i, l) in limits.limits.enumerated() { rlimits[i] = cspawn_rlimit(resource: l.resource, value: l.value) }
        plan.rlimits = UnsafePointer(rlimits)
        plan.nrlimits = limits.limits.count
        plan.set_nice = limits.nice == nil ? 0 : 1
        plan.nice = Int32(limits.nice ?? 0)
        plan.set_umask = limits.umask == nil ? 0 : 1
        plan.umask = limits.umask ?? 0
        plan.no_new_privs = service.sandbox.noNewPrivileges ? 1 : 0
        plan.set_capabilities = service.sandbox.capabilities == nil ? 0 : 1
        plan.capabilities = Capability.mask(service.sandbox.capabilities ?? [])
        networkNamespace = service.sandbox.privateNetwork ? NetworkNamespace() : nil
        plan.private_network = networkNamespace == nil ? 0 : 1
        plan.network_namespace = -1
        fileSystemView = FileSystemView(service.sandbox)
        plan.set_mount_namespace = fileSystemView?.hasNamespace == true ? 1 : 0
        plan.mount_namespace = -1
        plan.private_tmp = service.sandbox.privateTmp ? 1 : 0
        plan.root_directory = -1
        addressFamilies = service.sandbox.addressFamilies
        systemCalls = service.sandbox.systemCalls
        seccompFilter = nil
        buildSeccompFilter()
        plan.systemd_activation = activation ? 1 : 0
        plan.listen_pid = listenPID.map { $0 + "LISTEN_PID=".utf8.count }
    }

    deinit {
        for s in strings { free(s) }
        for slot in slots { slot.buffer.deallocate() }
        for b in proxyBuffers { b.buffer.deallocate() }
        for e in environments { e.deallocate() }
        argv.deallocate()
        groups.deallocate()
        rlimits.deallocate()
    }

    private func buildSeccompFilter() {
        guard addressFamilies != nil || systemCalls != nil else { return }
        seccompFilter = SeccompFilter.build(families: addressFamilies, systemCalls: systemCalls)
        if case .success(let filter)? = seccompFilter {
            plan.seccomp_filter = UnsafeRawPointer(filter.program.baseAddress)
            plan.seccomp_length = UInt16(filter.instructions)
        }
    }

    /// A buffer of `size` bytes holding "NAME=", its value written after.
    private static func variableBuffer(_ name: String, size: Int) -> (buffer: UnsafeMutablePointer<CChar>, valueOffset: Int) {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
        buffer.initialize(repeating: 0, count: size)
        let prefix = Array((name + "=").utf8CString.dropLast())
        for (k, c) in prefix.enumerated() { buffer[k] = c }
        return (buffer, prefix.count)
    }

    /// The environment of the next spawn: `rule`'s (an index into
    /// `env_by_source`, nil for none), with the PROXY variables of `proxy`
    /// (written with the balancer's address text and port) after it.
    func setEnvironment(rule: Int?, proxy: ProxyFacts?, balancerIP: UnsafePointer<CChar>?, balancerPort: UInt16) {
        let index = rule.map { $0 + 1 } ?? 0
        let envp = environments[index]
        var at = tailStarts[index]
        if let proxy, proxyBuffers.count == 6, let balancerIP {
            let ip = proxyBuffers[0]
            strncpy(ip.buffer + ip.valueOffset, balancerIP, ip.size - ip.valueOffset - 1)
            envp[at] = ip.buffer; at += 1
            let port = proxyBuffers[1]
            write(String(balancerPort).utf8, to: port)
            envp[at] = port.buffer; at += 1
            // Each TLV variable only when the header sent it (no array made per connection).
            for i in 0..<ProxyFacts.tlvNames.count {
                guard let value = proxy.tlv(i) else { continue }
                let b = proxyBuffers[2 + i]
                write(value, to: b)
                envp[at] = b.buffer; at += 1
            }
        }
        envp[at] = nil
        plan.envp = UnsafePointer(envp)
    }

    private func write<C: Collection>(_ bytes: C, to b: (buffer: UnsafeMutablePointer<CChar>, valueOffset: Int, size: Int)) where C.Element == UInt8 {
        var i = b.valueOffset
        for byte in bytes where i < b.size - 1 {
            b.buffer[i] = CChar(bitPattern: byte)
            i += 1
        }
        b.buffer[i] = 0
    }

    private static func own(_ s: String, _ list: inout [UnsafeMutablePointer<CChar>]) -> UnsafeMutablePointer<CChar> {
        let p = strdup(s)!
        list.append(p)
        return p
    }

    /// Where connection variable `index` (0 remote IP, 1 remote port, 2 local
    /// IP, 3 local port) takes its value, and how many bytes fit.
    func slot(_ index: Int) -> (UnsafeMutablePointer<CChar>, Int) {
        let s = slots[index]
        return (s.buffer + s.valueOffset, Self.slotSize - s.valueOffset)
    }

    /// Writes a port in decimal into slot `index`.
    func setPort(_ index: Int, _ port: UInt16) { setNumber(index, UInt32(port)) }

    /// Writes `number` in decimal into slot `index`.
    func setNumber(_ index: Int, _ number: UInt32) {
        let (p, _) = slot(index)
        var digits: (UInt64, UInt64) = (0, 0)
        var n = number, count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat { d[count] = UInt8(48 + n % 10); n /= 10; count += 1 } while n > 0
            for i in 0..<count { p[i] = CChar(bitPattern: d[count - 1 - i]) }
        }
        p[count] = 0
    }

    /// Takes descriptors 3 and 4 as the spawn's slots and notes which signals
    /// a child must reset (see cspawn_init). Call first thing in main, before
    /// anything opens a descriptor; later calls do nothing.
    public static func reserveSlots() throws(Errno) {
        if cspawn_init() != 0 { throw Errno.current }
    }

    /// Starts the handler with `connection` on 0 and 1 and `stderr` on 2;
    /// `private_network`'s namespace and the file-system view are made
    /// first if they are not yet (their failure is the spawn's, with no
    /// child made).
    /// `discard`: bytes at the start of `connection` the child drops first (a PROXY header).
    func spawn(connection: Int32, stderr: Int32, discard: Int = 0) -> cspawn_result {
        plan.discard = discard
        if case .failure? = seccompFilter { buildSeccompFilter() }
        if case .failure(let e)? = seccompFilter {
            return cspawn_result(pid: -1, stage: Int32(CSPAWN_STAGE_SECCOMP.rawValue), error: e.rawValue, discarded: 0)
        }
        if let ns = networkNamespace {
            if let e = ns.make() {
                return cspawn_result(pid: -1, stage: Int32(CSPAWN_STAGE_PRIVATE_NETWORK.rawValue), error: e.rawValue, discarded: 0)
            }
            plan.network_namespace = ns.fd
        }
        if let view = fileSystemView {
            viewFailure = nil
            if let failure = view.make() {
                viewFailure = failure.step
                return cspawn_result(pid: -1, stage: Int32(failure.stage.rawValue), error: failure.error.rawValue, discarded: 0)
            }
            plan.mount_namespace = view.namespace
            plan.root_directory = view.root
        }
        return withUnsafePointer(to: &plan) { cspawn_spawn($0, connection, stderr) }
    }
}
