#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A reload as mark and sweep (OpenBSD inetd's config()), decided as a plain
/// value before anything is touched: services are matched by name,
/// listeners by address; a shared address keeps its very socket and goes to
/// whichever service names it now; a retired service owns nothing; removed
/// addresses close before added ones open.
struct ReloadPlan: Equatable {
    var added: [String] = []
    var removed: [String] = []
    var changed: [String] = []
    var unchanged: [String] = []
    /// Every address of an enabled service, and the service it belongs to.
    var owners: [ListenAddress: String] = [:]
    /// Listening now and no longer wanted.
    var close: [ListenAddress] = []
    /// Wanted and not listening yet, in table order.
    var open: [ListenAddress] = []

    static func make(current: [String: ServiceConfig], listening: Set<ListenAddress>, table: ServiceTable) -> ReloadPlan {
        var plan = ReloadPlan()
        var opening: Set<ListenAddress> = []
        for config in table.services {
            switch current[config.name] {
            case nil: plan.added.append(config.name)
            case let old? where old == config: plan.unchanged.append(config.name)
            default: plan.changed.append(config.name)
            }
            guard config.enabled else { continue }
            for a in config.addresses {
                plan.owners[a] = config.name
                if !listening.contains(a) && opening.insert(a).inserted { plan.open.append(a) }
            }
        }
        let names = Set(table.services.map(\.name))
        plan.removed = current.keys.filter { !names.contains($0) }.sorted()
        plan.close = listening.filter { plan.owners[$0] == nil }.sorted { $0.description < $1.description }
        return plan
    }
}

/// What a start or reload did, as logged.
struct Outcome: Equatable {
    var added = 0, removed = 0, changed = 0, unchanged = 0, failed = 0
}

extension Supervisor {
    /// Moves the live table to `table` by its `ReloadPlan`.
    func apply(_ table: ServiceTable) -> Outcome {
        let plan = ReloadPlan.make(current: services.mapValues(\.config), listening: Set(listeners.byAddress.keys), table: table)
        var outcome = Outcome(added: plan.added.count, removed: plan.removed.count,
                              changed: plan.changed.count, unchanged: plan.unchanged.count)
        for name in plan.removed {
            if let s = services.removeValue(forKey: name) { dropHeld(s, reason: "removed") }
        }
        for config in table.services {
            if let s = services[config.name] {
                if s.config != config {
                    s.config = config
                    s.plan = SpawnPlan(config)
                }
            } else {
                services[config.name] = ServiceState(config)
            }
        }
        for address in plan.close { closeListener(address) }
        for (address, owner) in plan.owners {
            guard let l = listeners[address] else { continue }
            listeners.setOwner(address, owner)
            let backlog = services[owner]!.config.backlog
            if l.backlog != backlog, case .success = Socket.setBacklog(l.fd, backlog) { l.backlog = backlog }
        }
        for address in plan.open {
            let s = services[plan.owners[address]!]!
            if !openListener(address, for: s) { outcome.failed += 1 }
        }
        admission.maxChildren = table.maxChildren
        refreshAll()
        // What a large table allocated is freed now; give it back, so the
        // master's size follows the table it serves.
        clinux_malloc_trim()
        return outcome
    }

    private func openListener(_ address: ListenAddress, for s: ServiceState) -> Bool {
        switch Socket.listen(address, backlog: s.config.backlog) {
        case .success(let fd):
            listeners.insert(Listener(address: address, fd: fd, backlog: s.config.backlog, owner: s.name))
            log.event(s.name, "listening", ["address": .string(address.description)])
            return true
        case .failure(let e) where s.config.isOptional(address)
            && (e.errno == .addressFamilyNotSupported || e.errno == .addressNotAvailable):
            // A host without IPv6: the IPv4 half of `PORT` or `localhost:PORT` still serves.
            log.event(s.name, "skipped", ["address": .string(address.description), "error": .string(e.errno.text)])
            return true
        case .failure(let e):
            log.event(s.name, "error", ["address": .string(address.description), "op": .string(e.step), "error": .string(e.errno.text)])
            return false
        }
    }

    func closeListener(_ address: ListenAddress) {
        guard let l = listeners.remove(address) else { return }
        if l.watched { epoll.remove(l.fd) }
        l.watched = false
        closeDescriptor(l.fd)
        log.event(l.owner, "closed", ["address": .string(address.description)])
    }

    func closeAllListeners() {
        for address in Array(listeners.byAddress.keys) { closeListener(address) }
    }

    /// SIGHUP: re-read the file swinetd was started with, in a loader
    /// process; the result arrives through `loaded(_:)`. A HUP while one
    /// load runs is kept and starts another when it ends.
    func requestReload() {
        guard stop == nil else {
            log.event("reload", "ignored", ["reason": .string("stopping")])
            return
        }
        if loader != nil { reloadPending = true; return }
        switch TableLoadProcess.start(path: options.configPath) {
        case .success(let process):
            loader = process
            reloadStarted = monotonicNanoseconds()
            if case .failure(let e) = epoll.add(process.token) {
                log.event("reload", "error", ["op": .string("epoll_ctl"), "error": .string(e.text)])
            }
            timers.add(.loaderTimeout(pid: process.pid), at: Nanoseconds.adding(reloadStarted, TableLoadProcess.timeout))
        case .failure(let e):
            log.event("reload", "error", ["op": .string("fork"), "error": .string(e.text)])
        }
    }

    func loaderReadable(_ token: EventToken) {
        guard let process = loader, process.token == token, process.readable() else { return }
        let answered = monotonicNanoseconds()
        endLoader(process, kill: false)
        loaded(process.result(file: options.configPath), answered: answered)
    }

    func loaderTimedOut(_ pid: pid_t) {
        guard let process = loader, process.pid == pid else { return }
        endLoader(process, kill: true)
        loaded(.failure(TableErrors([Diagnostic(file: options.configPath, mark: nil, message:
            "the table loader did not finish in \(TableLoadProcess.timeout / Nanoseconds.perSecond) s")])),
               answered: monotonicNanoseconds())
    }

    /// Forgets the loader (its pid is reaped like any child's, unseen).
    func endLoader(_ process: TableLoadProcess, kill: Bool) {
        if kill { Glibc.kill(process.pid, SIGKILL) }
        epoll.remove(process.fd)
        loader = nil
    }

    /// The loader's answer: apply the table, or log why it was refused (the
    /// old table keeps serving either way). `blocked=` is the time the loop
    /// spent from the answer's arrival (decoding it included) to the end.
    private func loaded(_ result: Result<ServiceTable, TableErrors>, answered: UInt64) {
        switch result {
        case .failure(let errors):
            for line in errors.lines { log.event("reload", "error", ["diagnostic": .string(line)]) }
            log.event("reload", "rejected", ["errors": .int(errors.count)])
        case .success(let table):
            let o = apply(table)
            let now = monotonicNanoseconds()
            log.event("reload", "applied", [
                "added": .int(o.added), "removed": .int(o.removed), "changed": .int(o.changed),
                "unchanged": .int(o.unchanged), "failed": .int(o.failed),
                "duration": .milliseconds(Nanoseconds.since(now, reloadStarted)),
                "blocked": .milliseconds(Nanoseconds.since(now, answered)),
            ])
        }
        if reloadPending {
            reloadPending = false
            requestReload()
        }
    }
}
