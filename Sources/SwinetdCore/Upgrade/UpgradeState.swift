#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Everything a running master hands to the image that replaces it in
/// `swinetd upgrade`: each component's own snapshot (a Codable value the
/// component defines and adopts back, so that what a component keeps is
/// handed over by construction, never by a list here that can forget a
/// field), and the master's few things of its own. The descriptors the
/// snapshots name stay open across execve. Plain values in PackedCoding,
/// written to a memfd whose number the new image finds in
/// `SWINETD_UPGRADE_FD`.
///
/// Left out on purpose, as state about the log rather than about who is
/// served (each starts afresh in the new image, as at start; swinetd(8)
/// says so): the counts of refusals folded into a summary line not yet
/// written, the once-only flag of the resource error's line, each stderr
/// pipe's line budget, and the metrics socket's scrape budget (its scrapers
/// get one burst more; no client can ask for an upgrade).
struct UpgradeState: Codable {
    /// This layout's number; 0.6.0's had none (UpgradeStateV1). Fields are
    /// matched by name, so a state without this field is not this layout.
    /// 3 added what an older reader would drop unsaid (connections waiting
    /// for a PROXY header or behind a held one, penalties): 0.7.0, which
    /// reads 2 only, refuses it, and a downgrade fails its trial run.
    static let currentFormat = 3
    /// The formats this image reads: 2 lacks only optional fields.
    static let readableFormats = 2...3

    var format = Self.currentFormat
    var version: String
    /// When the upgrade began (CLOCK_MONOTONIC is the machine's, the same
    /// across exec): the new image logs the whole duration.
    var began: UInt64
    /// The replaced image's command line, which it is started with again
    /// if the new image cannot serve (see UpgradeFallback).
    var arguments: [String]
    /// The soft RLIMIT_NOFILE swinetd was started with, for handlers (the
    /// new image finds the raised one).
    var handlerNofile: UInt64?
    /// The pid file, locked.
    var pidFile: Int32?

    var counters: MasterCounters.Snapshot
    var serviceCounters: [String: ServiceCounters]
    var listeners: Listeners.Snapshot
    var metrics: MetricsServer.Snapshot
    var children: Children.Snapshot
    /// nil when read from 0.6.0, which did not hand admission over.
    var admission: AdmissionControl.Snapshot?
    var output: HandlerOutput.Snapshot
    var control: ControlServer.Snapshot?
    var reload: Reload.Snapshot
    /// Load balancers' connections waiting for their PROXY header (absent
    /// from an older image's state).
    var proxyHeaders: PendingHeaders.Snapshot?

    /// Every descriptor the state names: the listening sockets, the
    /// master's copies of handlers' connections, the held connections,
    /// the stderr pipes, the control socket and its waiting clients, the
    /// pid file.
    var descriptors: [Int32] {
        var fds = listeners.sockets.map(\.fd) + metrics.endpoints.map(\.fd)
        fds += children.handlers.compactMap(\.child.connection)
        fds += admission?.services.compactMap(\.held?.fd) ?? []
        fds += admission?.services.flatMap { ($0.queued ?? []).map(\.fd) } ?? []
        fds += proxyHeaders?.items.map(\.fd) ?? []
        fds += output.pipes.map(\.fd)
        if let c = control { fds += [c.fd] + c.reloadWaiters + c.upgradeWaiters }
        if let pidFile { fds.append(pidFile) }
        return fds
    }

    /// The listening sockets, by address, for the pool the new image's
    /// table takes from instead of binding.
    var sockets: [(address: ListenAddress, fd: Int32)] {
        listeners.sockets.map { ($0.address, $0.fd) } + metrics.endpoints.map { ($0.address, $0.fd) }
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

    /// The state the old image wrote to `fd`, read from its start, in this
    /// layout or 0.6.0's; the caller closes `fd` (or hands it back, see
    /// UpgradeFallback).
    static func read(_ fd: Int32) -> UpgradeState? {
        guard lseek(fd, 0, SEEK_SET) == 0 else { return nil }
        var bytes: [UInt8] = []
        // A read error leaves what was read, which then does not decode.
        if case .failure(.fileTooLarge) = readAll(fd, appendingTo: &bytes, limit: 256 << 20) { return nil }
        return decode(bytes)
    }

    static func decode(_ bytes: [UInt8]) -> UpgradeState? {
        if let state = try? PackedCoding.decode(UpgradeState.self, from: bytes) {
            return readableFormats.contains(state.format) ? state : nil
        }
        return (try? PackedCoding.decode(UpgradeStateV1.self, from: bytes))?.current
    }

    /// Lets (or stops) the descriptors survive execve.
    static func inherit(_ fds: [Int32], _ yes: Bool) {
        for fd in fds { _ = fcntl(fd, F_SETFD, yes ? 0 : FD_CLOEXEC) }
    }
}
