#if canImport(Glibc)
import Glibc
#endif

/// The handover as swinetd 0.6.0 wrote it (before each component handed
/// over its own snapshot): the master's variables field by field. Read
/// only, so that a 0.6.0 master can still be upgraded to this image (and
/// so that this image, falling back, can read what 0.6.0 handed it);
/// turned at once into today's UpgradeState. What 0.6.0 did not hand over
/// (rate and source_rate buckets, wait back-off, held connections) starts
/// afresh, as it did then.
struct UpgradeStateV1: Codable {
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
    var waiters: [Int32]
    var handlerNofile: UInt64? = nil
    var reloadWaiters: [Int32]?
    var reloadPending: Bool?
    var arguments: [String]?

    /// The same handover in today's shape: every descriptor it names, and
    /// no admission snapshot (the new image counts the handlers' client
    /// groups itself from the handlers, as 0.6.0 counted them when it
    /// adopted its own predecessor's). 0.6.0 had `upgrade`
    /// clients only with a control socket, which they came in on.
    var current: UpgradeState {
        let metrics = sockets.filter { $0.owner == "metrics" }
        return UpgradeState(
            version: version, began: began, arguments: arguments ?? [], handlerNofile: handlerNofile, pidFile: pidFile,
            counters: .init(startedAt: startedAt, startedMonotonic: startedMonotonic, reloadsApplied: reloadsApplied,
                            reloadsRejected: reloadsRejected, lastReloadAt: lastReloadAt, lastReloadResult: lastReloadResult),
            serviceCounters: counters,
            listeners: .init(
                sockets: sockets.filter { $0.owner != "metrics" }.map {
                    .init(address: $0.address, fd: $0.fd, owner: $0.owner, waitHandler: $0.waitHandler, queueHead: $0.queueHead,
                          backoffUntil: nil, nextBackoff: Listener.firstBackoff, backoffLogged: 0)
                },
                retiredWaitSockets: retiredWaitSockets.sorted { $0.key < $1.key }.map { .init(address: $0.key, pid: $0.value) },
                deferredOpens: deferredOpens.sorted { $0.key < $1.key }.map { .init(address: $0.key, service: $0.value) }),
            metrics: .init(endpoints: metrics.map { .init(address: $0.address, fd: $0.fd) }),
            children: .init(handlers: handlers.map { .init(pid: $0.pid, child: $0.child) }),
            admission: nil,
            output: .init(pipes: outputs.map { .init(fd: $0.fd, service: $0.service, pid: $0.pid) }),
            control: control.map { .init(fd: $0, reloadWaiters: reloadWaiters ?? [], upgradeWaiters: waiters) },
            reload: .init(pending: reloadPending == true))
    }
}
