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
}
