#if canImport(Glibc)
import Glibc
#endif

/// The one owner of the running handlers: the child table (by pid, counted
/// by service name), reaping, their process groups and what they leave
/// behind (Leftovers.swift: the master's copy of each connection), and
/// `timeout`s with the sweep that enforces them. What a reap or a timeout
/// means for the rest of the master (client groups, stderr pipes, counters,
/// admission, a held connection) is returned as values the loop applies.
final class Children {
    private(set) var table = ChildTable()
    /// Whether a timeout sweep is scheduled (one timer while any handler has a `timeout`).
    private var timeoutSweepScheduled = false

    /// How often handlers with a `timeout` are looked at, and how long one
    /// that got SIGTERM for it has before SIGKILL.
    static let timeoutSweepEvery = 100 * Nanoseconds.perMillisecond
    static let timeoutKillAfter = 5 * Nanoseconds.perSecond

    /// Counted handlers of all services (what max_children limits).
    var total: Int { table.total }
    var count: Int { table.byPID.count }
    var isEmpty: Bool { table.isEmpty }
    var byPID: [pid_t: Child] { table.byPID }
    func running(_ service: String) -> Int { table.running(service) }
    subscript(pid: pid_t) -> Child? { table.byPID[pid] }

    /// A handler started (or was adopted from the replaced image). True
    /// when a timeout sweep must now be scheduled (`timeoutSweepEvery` from now).
    func add(_ pid: pid_t, _ child: Child) -> Bool {
        table.add(pid, child)
        return child.deadline != nil && scheduleTimeoutSweep()
    }

    private func scheduleTimeoutSweep() -> Bool {
        guard !timeoutSweepScheduled else { return false }
        timeoutSweepScheduled = true
        return true
    }

    /// What a reap found.
    enum Ended {
        /// One of the handlers: out of the table. The loop logs its exit,
        /// then calls `endConnection(of:)` (the log says it ended before
        /// its client sees the end of file).
        case handler(pid_t, Child, ExitStatus)
        /// Not a handler (the table loader, or the upgrade's check).
        case other(pid_t, ExitStatus)
    }

    /// Reaps the next child that has ended (nil: none has). A connection's
    /// handler has what is left of its process group killed while its
    /// zombie still holds the pid, and once reaped, its connection ended
    /// for whatever still holds it by `endConnection(of:)` (see
    /// Leftovers.swift). One at a time, so the loop applies each without a
    /// list being made.
    func reapNext() -> Ended? {
        guard let (pid, status) = Processes.reapNext(whileHeld: { pid in
            if table.byPID[pid]?.connection != nil { killLeftovers(pid) }
        }) else { return nil }
        guard let child = table.remove(pid) else { return .other(pid, ExitStatus(status)) }
        return .handler(pid, child, ExitStatus(status))
    }

    /// A reaped handler's connection: ended for what still holds it, and
    /// the master's copy closed.
    func endConnection(of child: Child) {
        if let fd = child.connection { endConnection(afterExitOf: fd) }
    }

    /// What the timeout sweep did to one handler, for the log.
    struct Signalled {
        var pid: pid_t
        var child: Child
        var signal: Int32
    }

    /// Signals the handlers whose `timeout` ran out: SIGTERM at the
    /// deadline, SIGKILL `timeoutKillAfter` later, each to the process
    /// group, the connection ended with the SIGKILL. Returns what it
    /// signalled, and whether the sweep is due again (a handler still has
    /// a `timeout`).
    func sweepTimeouts(now: UInt64) -> (signalled: [Signalled], again: Bool) {
        timeoutSweepScheduled = false
        var signalled: [Signalled] = []
        for (pid, signal) in table.timeouts(now: now, killAfter: Self.timeoutKillAfter) {
            if let child = table.byPID[pid] {
                signalled.append(Signalled(pid: pid, child: child, signal: signal))
                // At the SIGKILL, not the SIGTERM: until then the handler
                // may still tell its client why it goes (an FTP or SMTP
                // "421"). A child that left the handler's session escapes
                // the signal, not the end of the connection.
                if signal == SIGKILL, let fd = child.connection { endConnection(fd) }
            }
            Processes.signalGroup(pid, signal)
        }
        return (signalled, table.timed > 0 && scheduleTimeoutSweep())
    }

    /// Stopping: `signal` to every handler's process group; with SIGKILL,
    /// every connection is ended too.
    func signalAll(_ signal: Int32) {
        for (pid, child) in table.byPID {
            Processes.signalGroup(pid, signal)
            if signal == SIGKILL, let fd = child.connection { endConnection(fd) }
        }
    }
}

// MARK: Handover

extension Children {
    /// What the handlers hand to the next image at an upgrade: each
    /// handler's pid and entry (its service, peer, client group, timeout,
    /// and the descriptor of the master's copy of its connection).
    struct Snapshot: Codable {
        struct Handler: Codable {
            var pid: pid_t
            var child: Child
        }
        var handlers: [Handler]
    }

