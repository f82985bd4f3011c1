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

    /// `masterUID`: whom a handler without `user` runs as.
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
        case nil: add("capabilities", 1.5, 0, uid == 0 ? "every capability root has" : "its user's (none, unless a program it runs gains some)")
        case .some(let l) where l.isEmpty: add("capabilities", 1.5, 1, "none at all")
        case .some(let l): add("capabilities", 1.5, 2.0 / 3, "only " + l.map(\.name).joined(separator: ", "))
        }
        switch box.systemCalls {
        case nil: add("system_calls", 1.5, 0, "any system call")
        case .some(let f) where f.allow != nil:
            add("system_calls", 1.5, 1, "only " + (f.allow! + ["@default"]).joined(separator: " ")
                + (f.deny.isEmpty ? "" : " without " + f.deny.joined(separator: " ")) + "; others: \(f.action.rawValue)")
        case .some(let f): add("system_calls", 1.5, 0.5, "all but " + f.deny.joined(separator: " ") + "; those: \(f.action.rawValue)")
        }
        add("address_families", 1, box.addressFamilies == nil ? 0 : 1,
            box.addressFamilies.map { $0.isEmpty ? "no socket of its own" : "sockets of " + $0.map(\.name).joined(separator: ", ") + " only" }
                ?? "sockets of any family (netlink, packet, ...)")
        add("private_network", 0.5, box.privateNetwork ? 1 : 0, box.privateNetwork ? "no network but its connection" : "the host's network")
        switch box.protectSystem {
        case .off: add("protect_system", 1.5, 0, "may write wherever its user may (/usr, /etc included for root)")
        case .on: add("protect_system", 1.5, 1.0 / 3, "/usr and /boot read-only")
        case .full: add("protect_system", 1.5, 2.0 / 3, "/usr, /boot and /etc read-only")
        case .strict: add("protect_system", 1.5, 1, "everything read-only but /dev, /proc, /sys and read_write_paths")
        }
        switch box.protectHome {
        case .off: add("protect_home", 1, 0, "sees /home, /root and /run/user as its user may")
        case .readOnly: add("protect_home", 1, 0.5, "/home, /root and /run/user read-only")
        case .on: add("protect_home", 1, 1, "/home, /root and /run/user empty")
        }
        add("private_tmp", 0.5, box.privateTmp ? 1 : 0, box.privateTmp ? "a /tmp and /var/tmp of each connection's own" : "the host's /tmp and /var/tmp")
        add("root_directory", 0.5, box.rootDirectory == nil ? 0 : 1, box.rootDirectory.map { "sees only \($0)" } ?? "sees the whole file system")
        protections = out
    }

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
