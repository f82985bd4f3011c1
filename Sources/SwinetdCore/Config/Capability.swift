#if canImport(Glibc)
import Glibc
#endif

/// A Linux capability by its name in capabilities(7), as `capabilities`
/// takes it (`CAP_NET_BIND_SERVICE`), and its number.
public struct Capability: Equatable, Hashable, Sendable, Codable {
    public var number: Int

    public var name: String { Self.names[number] }

    /// capabilities(7), in number order (CAP_CHOWN is 0).
    static let names = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
        "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    public init?(name: String) {
        guard let n = Self.names.firstIndex(of: name) else { return nil }
        number = n
    }

    /// The closest known name to a wrong one, for "did you mean".
    static func suggestion(for name: String) -> String? {
        Spelling.suggestion(for: name, among: names.map { $0.lowercased() })?.uppercased()
    }

    /// The highest capability number this kernel knows
    /// (/proc/sys/kernel/cap_last_cap); nil where it cannot be read.
    static var lastKnownByKernel: Int? {
        guard case .success(let bytes) = FileBytes.read("/proc/sys/kernel/cap_last_cap", limit: 32) else { return nil }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").first.flatMap { Int($0) }
    }

    /// The set as the child takes it: bit `number` for each.
    static func mask(_ list: [Capability]) -> UInt64 {
        list.reduce(0) { $0 | (1 << UInt64($1.number)) }
    }
}
