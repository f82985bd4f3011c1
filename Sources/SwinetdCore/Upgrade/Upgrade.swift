#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// `swinetd upgrade` and SIGUSR2: the binary now on disk replaces the
/// running one in place, without a connection refused or a handler lost.
///
/// First a trial run: the new binary, in a child bounded in time, parses
/// the master's own arguments, reads a sample of the state and checks the
/// table (`upgrade-preflight`, see UpgradePreflight): a binary that cannot
/// do that, crashes or is not swinetd never takes over.
/// Then the master writes what it knows (UpgradeState) to a memfd, lets
/// the descriptors that matter survive exec, and execs the new binary with
/// its own arguments: the same pid, so handlers stay its children, systemd
/// and the pid file stay right, and signals blocked stay blocked (one that
/// arrives meanwhile waits). The new image loads the table as at start,
/// takes each listening socket back by address instead of binding it, and
/// each component adopts its own snapshot: the handlers, their stderr
/// pipes, admission (buckets, client groups, a held connection), wait
/// back-offs, the control's waiting clients and the counters. If the trial
/// run or the exec fails, nothing has changed and the caller is told why;
/// if the new image cannot serve, it execs the old binary again from the
/// descriptor this image kept (UpgradeFallback), which takes everything
/// back and answers the caller with the reason.
extension Supervisor {
    /// An upgrade is asked for; it begins as soon as no reload is under way.
    func requestUpgrade(from waiter: Conversations.Conversation?) {
        if let waiter {
            guard stop == nil else {
                control?.conversations.reply(waiter, ControlServer.reply(exit: 1, output: "swinetd is stopping\n"), now: now)
                return
            }
            waiter.awaitLaterReply(until: Nanoseconds.adding(now, UpgradeProgress.answerTimeout))
            upgrade.answerLater(waiter)
        }
        guard stop == nil else { return }
        upgrade.ask()
        beginUpgradeWhenIdle()
    }

    /// Starts the new binary's check once nothing else is in flight (a
    /// table load, a reload job). A connection held for a handler goes
    /// over with admission's snapshot: the upgrade does not wait for it.
    func beginUpgradeWhenIdle() {
        guard upgrade.pending, upgrade.check == nil, stop == nil, !reload.isBusy else { return }
        upgrade.begin(at: monotonicNanoseconds())
        guard let exe = SelfExecutable.path else { return upgradeFailed("cannot tell which binary swinetd was started from") }
        serviceManager?.reloading(status: "upgrading: checking \(exe)")
        // The pre-flight gets a state as the exec would hand over (without
        // descriptors: it only reads it) and this master's command line.
        let snapshot: Int32
        switch handoverState(output: .init(), control: control.map { .init(fd: $0.fd) }).write() {
        case .success(let fd): snapshot = fd
        case .failure(let e): return upgradeFailed("cannot write the upgrade's state: \(e.text)")
        }
        var ends: [Int32] = [-1, -1]
        guard clinux_pipe2(&ends, O_CLOEXEC) == 0 else { closeDescriptor(snapshot); return upgradeFailed("pipe: \(Errno.current.text)") }
        let argv = [exe, UpgradePreflight.command, "--"] + SelfExecutable.arguments.dropFirst()
        let spawned = Processes.spawnQuiet(argv, stderr: ends[1], passing: snapshot, as: "SWINETD_UPGRADE_FD")
        closeDescriptor(snapshot)
        switch spawned {
        case .success(let pid):
            closeDescriptor(ends[1])
            _ = fcntl(ends[0], F_SETFL, O_NONBLOCK)
            upgrade.checkStarted(pid: pid, output: ends[0])
            timers.add(.upgradeCheckTimeout(pid: pid), at: Nanoseconds.adding(now, UpgradeProgress.checkTimeout))
            log.event(.notice, "upgrade", "checking", ["binary": .string(exe), "pid": .int(Int(pid))])
        case .failure(let e):
            closeDescriptor(ends[0]); closeDescriptor(ends[1])
            upgradeFailed("cannot run \(exe): \(e.text)")
        }
    }

    func upgradeCheckTimedOut(_ pid: pid_t) {
        guard upgrade.checkTimedOut(pid) else { return }
        kill(pid, SIGKILL)
    }

