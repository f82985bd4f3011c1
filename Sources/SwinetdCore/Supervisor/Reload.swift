#if canImport(Glibc)
import Glibc
#endif

/// The reload's own state: the loader process reading the table, the job
/// putting its answer in place, a HUP kept for afterwards, and what loads
/// so far have begun and done. Only its verbs change it; what a load or a
/// job means for the listeners, the services and the waiting clients the
/// loop carries out (see ReloadEffect and the extension below).
final class Reload {
    /// The loader process reading the table, while it reads.
    private(set) var loader: TableLoadProcess?
    /// The job putting a loaded table in place, while it steps.
    private(set) var job: ReloadJob?
    /// A HUP that came while a load, a job or an upgrade's check ran: it
    /// starts another load once that is done.
    private(set) var pending = false
    /// When the last load began (monotonic), for the `applied` line's duration.
    private(set) var beganAt: UInt64 = 0
    /// Table loads begun since start, to tell which a `reload` waits for.
    private(set) var loadsBegun: UInt64 = 0
    /// What the start's job did (start runs it to the end at once).
    private(set) var startOutcome = Outcome()

    /// A load or a job is under way (a HUP now is kept for afterwards).
    var isBusy: Bool { loader != nil || job != nil }

    func keepPending() { pending = true }

    /// Whether a HUP was kept; it is taken (the caller starts the load).
    func takePending() -> Bool {
        defer { pending = false }
        return pending
    }

    /// Forks a loader for the table at `path` (`current`: the live table,
    /// which it compares against); counted as a load begun, even when the
    /// fork fails (its `reload` waiters get that failure as its outcome).
    func beginLoad(path: String, current: [String: ServiceConfig], at now: UInt64) -> Result<TableLoadProcess, Errno> {
        beganAt = now
        defer { loadsBegun += 1 }
        let started = TableLoadProcess.start(path: path, current: current)
        if case .success(let process) = started { loader = process }
        return started
    }

    /// The loader, once its pipe has said all (`token` is its event):
    /// forgotten here; the caller stops watching it and reads its answer.
    func loaderAnswered(_ token: EventToken) -> TableLoadProcess? {
        guard let process = loader, process.token == token, process.readable() else { return nil }
        loader = nil
        return process
    }

    /// The loader numbered `pid`, if it is the one still reading:
    /// forgotten here; the caller kills it.
    func takeLoader(pid: pid_t) -> TableLoadProcess? {
        guard let process = loader, process.pid == pid else { return nil }
        loader = nil
        return process
    }

    func beginJob(_ stream: TableStream, purpose: ReloadJob.Purpose) {
        job = ReloadJob(stream, purpose: purpose)
    }

    /// The job's next step (see ReloadJob.step); returns the job once it
    /// is done, and forgets it.
    func stepJob(budget: UInt64, clock: () -> UInt64, view: some ReloadView, apply: (ReloadEffect) -> Bool) -> ReloadJob? {
        guard let job else { return nil }
        job.step(budget: budget, clock: clock, view: view, apply: apply)
        guard job.isDone else { return nil }
        self.job = nil
        return job
    }

    /// Stopping: the job is dropped where it is; the loader, if any, is
    /// returned for the caller to kill.
    func abandon() -> TableLoadProcess? {
        job = nil
        defer { loader = nil }
        return loader
    }

    func recordStart(_ outcome: Outcome) { startOutcome = outcome }
}

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
        if reload.isBusy || upgrade.check != nil { reload.keepPending(); return }
        let began = monotonicNanoseconds()
        serviceManager?.reloading(status: "reloading \(options.configPath)")
        switch reload.beginLoad(path: options.configPath, current: services.mapValues(\.config), at: began) {
        case .success(let process):
            if case .failure(let e) = epoll.add(process.token) {
                log.event(.error, "reload", "error", ["op": .string("epoll_ctl"), "error": .string(e.text)])
            }
            timers.add(.loaderTimeout(pid: process.pid), at: Nanoseconds.adding(began, TableLoadProcess.timeout))
        case .failure(let e):
            log.event(.error, "reload", "error", ["op": .string("fork"), "error": .string(e.text)])
            serviceManager?.ready(status: "reload failed: fork: \(e.text)")
            answerReloadWaiters(exit: 1, output: "swinetd could not start the table loader: \(e.text)\n")
        }
    }

    func loaderReadable(_ token: EventToken) {
        guard let process = reload.loaderAnswered(token) else { return }
        endLoader(process, kill: false)
        switch process.answer(file: options.configPath) {
        case .failure(let errors): rejected(errors)
        case .success(let stream):
            reload.beginJob(stream, purpose: .reload)
            stepReloadJob()
        }
    }

    func loaderTimedOut(_ pid: pid_t) {
        guard let process = reload.takeLoader(pid: pid) else { return }
        endLoader(process, kill: true)
        rejected(TableErrors([Diagnostic(file: options.configPath, mark: nil, message:
            "the table loader did not finish in \(TableLoadProcess.timeout / Nanoseconds.perSecond) s")]))
    }

    /// Stops watching a loader Reload has let go of (its pid is reaped
    /// like any child's, unseen).
    func endLoader(_ process: TableLoadProcess, kill: Bool) {
        if kill { Glibc.kill(process.pid, SIGKILL) }
        epoll.remove(process.fd)
    }

    /// A table with any error changes nothing: the old one keeps serving.
    func rejected(_ errors: TableErrors) {
        for line in errors.lines { log.event(.error, "reload", "error", ["diagnostic": .string(line)]) }
        log.event(.error, "reload", "rejected", ["errors": .int(errors.count)])
        masterCounters.reloadRejected(at: StatusReport.now(), "rejected errors=\(errors.count)")
        answerReloadWaiters(exit: 1, output: errors.lines.map { $0 + "\n" }.joined())
        serviceManager?.ready(status: "reload rejected (\(errors.count) error\(errors.count == 1 ? "" : "s")); serving the previous table")
        reloadEnded()
    }

    func reloadEnded() {
        if reload.takePending() { requestReload() }
    }
}
