#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// The new image's half of an upgrade: it reads the state the replaced
/// image left (or sends it back to the old binary when it cannot), takes
/// the listeners back by address, and hands each component its own
/// snapshot back; the loop then times again what the components were
/// waiting for (a rate's next token, a wait service's back-off, a held
/// connection's retry, handlers' timeouts) and answers the clients waiting.
extension Supervisor {
    /// Reads the state the replaced image left, if this image is an upgrade:
    /// its sockets go into the pool that opening the table takes from.
    func takeUpgradeState() -> UpgradeState? {
        guard let fd = InheritedDescriptors.upgradeState else { return nil }
        InheritedDescriptors.upgradeStateRead()
        guard let state = UpgradeState.read(fd) else {
            // Version skew: the image that wrote it must take it back.
            UpgradeFallback.reexecOld(reason: "swinetd \(SwinetdVersion.current) cannot read the state of the image it replaces", log: log)
            log.event(.error, "upgrade", "error", ["reason": .string("the replaced image's state could not be read; starting afresh")])
            InheritedDescriptors.upgradeDone()
            return nil
        }
        UpgradeState.inherit(state.descriptors, false)
        for s in state.sockets { inherited.add(s.fd, s.address, origin: "upgrade") }
        return state
    }

    /// After the table is in place: each component takes its snapshot
    /// back, and what they wait for is timed again in this image.
    func adopt(_ state: UpgradeState) {
        masterCounters.adopt(state.counters)
        for (name, counters) in state.serviceCounters { services[name]?.adoptCounters(counters) }
        for (service, until) in listeners.adopt(state.listeners) {
            timers.add(.backoffEnds(service: service), at: until)
        }
        if children.adopt(state.children) {
            timers.add(.timeoutSweep, at: Nanoseconds.adding(now, Children.timeoutSweepEvery))
        }
        if let snapshot = state.admission {
            adoptAdmission(snapshot)
        } else {
            // 0.6.0 handed no admission over: the handlers' client groups
            // are counted here, from the handlers.
            for h in state.children.handlers where h.child.counted {
                if let group = h.child.group { admission.handlerStarted(h.child.service, group: group) }
            }
        }
        adoptPendingHeaders(state.proxyHeaders)
        output.adopt(state.output, now: now)
        refreshAll()
        adoptControlWaiters(state)
        // Handlers that ended while the exec ran: their SIGCHLD waits in the
        // signalfd too, but reaping now costs nothing.
        reapChildren()
    }

    /// Admission's snapshot: its deadlines get timers here; a held
    /// connection this image cannot serve (its service left the table, or
    /// its address did not open) is refused, and said so.
    private func adoptAdmission(_ snapshot: AdmissionControl.Snapshot) {
        let adopted = admission.adopt(snapshot, listener: { listeners[$0] })
        for u in adopted.unplaced { refuseUnserved(u.service, fd: u.fd, peer: u.peer, reason: u.why.rawValue) }
        for (service, at) in adopted.rateReady { timers.add(.rateReady(service: service), at: at) }
        for service in adopted.held { timers.add(.retryHeld(service: service), at: now) }
        if let until = adopted.resourcePauseUntil { timers.add(.resourcePauseEnds, at: until) }
    }

    /// The replaced image's waiting control clients: the control server
    /// adopts its snapshot (the `reload` clients wait for this image's
    /// load), and the `swinetd upgrade` clients it hands back are told how
    /// the upgrade went. Without a control socket here, the reload clients
    /// see their connection end.
    private func adoptControlWaiters(_ state: UpgradeState) {
        var upgradeWaiters = state.control?.upgradeWaiters ?? []
        if let c = control, let snapshot = state.control {
            upgradeWaiters = c.adopt(snapshot, load: reload.loadsBegun + 1, now: now)
        } else {
            for fd in state.control?.reloadWaiters ?? [] { closeDescriptor(fd) }
        }
        tellUpgradeOutcome(state, to: upgradeWaiters)
        reload.adopt(state.reload)
        let waiting = control.map { !$0.reloadWaiters.isEmpty } ?? false
        if waiting, let c = control { scheduleConversationSweep(of: c.conversations) }
        if reload.takePending() || waiting { requestReload() }
    }

    /// The `swinetd upgrade` clients (`fds`): told how it went.
    private func tellUpgradeOutcome(_ state: UpgradeState, to fds: [Int32]) {
        let reply: [UInt8]
        if let why = InheritedDescriptors.failedUpgrade {
            // The new image could not serve and execed this one again.
            log.event(.error, "upgrade", "failed", ["reason": .string(why), "serving": .string(SwinetdVersion.current)])
            reply = ControlServer.reply(exit: 1, output: "upgrade failed: \(why); swinetd \(SwinetdVersion.current) serves on\n")
        } else {
            // Addresses the new image could not open cost only those, as at a
            // reload, and the answer says so as a reload's does (exit 1).
            let failed = reload.startOutcome.failed
            let summary = "applied version=\(state.version)->\(SwinetdVersion.current)" + (failed > 0 ? " failed=\(failed)" : "")
            log.event(failed > 0 ? .warning : .notice, "upgrade", "applied", [
                "version": .string("\(state.version)->\(SwinetdVersion.current)"), "handlers": .int(state.children.handlers.count),
                "listeners": .int(listeners.count), "failed": .int(failed),
                "duration": .milliseconds(Nanoseconds.since(monotonicNanoseconds(), state.began)),
            ])
            reply = ControlServer.reply(exit: failed > 0 ? 1 : 0, output: summary
                                        + (failed > 0 ? " (see the log for the addresses that did not open)\n" : "\n"))
        }
        for fd in fds {
            _ = reply.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
            closeDescriptor(fd)
        }
    }
}

extension Processes {
    /// Starts `argv` with stdin and stdout on /dev/null, stderr on `stderr`,
    /// an empty signal mask and every signal at its default: a helper of the
    /// master's (the upgrade's check), not a handler. Every other descriptor
    /// of the master is close-on-exec.
    static func spawnQuiet(_ argv: [String], stderr: Int32, passing fd: Int32 = -1, as variable: String = "") -> Result<pid_t, Errno> {
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        // `fd` stays open in the child under its number (dup2 onto itself
        // clears close-on-exec), named by `variable`.
        var extra: [UnsafeMutablePointer<CChar>?] = []
        if fd >= 0 {
            posix_spawn_file_actions_adddup2(&actions, fd, fd)
            var i = 0
            while let e = environ[i] { extra.append(e); i += 1 }
            extra.append(strdup("\(variable)=\(fd)"))
            extra.append(nil)
        }
        defer { if fd >= 0 { free(extra[extra.count - 2]) } }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pointers: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in pointers { free(p) } }
        var pid: pid_t = 0
        let r = fd >= 0
            ? extra.withUnsafeMutableBufferPointer { posix_spawn(&pid, argv[0], &actions, &attributes, &pointers, $0.baseAddress) }
            : posix_spawn(&pid, argv[0], &actions, &attributes, &pointers, environ)
        return r == 0 ? .success(pid) : .failure(Errno(rawValue: r))
    }
}
