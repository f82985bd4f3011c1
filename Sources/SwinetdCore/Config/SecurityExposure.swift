#if canImport(Glibc)
import Glibc
#endif

/// What a service's handlers are kept from, protection by protection, and
/// an exposure score from 0 (every protection on) to 10 (none), in the
/// spirit of `systemd-analyze security`: `swinetd check --security` prints
/// it, `status --json` carries the same figures. Each protection has a
/// weight (they add up to 10) and earns all of it, part of it (a weaker
/// setting), or nothing; the score is what is not earned.
public struct SecurityExposure: Equatable, Sendable {
    public struct Protection: Equatable, Sendable {
        /// The key (or `user`).
        public var key: String
        public var weight: Double
        public var earned: Double
        /// What it means for the handler, as set.
        public var meaning: String
        public var on: Bool { earned > 0 }
    }

    public var protections: [Protection]
    /// 10 less what is earned, to one decimal.
    public var score: Double {
        (max(0, 10 - protections.reduce(0) { $0 + $1.earned }) * 10).rounded() / 10
    }

    /// `masterUID`: whom a handler without `user` runs as (swinetd's own
    /// uid when it serves; `check` assumes root, as swinetd runs).
    public init(_ s: ServiceConfig, masterUID: uid_t = geteuid()) {
        let box = s.sandbox
        let uid = s.credentials?.uid ?? masterUID
        var out: [Protection] = []
        func add(_ key: String, _ weight: Double, _ fraction: Double, _ meaning: String) {
            out.append(Protection(key: key, weight: weight, earned: weight * fraction, meaning: meaning))
        }
        add("user", 1, uid != 0 ? 1 : 0, uid != 0 ? "runs as uid \(uid), not root" : "runs as root")
        let implied = (box.systemCalls != nil || box.addressFamilies != nil) && uid != 0
        add("no_new_privileges", 1, box.noNewPrivileges || implied ? 1 : 0, box.noNewPrivileges || implied
            ? "setuid and file-capability programs it runs gain nothing" : "a setuid program it runs gains its owner's rights")
        switch box.capabilities {
        case nil where uid != 0: add("capabilities", 1.5, 1, "none (its user's), unless a setuid program gives it some")
        case nil: add("capabilities", 1.5, 0, "every capability root has")
        case .some(let l) where l.isEmpty: add("capabilities", 1.5, 1, "none at all")
        case .some(let l):
            let risky = l.map(\.name).filter { Self.dangerousCapabilities.contains($0) }
            add("capabilities", 1.5, risky.isEmpty ? 2.0 / 3 : 0, "only " + l.map(\.name).joined(separator: ", ")
                + (risky.isEmpty ? "" : " (\(risky.joined(separator: ", ")) as good as root)"))
        }
        let dangerous = Self.dangerousCalls
        switch box.systemCalls {
        case nil: add("system_calls", 1.5, 0, "any system call")
        case .some(let f) where f.allow != nil:
            let allowed = Set((f.allow! + ["@default"]).flatMap { SystemCallGroups.expand($0) ?? [] })
                .subtracting(f.deny.flatMap { SystemCallGroups.expand($0) ?? [] })
            let open = !allowed.isDisjoint(with: dangerous)
            add("system_calls", 1.5, open ? 0.5 : 1, "only " + (f.allow! + ["@default"]).joined(separator: " ")
                + (f.deny.isEmpty ? "" : " without " + f.deny.joined(separator: " ")) + "; others: \(f.action.rawValue)"
                + (open ? " (some of mount, module, debug, reboot or privileged calls allowed)" : ""))
        case .some(let f):
            let covered = dangerous.isSubset(of: f.deny.flatMap { SystemCallGroups.expand($0) ?? [] })
            add("system_calls", 1.5, covered ? 0.5 : 0.25, "all but " + f.deny.joined(separator: " ") + "; those: \(f.action.rawValue)")
        }
        let plainFamilies = Self.plainFamilies
        switch box.addressFamilies {
        case nil: add("address_families", 1, 0, "sockets of any family (netlink, packet, ...)")
        case .some(let l) where l.isEmpty: add("address_families", 1, 1, "no socket of its own")
        case .some(let l):
            let more = l.map(\.name).filter { !plainFamilies.contains($0) }
            add("address_families", 1, more.isEmpty ? 1 : 0.5, "sockets of " + l.map(\.name).joined(separator: ", ") + " only")
        }
        add("private_network", 0.5, box.privateNetwork ? 1 : 0, box.privateNetwork ? "no network but its connection" : "the host's network")
        // A root handler that keeps CAP_SYS_ADMIN can unmount what hides
        // or protects a path: the file-system keys count only without it.
        let canUnmount = box.capabilities.map { $0.contains { $0.name == "CAP_SYS_ADMIN" } } ?? (uid == 0)
        let fs: Double = canUnmount ? 0 : 1
        let unmountNote = canUnmount ? " (but a handler with CAP_SYS_ADMIN can unmount it)" : ""
        switch box.protectSystem {
        case .off: add("protect_system", 1.5, 0, "may write wherever its user may (/usr, /etc included for root)")
        case .on: add("protect_system", 1.5, fs / 3, "/usr and /boot read-only" + unmountNote)
        case .full: add("protect_system", 1.5, fs * 2 / 3, "/usr, /boot and /etc read-only" + unmountNote)
        case .strict: add("protect_system", 1.5, fs, "everything read-only but /dev, /proc (not /proc/sys) and read_write_paths" + unmountNote)
        }
        switch box.protectHome {
        case .off: add("protect_home", 1, 0, "sees /home, /root and /run/user as its user may")
        case .readOnly: add("protect_home", 1, fs / 2, "/home, /root and /run/user read-only" + unmountNote)
        case .on: add("protect_home", 1, fs, "/home, /root and /run/user empty" + unmountNote)
        }
        add("private_tmp", 0.5, box.privateTmp ? 1 : 0, box.privateTmp ? "a /tmp and /var/tmp of each connection's own" : "the host's /tmp and /var/tmp")
        let jailed = box.rootDirectory != nil && box.rootDirectory != "/"
        add("root_directory", 0.5, jailed ? (canUnmount || uid == 0 ? 0.5 : 1) : 0,
            jailed ? "sees only \(box.rootDirectory!)" + (uid == 0 ? " (a root handler can leave a chroot)" : "") : "sees the whole file system")
        protections = out
    }

