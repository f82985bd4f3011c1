#if canImport(Glibc)
import Glibc
#endif
import CLinux

// What each owner offers to `status` (and to SIGUSR1's lines and the
// metrics text): each fills in the part of the StatusReport it knows, and
// the loop (Supervisor.statusReport) only puts the parts together.

extension ChildTable {
    /// The handlers `status --verbose` lists (counted ones only), by service.
    func statusHandlers(now: UInt64) -> [String: [StatusReport.Handler]] {
        var handlers: [String: [StatusReport.Handler]] = [:]
        for (pid, child) in byPID where child.counted {
            handlers[child.service, default: []].append(.init(pid: pid, peer: child.peer, age: Nanoseconds.since(now, child.started)))
        }
        return handlers
    }
}

extension Listeners {
    /// A service's addresses and the connections waiting in their queues.
    func status(of service: String) -> (addresses: [String], queued: Int) {
        let owned = owned(by: service)
        return (owned.map(\.address.description), owned.reduce(0) { $0 + max(0, Int(clinux_listen_queue($1.fd))) })
    }
}

extension ServiceState {
    /// Its row: what it knows (settings, counters) with what the others
    /// know of it.
    func status(paused: String?, sockets: (addresses: [String], queued: Int), failed: [(address: String, error: String)],
                running: Int, handlers: [StatusReport.Handler]) -> StatusReport.Service {
        StatusReport.Service(
            name: name, enabled: config.enabled, paused: paused, addresses: sockets.addresses,
            failed: failed,
            running: running, maxConnections: config.maxConnections, queued: sockets.queued,
            counters: counters, handlers: handlers, security: security)
    }
}

extension MasterCounters {
    /// The report: the master's line from these counters, and `services`.
    func status(now: UInt64, table: String, handlersTotal: Int, maxChildren: Int, metricsRenders: UInt64,
                services: [StatusReport.Service]) -> StatusReport {
        StatusReport(
            pid: getpid(), uptime: Nanoseconds.since(now, startedMonotonic), table: table,
            startedAt: startedAt, lastReload: lastReload, reloadsApplied: reloadsApplied, reloadsRejected: reloadsRejected,
            handlersTotal: handlersTotal, maxChildren: maxChildren, metricsRenders: metricsRenders, services: services)
    }
}