    /// A reaped pid that is no handler: the upgrade's check, perhaps.
    func upgradeCheckReaped(_ pid: pid_t, _ status: ExitStatus) {
        guard let check = upgrade.checkEnded(pid) else { return }
        // What it said, up to 64 KiB (the rest is not read).
        var text: [UInt8] = []
        _ = readAll(check.output, appendingTo: &text, limit: 64 << 10)
        closeDescriptor(check.output)
        let output = String(decoding: text, as: UTF8.self)
        switch status {
        case .exited(0) where output.contains(UpgradePreflight.confirmation):
            execNewImage()
        case .exited(0):
            upgradeFailed("the new binary did not confirm that it can take over from swinetd \(SwinetdVersion.current)"
                          + " (its '\(UpgradePreflight.command)' said nothing: another version or not swinetd)")
        case _ where check.timedOut:
            upgradeFailed("the new binary's check did not finish in \(UpgradeProgress.checkTimeout / Nanoseconds.perSecond) s")
        case .exited(let code):
            upgradeFailed("the new binary's check failed (exit \(code))" + (output.isEmpty ? "" : ":\n" + output))
        case .signaled(let s):
            upgradeFailed("the new binary's check was killed by \(MasterSignals.name(s))" + (output.isEmpty ? "" : ":\n" + output))
        }
    }

    /// Nothing changed: the running image goes on, and says why.
    func upgradeFailed(_ why: String) {
        let lines = why.split(separator: "\n", omittingEmptySubsequences: true)
        log.event(.error, "upgrade", "failed", ["reason": .string(String(lines.first ?? ""))])
        for line in lines.dropFirst() { log.event(.error, "upgrade", "error", ["diagnostic": .string(String(line))]) }
        answerUpgradeWaiters(exit: 1, output: "upgrade failed: " + why + (why.hasSuffix("\n") ? "" : "\n"))
        serviceManager?.ready(status: "upgrade failed; serving \(services.count) services")
        // A SIGHUP that came during the check waited for it.
        reloadEnded()
        if upgrade.pending { beginUpgradeWhenIdle() }
    }

    private func answerUpgradeWaiters(exit: Int, output: String) {
        let waiters = upgrade.takeWaiters()
        guard let c = control else { return }
        for w in waiters where c.conversations.isOpen(w) {
            c.conversations.reply(w, ControlServer.reply(exit: exit, output: output), now: now)
        }
    }

    /// Hands everything over and execs the new binary; returns only if the
    /// exec failed (then nothing has changed).
    private func execNewImage() {
        guard let exe = SelfExecutable.path else { return upgradeFailed("cannot tell which binary swinetd was started from") }
        let state = handoverState(output: output.handOver(now: now, log: log),
                                  control: control?.snapshot(upgradeWaiters: upgrade.waiters))
        let memfd: Int32
        switch state.write() {
        case .success(let fd): memfd = fd
        case .failure(let e): return upgradeFailed("cannot write the upgrade's state: \(e.text)")
        }
        // The old binary, to come back to if the new image cannot serve.
        let fallback = SelfExecutable.descriptor
        UpgradeState.inherit(state.descriptors + [memfd] + (fallback >= 0 ? [fallback] : []), true)
        setenv("SWINETD_UPGRADE_FD", String(memfd), 1)
        if fallback >= 0 { setenv("SWINETD_UPGRADE_FALLBACK_FD", String(fallback), 1) }
        log.event(.notice, "upgrade", "exec", ["binary": .string(exe), "handlers": .int(state.children.handlers.count), "listeners": .int(state.sockets.count)])
        log.flush(waitingAtMost: 1000)
        let args = SelfExecutable.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        execv(exe, &argv)
        // Still here: the exec failed, and every descriptor is as it was.
        let e = Errno.current
        for p in argv { free(p) }
        unsetenv("SWINETD_UPGRADE_FD")
        unsetenv("SWINETD_UPGRADE_FALLBACK_FD")
        UpgradeState.inherit(state.descriptors + [memfd] + (fallback >= 0 ? [fallback] : []), false)
        closeDescriptor(memfd)
        upgradeFailed("exec \(exe): \(e.text)")
    }

    /// What this image hands over: each component's snapshot. The stderr
    /// pipes (`output`) and the control's waiting clients are the exec's
    /// alone: the pre-flight gets a state without them, which it only reads.
    func handoverState(output: HandlerOutput.Snapshot, control: ControlServer.Snapshot?) -> UpgradeState {
        UpgradeState(
            version: SwinetdVersion.current, began: upgrade.began, arguments: SelfExecutable.arguments,
            handlerNofile: handlerNofile, pidFile: pidFileDescriptor,
            counters: masterCounters.snapshot(), serviceCounters: services.mapValues(\.counters),
            listeners: listeners.snapshot(), metrics: metrics?.snapshot() ?? .init(),
            children: children.snapshot(), admission: admission.snapshot(), output: output,
            control: control, reload: reload.snapshot(), proxyHeaders: proxyHeaders.snapshot())
    }
}
