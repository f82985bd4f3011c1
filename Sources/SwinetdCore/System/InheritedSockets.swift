#if canImport(Glibc)
import Glibc
#endif

/// Listening sockets swinetd is handed instead of binding them: by systemd
/// (socket activation: `LISTEN_PID` is this process and `LISTEN_FDS` counts
/// descriptors from 3, sd_listen_fds(3)), or by the swinetd it replaces in
/// an upgrade (`SWINETD_UPGRADE_FD`, see UpgradeState). Taken first thing
/// in main, before descriptors 3 and 4 become the spawn's slots: those two
/// are moved higher, and the variables are removed so that nothing started
/// later (a re-exec included) sees them again.
public enum InheritedDescriptors {
    /// systemd's sockets, each with its name from `LISTEN_FDNAMES`.
    public nonisolated(unsafe) private(set) static var activated: [(fd: Int32, name: String)] = []
    /// The upgrade's state (a memfd), when this image replaces another.
    public nonisolated(unsafe) private(set) static var upgradeState: Int32?
    /// The same memfd, kept until this image serves: handed back to the
    /// replaced image if it cannot (see UpgradeFallback).
    nonisolated(unsafe) private(set) static var handedState: Int32?
    /// The replaced image's binary (a descriptor), to exec again if this
    /// image cannot serve.
    nonisolated(unsafe) private(set) static var fallbackBinary: Int32?
    /// Why the image an upgrade started could not serve: this image is the
    /// replaced one again, and says so.
    nonisolated(unsafe) private(set) static var failedUpgrade: String?

    public static func take() {
        let pid = getenv("LISTEN_PID").flatMap { pid_t(String(cString: $0)) }
        let count = getenv("LISTEN_FDS").flatMap { Int32(String(cString: $0)) } ?? 0
        let names = getenv("LISTEN_FDNAMES").map { String(cString: $0).split(separator: ":", omittingEmptySubsequences: false).map(String.init) } ?? []
        if pid == getpid(), count > 0, count < 65536 {
            for i in 0..<count {
                let fd = keep(3 + i)
                if fd >= 0 { activated.append((fd, Int(i) < names.count ? names[Int(i)] : "unknown")) }
            }
        }
        unsetenv("LISTEN_PID"); unsetenv("LISTEN_FDS"); unsetenv("LISTEN_FDNAMES")
        if let value = getenv("SWINETD_UPGRADE_FD").flatMap({ Int32(String(cString: $0)) }) {
            let fd = keep(value)
            if fd >= 0 { upgradeState = fd; handedState = fd }
        }
        if let value = getenv("SWINETD_UPGRADE_FALLBACK_FD").flatMap({ Int32(String(cString: $0)) }) {
            let fd = keep(value)
            if fd >= 0 { fallbackBinary = fd }
        }
        failedUpgrade = getenv("SWINETD_UPGRADE_FAILED").map { String(cString: $0) }
        unsetenv("SWINETD_UPGRADE_FD"); unsetenv("SWINETD_UPGRADE_FALLBACK_FD"); unsetenv("SWINETD_UPGRADE_FAILED")
    }

    /// This image serves: the state and the old binary are no longer needed.
    static func upgradeDone() {
        if let fd = handedState { closeDescriptor(fd) }
        if let fd = fallbackBinary { closeDescriptor(fd) }
        handedState = nil
        fallbackBinary = nil
        failedUpgrade = nil
    }

    /// `fd` made close-on-exec, and moved off 3 and 4.
    private static func keep(_ fd: Int32) -> Int32 {
        guard fcntl(fd, F_GETFD) >= 0 else { return -1 }
        guard fd == 3 || fd == 4 else {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            return fd
        }
        let moved = fcntl(fd, F_DUPFD_CLOEXEC, 5)
        Glibc.close(fd)
        return moved
    }

    /// The upgrade's state was read: it no longer counts as inherited.
    static func upgradeStateRead() { upgradeState = nil }
}

/// The master's pool of handed-over sockets while it opens the table's
/// addresses: each address takes the socket bound to it, if there is one,
/// and what no address took is closed after start-up, with a log line.
struct InheritedSockets {
    struct Socket {
        var fd: Int32
        var address: ListenAddress?
        /// `systemd` (with its LISTEN_FDNAMES name) or `upgrade`.
        var origin: String
    }
    private(set) var remaining: [Socket] = []

    init(activated: [(fd: Int32, name: String)]) {
        remaining = activated.map { Socket(fd: $0.fd, address: SwinetdCore.Socket.boundAddress($0.fd), origin: "systemd") }
    }

    mutating func add(_ fd: Int32, _ address: ListenAddress, origin: String) {
        remaining.append(Socket(fd: fd, address: address, origin: origin))
    }

    /// The socket bound to `address`, taken out of the pool.
    mutating func take(_ address: ListenAddress) -> Socket? {
        guard let i = remaining.firstIndex(where: { $0.address == address }) else { return nil }
        return remaining.remove(at: i)
    }

    mutating func takeAll() -> [Socket] {
        defer { remaining = [] }
        return remaining
    }
}
