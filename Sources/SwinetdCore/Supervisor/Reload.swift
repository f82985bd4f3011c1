#if canImport(Glibc)
import Glibc
#endif

/// SIGHUP's path: a loader process reads the table, its answer becomes a
/// ReloadJob, and the job puts the new table in place step by step.
extension Supervisor {
    /// Re-reads the file swinetd was started with, in a loader process. A
    /// HUP while a load or a job runs is kept and starts another afterwards.
    func requestReload() {
        guard stop == nil else {
            log.event(.notice, "reload", "ignored", ["reason": .string("stopping")])
            return
        }
        if loader != nil || reloadJob != nil || upgrade.check != nil { reloadPending = true; return }
        reloadStarted = monotonicNanoseconds()
        serviceManager?.reloading(status: "reloading \(options.configPath)")
        switch TableLoadProcess.start(path: options.configPath, current: services.mapValues(\.config)) {
        case .success(let process):
            loader = process
            loadsStarted += 1
            if case .failure(let e) = epoll.add(process.token) {
                log.event(.error, "reload", "error", ["op": .string("epoll_ctl"), "error": .string(e.text)])
            }
            timers.add(.loaderTimeout(pid: process.pid), at: Nanoseconds.adding(reloadStarted, TableLoadProcess.timeout))
        case .failure(let e):
            log.event(.error, "reload", "error", ["op": .string("fork"), "error": .string(e.text)])
            serviceManager?.ready(status: "reload failed: fork: \(e.text)")
            loadsStarted += 1
            answerReloadWaiters(exit: 1, output: "swinetd could not start the table loader: \(e.text)\n")
        }
    }

    func loaderReadable(_ token: EventToken) {
        guard let process = loader, process.token == token, process.readable() else { return }
        endLoader(process, kill: false)
        switch process.answer(file: options.configPath) {
        case .failure(let errors): rejected(errors)
        case .success(let stream):
            reloadJob = ReloadJob(stream, purpose: .reload)
            stepReloadJob()
        }
    }

    func loaderTimedOut(_ pid: pid_t) {
        guard let process = loader, process.pid == pid else { return }
        endLoader(process, kill: true)
        rejected(TableErrors([Diagnostic(file: options.configPath, mark: nil, message:
            "the table loader did not finish in \(TableLoadProcess.timeout / Nanoseconds.perSecond) s")]))
    }

    /// Forgets the loader (its pid is reaped like any child's, unseen).
    func endLoader(_ process: TableLoadProcess, kill: Bool) {
        if kill { Glibc.kill(process.pid, SIGKILL) }
        epoll.remove(process.fd)
        loader = nil
    }

    /// A table with any error changes nothing: the old one keeps serving.
    func rejected(_ errors: TableErrors) {
        for line in errors.lines { log.event(.error, "reload", "error", ["diagnostic": .string(line)]) }
        log.event(.error, "reload", "rejected", ["errors": .int(errors.count)])
        masterCounters.reloadsRejected &+= 1
        masterCounters.lastReload = (StatusReport.now(), "rejected errors=\(errors.count)")
        answerReloadWaiters(exit: 1, output: errors.lines.map { $0 + "\n" }.joined())
        serviceManager?.ready(status: "reload rejected (\(errors.count) error\(errors.count == 1 ? "" : "s")); serving the previous table")
        reloadEnded()
    }

    func reloadEnded() {
        if reloadPending {
            reloadPending = false
            requestReload()
        }
    }

    // MARK: Listeners

    func openListener(_ address: ListenAddress, for s: ServiceState) -> Bool {
        // A wait handler still has the old socket of this address: binding
        // a new one underneath it would split its datagrams (UDP) or
        // connections between the two. It opens when that handler exits.
        if let pid = listeners.retiredHolder(of: address), children.byPID[pid] != nil {
            listeners.deferOpen(address, for: s.name)
            log.event(.notice, s.name, "deferred", ["address": .string(address.description), "until-exit-of": .int(Int(pid))])
            return true
        }
        let file = Socket.FileMode(mode: mode_t(s.config.socketFile.mode), owner: s.config.socketFile.owner, group: s.config.socketFile.group)
        if let handed = inherited.take(address) {
            // systemd's socket is made ours (non-blocking, this backlog); the
            // replaced image's is exactly as it left it (a wait handler may
            // hold it blocking).
            if handed.origin == "systemd" {
                _ = fcntl(handed.fd, F_SETFL, fcntl(handed.fd, F_GETFL) | O_NONBLOCK)
                if address.transport == .tcp { _ = Socket.setBacklog(handed.fd, s.config.backlog) }
            }
            listeners.insert(Listener(address: address, fd: handed.fd, backlog: s.config.backlog, owner: s.name))
            s.unopened[address] = nil
            log.event(.notice, s.name, "listening", ["address": .string(address.description), "from": .string(handed.origin)])
            return true
        }
        // Said once, not again at each retry of an address that did not open.
        if s.unopened[address] == nil, let path = address.path, let exposed = SocketFolders.exposure(of: path) {
            log.event(.warning, s.name, "exposed", ["address": .string(path), "folder": .string(exposed.folder), "reason": .string(exposed.reason)])
        }
        switch Socket.listen(address, backlog: s.config.backlog, file: file) {
        case .success(let fd):
            listeners.insert(Listener(address: address, fd: fd, backlog: s.config.backlog, owner: s.name))
            s.unopened[address] = nil
            log.event(.notice, s.name, "listening", ["address": .string(address.description)])
            return true
        case .failure(let e) where s.config.isOptional(address)
            && (e.errno == .addressFamilyNotSupported || e.errno == .addressNotAvailable):
            // A host without IPv6: the IPv4 half of `PORT` or `localhost:PORT` still serves.
            s.unopened[address] = nil
            log.event(.warning, s.name, "skipped", ["address": .string(address.description), "error": .string(e.errno.text)])
            return true
        case .failure(let e):
            s.unopened[address] = e.text
            log.event(.error, s.name, "error", ["address": .string(address.description), "op": .string(e.step), "error": .string(e.text)])
            scheduleUnopenedRetry(s)
            return false
        }
    }

    func closeListener(_ address: ListenAddress) {
        guard let l = listeners.close(address, fileOwner: { self.services[$0]?.config.socketFile.owner }) else { return }
        log.event(.notice, l.owner, "closed", ["address": .string(address.description)])
    }

    func closeAllListeners() {
        for address in Array(listeners.byAddress.keys) { closeListener(address) }
    }
}
