#if canImport(Glibc)
import Glibc
import CLinux
#endif

/// What a reload job decided for the other components, one item at a
/// time, in the order the loop must apply them (services added and
/// changed, kept listeners given to their owners, services removed, then
/// addresses closed before any opens, so a port moving between services
/// is free when it is bound again).
enum ReloadEffect: Equatable {
    /// A service new to the live table.
    case addService(ServiceConfig)
    /// A live service's settings are these now.
    case changeService(ServiceConfig)
    /// The table's `max_children`.
    case setMaxChildren(Int)
    /// A kept socket goes to the service that names it now (a UNIX
    /// socket's file takes that service's mode and owner).
    case giveAddress(ListenAddress, to: String)
    /// A kept socket takes its service's backlog.
    case setBacklog(ListenAddress, Int)
    /// A service the table no longer names leaves the live table.
    case removeService(String)
    /// Every service watched or not as its state says now (the table's
    /// services and limits are all in place).
    case refreshAll
    /// No service names this address any more.
    case closeAddress(ListenAddress)
    /// A service names an address that is not listening yet.
    case openAddress(ListenAddress, for: String)
}

/// The live table as the running job reads it.
private struct LiveTable: ReloadView {
    unowned let supervisor: Supervisor

    var serviceNames: [String] { Array(supervisor.services.keys) }
    func config(of service: String) -> ServiceConfig? { supervisor.services[service]?.config }
    var listening: Set<ListenAddress> { Set(supervisor.listeners.byAddress.keys) }
    func listener(at address: ListenAddress) -> (owner: String, backlog: Int)? {
        supervisor.listeners[address].map { ($0.owner, $0.backlog) }
    }
}

extension Supervisor {
    /// One step of the running job; at the start, `budget` may be unbounded.
    func stepReloadJob(budget: UInt64 = ReloadJob.stepBudget) {
        guard let job = reload.stepJob(budget: budget, clock: monotonicNanoseconds, view: LiveTable(supervisor: self), apply: apply) else { return }
        finish(job)
    }

    /// Carries out one effect; false for an address that did not open.
    private func apply(_ effect: ReloadEffect) -> Bool {
        switch effect {
        case .addService(let config):
            services[config.name] = ServiceState(config)
            admission.added(config.name, config.admission, now: now)
        case .changeService(let config):
            guard let s = services[config.name] else { break }
            let previous = s.config.socketFile
            s.change(to: config)
            admission.changed(s.name, config.admission, now: now)
            if previous != config.socketFile { applySocketFile(of: s, previousOwner: previous.owner) }
            // An address it no longer names is no longer its failure.
            unopened.keep(only: Set(config.addresses), of: s.name)
            // A changed service (a fixed handler, say) gets its sockets back at once.
            listeners.endBackoff(ownedBy: s.name)
            refresh(s)
        case .setMaxChildren(let maxChildren):
            admission.setMaxChildren(maxChildren)
        case .giveAddress(let address, let owner):
            guard let l = listeners[address], let s = services[owner] else { break }
            if l.owner != owner, let path = address.path {
                // A kept socket file moving to another service takes that service's mode and owner.
                setSocketFile(l, path: path, s.config.socketFile, previousOwner: services[l.owner]?.config.socketFile.owner, service: owner)
            }
            listeners.setOwner(address, owner)
        case .setBacklog(let address, let backlog):
            listeners.setBacklog(address, backlog)
        case .removeService(let name):
            // Its running handlers stay counted (a service added back
            // under the name counts them); its rate buckets go.
            if let s = services.removeValue(forKey: name) { serviceRemoved(s) }
            unopened.forget(name)
        case .refreshAll:
            refreshAll()
        case .closeAddress(let address):
            closeListener(address)
        case .openAddress(let address, let owner):
            guard let s = services[owner] else { break }
            guard openListener(address, for: s) else { return false }
            refresh(s)
        }
        return true
    }

    /// A kept UNIX socket's file gets the table's new `socket_mode`,
    /// `socket_user` and `socket_group` (its socket stays open throughout);
    /// one no longer set gives the file back to swinetd's own user or group.
    private func applySocketFile(of s: ServiceState, previousOwner: uid_t?) {
        for l in listeners.owned(by: s.name) {
            if let path = l.address.path { setSocketFile(l, path: path, s.config.socketFile, previousOwner: previousOwner, service: s.name) }
        }
    }

    private func setSocketFile(_ l: Listener, path: String, _ file: SocketFile, previousOwner: uid_t?, service: String) {
        if case .failure(let e) = UnixSocketFile.setOwnerAndMode(socket: l.fd, path: path, mode: mode_t(file.mode),
                                                                 owner: file.owner ?? geteuid(), group: file.group ?? getegid(), previousOwner: previousOwner) {
            log.event(.error, service, "error", ["address": .string(path), "op": .string(e.step), "error": .string(e.errno.text)])
        }
    }

    private func finish(_ job: ReloadJob) {
        guard !job.malformed else {
            let errors = TableErrors([Diagnostic(file: options.configPath, mark: nil, message: "the table loader's answer is malformed")])
            if job.purpose == .reload { return rejected(errors) }
            for line in errors.lines { log.event(.error, "swinetd", "error", ["diagnostic": .string(line)]) }
            reload.recordStart(Outcome(failed: 1))
            return
        }
        // A wait handler that held an old socket may have exited meanwhile.
        openDeferred()
        refreshAll()
        // What a large table allocated is freed now; give it back, so the
        // master's size follows the table it serves.
        clinux_malloc_trim()
        let o = job.outcome
        let metricsFailed = applyMetrics(job.metrics)
        guard job.purpose == .reload else {
            // Argument parsing, the table's first load and the runtime's
            // start touched code the loop never runs again: let go of those
            // pages (the loop's own fault back in from the page cache), so
            // the idle master's size is what serving needs.
            _ = clinux_release_file_pages()
            var started = o
            started.failed += metricsFailed
            reload.recordStart(started)
            return
        }
        log.event(.notice, "reload", "applied", [
            "added": .int(o.added), "removed": .int(o.removed), "changed": .int(o.changed),
            "unchanged": .int(o.unchanged), "failed": .int(o.failed),
            "duration": .milliseconds(Nanoseconds.since(job.lastStepEnded, reload.beganAt)),
            "blocked": .milliseconds(job.blocked), "longest": .milliseconds(job.longest),
        ])
        let failed = o.failed + metricsFailed
        var summary = "applied added=\(o.added) removed=\(o.removed) changed=\(o.changed) unchanged=\(o.unchanged)"
        if failed > 0 { summary += " failed=\(failed)" }
        masterCounters.reloadApplied(at: StatusReport.now(), summary)
        answerReloadWaiters(exit: failed == 0 ? 0 : 1, output: summary + (failed > 0 ? " (see the log for the addresses that did not open)\n" : "\n"))
        serviceManager?.ready(status: "reload \(summary); serving \(services.count) services")
        reloadEnded()
    }
}