    /// Capabilities as good as root.
    static let dangerousCapabilities: Set<String> = [
        "CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_PTRACE", "CAP_SYS_RAWIO", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH",
        "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_CHOWN", "CAP_FOWNER", "CAP_NET_ADMIN", "CAP_SYS_BOOT", "CAP_BPF",
        "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_LINUX_IMMUTABLE",
    ]
    /// The groups a sandbox is for: a filter that lets any of their calls
    /// through earns half as much.
    static let dangerousCalls = Set(["@mount", "@module", "@debug", "@reboot", "@raw-io", "@swap", "@clock", "@cpu-emulation", "@privileged"]
        .flatMap { SystemCallGroups.expand($0) ?? [] })
    static let plainFamilies: Set<String> = ["unix", "inet", "inet6"]

    /// `check --security`'s lines for one service.
    public func text(service: String) -> String {
        var out = "\(service): exposure \(Self.number(score)) (0: every protection on, 10: none)\n"
        let width = protections.map(\.key.count).max() ?? 0
        for p in protections {
            out += "  \(p.earned == p.weight ? "on  " : p.on ? "part" : "off ") \(p.key)\(String(repeating: " ", count: width - p.key.count))  \(p.meaning)\n"
        }
        return out
    }

    static func number(_ d: Double) -> String {
        let tenths = Int((d * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
