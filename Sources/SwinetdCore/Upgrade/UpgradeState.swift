#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Everything a running master hands to the image that replaces it in
/// `swinetd upgrade`: the descriptors it keeps open across execve (listening
/// sockets, handlers' stderr pipes and connections, the control socket, the pid file and
/// its lock, the clients waiting for the answer) and what it knows of them
/// (which handler is which, the counters). Plain values in PackedCoding,
/// written to a memfd whose number the new image finds in
/// `SWINETD_UPGRADE_FD`.
struct UpgradeState: Codable {
    struct Socket: Codable {
        var address: ListenAddress
        var fd: Int32
        var owner: String
        var waitHandler: pid_t?
        var queueHead: UInt64?
    }
    struct Handler: Codable {
        var pid: pid_t
        var child: Child
    }
    struct Output: Codable {
        var fd: Int32
        var service: String
        var pid: pid_t
    }

    var version: String
    /// When the upgrade began (CLOCK_MONOTONIC is the machine's, the same
    /// across exec): the new image logs the whole duration.
    var began: UInt64
    var startedAt: Double
    var startedMonotonic: UInt64
    var reloadsApplied: UInt64
    var reloadsRejected: UInt64
    var lastReloadAt: Double?
    var lastReloadResult: String?
    var sockets: [Socket]
    var handlers: [Handler]
    var counters: [String: ServiceCounters]
    var outputs: [Output]
    var retiredWaitSockets: [ListenAddress: pid_t]
    var deferredOpens: [ListenAddress: String]
    var control: Int32?
    var pidFile: Int32?
    /// `swinetd upgrade` clients, answered by the new image.
    var waiters: [Int32]
    /// The soft RLIMIT_NOFILE swinetd was started with, for handlers (the
    /// new image finds the raised one).
    var handlerNofile: UInt64? = nil

    // Fields added since 0.6.0 are optional: a state written by an image
    // that does not know them still reads (fields are matched by name).
    /// `swinetd reload` clients waiting for an outcome (a reload asked for
    /// during the upgrade's check waits for it): the new image reloads and
    /// answers them.
    var reloadWaiters: [Int32]?
    /// A SIGHUP (or `reload`) came while the upgrade was under way.
    var reloadPending: Bool?
    /// The replaced image's command line, which it is started with again
    /// if the new image cannot serve (see UpgradeFallback).
    var arguments: [String]?

    /// Every descriptor the state names.
    var descriptors: [Int32] {
        sockets.map(\.fd) + outputs.map(\.fd) + handlers.compactMap(\.child.connection) + waiters + (reloadWaiters ?? []) + [control, pidFile].compactMap { $0 }
    }

    /// The state in a memfd, rewound for the reader; the caller closes it.
    func write() -> Result<Int32, Errno> {
        let bytes: [UInt8]
        do { bytes = try PackedCoding.encode(self) } catch { return .failure(Errno(rawValue: EINVAL)) }
        let fd = clinux_memfd("swinetd-upgrade")
        guard fd >= 0 else { return .failure(.current) }
        if case .failure(let e) = writeAll(fd, bytes) { closeDescriptor(fd); return .failure(e) }
        guard lseek(fd, 0, SEEK_SET) == 0 else { let e = Errno.current; closeDescriptor(fd); return .failure(e) }
        return .success(fd)
    }

    /// The state the old image wrote to `fd`, read from its start; the
    /// caller closes `fd` (or hands it back, see UpgradeFallback).
    static func read(_ fd: Int32) -> UpgradeState? {
        guard lseek(fd, 0, SEEK_SET) == 0 else { return nil }
        var bytes: [UInt8] = []
        // A read error leaves what was read, which then does not decode.
        if case .failure(.fileTooLarge) = readAll(fd, appendingTo: &bytes, limit: 256 << 20) { return nil }
        return try? PackedCoding.decode(UpgradeState.self, from: bytes)
    }

    /// Lets (or stops) the descriptors survive execve.
    static func inherit(_ fds: [Int32], _ yes: Bool) {
        for fd in fds { _ = fcntl(fd, F_SETFD, yes ? 0 : FD_CLOEXEC) }
    }
}