    func snapshot() -> Snapshot {
        Snapshot(handlers: table.byPID.sorted { $0.key < $1.key }.map { .init(pid: $0.key, child: $0.value) })
    }

    /// Takes the replaced image's handlers as its own. True when a timeout
    /// sweep must now be scheduled. Their client groups are admission's to
    /// count (the caller tells it).
    func adopt(_ snapshot: Snapshot) -> Bool {
        var sweep = false
        for h in snapshot.handlers {
            if add(h.pid, h.child) { sweep = true }
        }
        return sweep
    }
}

extension Supervisor {
    /// Reaps every handler that has ended: logs it, and applies what its
    /// end means to the other owners: the socket of a wait service, its
    /// client group, its stderr pipe (cut later if a child of the handler
    /// keeps it open), its counters, and admission (a held connection gets
    /// its turn, a freed slot is watched again).
    func reapChildren() {
        var freedGlobal = false
        while let ended = children.reapNext() {
            guard case .handler(let pid, let child, let status) = ended else {
                // The table loader (reaped unseen), or the upgrade's check.
                if case .other(let pid, let status) = ended { upgradeCheckReaped(pid, status) }
                continue
            }
            logExit(pid, child, status, now)
            children.endConnection(of: child)
            if let address = child.waitAddress { waitHandlerEnded(pid, child, address) }
            let a = admission.handlerEnded(child.service, group: child.group, now: now)
            if output.handlerExited(pid, now: now) {
                timers.add(.outputSweep, at: Nanoseconds.adding(now, HandlerOutput.sweepEvery))
            }
            guard child.counted else { continue }
            if children.total == admission.maxChildren - 1 { freedGlobal = true }
            guard let s = services[child.service] else { continue }   // a retired service's handler
            s.countExit(status, duration: Nanoseconds.since(now, child.started))
            // While stopping, swinetd's own SIGTERM and SIGKILL end them: no client's fault.
            if let rules = s.config.admission.penalty, let group = child.group, let a, stop == nil,
               rules.counts(status, lived: Nanoseconds.since(now, child.started), timedOut: child.timedOut) {
                penalise(s, a, group, rules, peer: child.peer)
            }
            if a?.held != nil { retryHeld(s) } else if !freedGlobal { refresh(s, a) }
        }
        if freedGlobal { refreshAll() }
    }

    /// `group`'s handler ended as `penalty` counts: its group is kept out
    /// for a while, said once per offence.
    private func penalise(_ s: ServiceState, _ a: ServiceAdmission, _ group: PeerAddress, _ rules: PenaltyRules, peer: String) {
        let (length, until) = a.penalise(group, rules, now: now)
        s.countPenalty()
        log.event(.notice, s.name, "penalised", ["source": .string(s.config.admission.sourcePrefix.text(group)), "peer": .string(peer),
                                                  "penalty": .seconds(length), "left": .seconds(Nanoseconds.since(until, now))])
    }

    private func logExit(_ pid: pid_t, _ child: Child, _ status: ExitStatus, _ now: UInt64) {
        var fields: [(key: String, value: LogValue)] = [("pid", .int(Int(pid))), (child.waitAddress == nil ? "peer" : "address", .string(child.peer))]
        switch status {
        case .exited(let code): fields.append(("status", .int(code)))
        case .signaled(let signal): fields.append(("signal", .string(MasterSignals.name(signal))))
        }
        fields.append(("duration", .seconds(Nanoseconds.since(now, child.started))))
        if child.timedOut {
            fields.append(("reason", .string("timeout")))
        } else if case .signaled(SIGSYS) = status, services[child.service]?.config.sandbox.systemCalls != nil {
            // The service's filter killed it: a call `system_calls` leaves out.
            fields.append(("reason", .string("system_calls")))
        }
        log.event(.info, child.service, "exited", fields: fields)
    }

    /// Records a handler in the child table, and schedules the timeout
    /// sweep if it is the first with a `timeout`.
    func addChild(_ pid: pid_t, _ child: Child) {
        if children.add(pid, child) {
            timers.add(.timeoutSweep, at: Nanoseconds.adding(now, Children.timeoutSweepEvery))
        }
    }

    /// Signals the handlers whose `timeout` ran out, while any has one.
    func sweepTimeouts() {
        let (signalled, again) = children.sweepTimeouts(now: now)
        for t in signalled {
            log.event(.warning, t.child.service, "timeout", ["pid": .int(Int(t.pid)), "peer": .string(t.child.peer), "signal": .string(MasterSignals.name(t.signal))])
        }
        if again { timers.add(.timeoutSweep, at: Nanoseconds.adding(now, Children.timeoutSweepEvery)) }
    }
}
