#if canImport(Glibc)
import Glibc
#endif

/// A running handler.
struct Child: Equatable, Codable {
    let service: String
    let peer: String
    let started: UInt64
    /// False for a child whose exec failed: it has already exited, and it
    /// neither counts against a limit nor frees a slot when reaped.
    let counted: Bool
    /// The client group it counts under for `per_source`.
    var group: PeerAddress? = nil
    /// When its `timeout` runs out.
    var deadline: UInt64? = nil
    /// How far its timeout has gone.
    var timeout = TimeoutState.running
    /// A wait handler: the socket it was given.
    var waitAddress: ListenAddress? = nil
    /// A connection's handler: the master's own copy of the connection,
    /// shut down when the handler exits or gets its `timeout`'s SIGKILL
    /// (see Leftovers.swift).
    var connection: Int32? = nil

    enum TimeoutState: Equatable, Codable {
        case running
        /// SIGTERM sent; SIGKILL at this time if it still runs.
        case terminated(killAt: UInt64)
        case killed
    }

    var timedOut: Bool { timeout != .running }
}

/// The handlers that run, by pid, with a count per service *name*: a
/// service that is removed and added back while its old handlers still run
/// counts them, and a retired service needs no state of its own. A plain
/// value, so the reap accounting is unit-tested without processes.
struct ChildTable {
    private(set) var byPID: [pid_t: Child] = [:]
    private var perService: [String: Int] = [:]
    /// Counted handlers of all services (what max_children limits).
    private(set) var total = 0
    /// Handlers with a `timeout` (what the timeout sweep looks at).
    private(set) var timed = 0

    var isEmpty: Bool { byPID.isEmpty }
    var pids: [pid_t] { Array(byPID.keys) }

    func running(_ service: String) -> Int { perService[service] ?? 0 }

    mutating func add(_ pid: pid_t, _ child: Child) {
        byPID[pid] = child
        if child.deadline != nil { timed += 1 }
        if child.counted {
            perService[child.service, default: 0] += 1
            total += 1
        }
    }

    /// The child that was `pid`, now gone from the table (nil: not ours).
    mutating func remove(_ pid: pid_t) -> Child? {
        guard let child = byPID.removeValue(forKey: pid) else { return nil }
        if child.deadline != nil { timed -= 1 }
        if child.counted {
            total -= 1
            let n = perService[child.service, default: 1] - 1
            perService[child.service] = n == 0 ? nil : n
        }
        return child
    }

    /// The signals `timeout` calls for at `now`: SIGTERM to a handler whose
    /// deadline has passed, SIGKILL to one still running `killAfter` later.
    mutating func timeouts(now: UInt64, killAfter: UInt64) -> [(pid: pid_t, signal: Int32)] {
        guard timed > 0 else { return [] }
        var due: [(pid: pid_t, signal: Int32)] = []
        for (pid, child) in byPID {
            guard let deadline = child.deadline, now >= deadline else { continue }
            switch child.timeout {
            case .running:
                byPID[pid]?.timeout = .terminated(killAt: Nanoseconds.adding(now, killAfter))
                due.append((pid, SIGTERM))
            case .terminated(let killAt) where now >= killAt:
                byPID[pid]?.timeout = .killed
                due.append((pid, SIGKILL))
            default:
                break
            }
        }
        return due
    }
}

/// How a stop proceeds, as a value with the clock passed in: SIGTERM to
/// every handler's process group and up to `grace` for them to end; then
/// SIGKILL and up to `killMargin` more; then the master exits even if a
/// handler never ends (stuck in uninterruptible sleep, it cannot be reaped,
/// and waiting for it would keep swinetd from ever exiting). So a stop takes
/// at most grace + killMargin, plus the moment to flush the log.
struct StopSequence {
    static let killMargin: UInt64 = 2 * Nanoseconds.perSecond

    enum Step: Equatable {
        case wait
        case killAll
        /// Give up on what is left and exit.
        case abandon
    }

    private(set) var deadline: UInt64
    private var killed = false

    init(now: UInt64, grace: UInt64) {
        deadline = Nanoseconds.adding(now, grace)
    }

    /// What to do at `now` with `remaining` handlers not yet reaped.
    mutating func step(now: UInt64, remaining: Int) -> Step {
        if remaining == 0 { return .abandon }
        guard now >= deadline else { return .wait }
        if killed { return .abandon }
        killed = true
        deadline = Nanoseconds.adding(now, Self.killMargin)
        return .killAll
    }
}

/// How a handler ended, from waitpid's status.
enum ExitStatus: Equatable {
    case exited(Int)
    case signaled(Int32)

    init(_ status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited(Int((status >> 8) & 0xff)) : .signaled(signal)
    }
}

enum Processes {
    /// Reaps every child that has exited, one at a time, until none is
    /// left: SIGCHLDs merge, so one signal may stand for hundreds of exits.
    /// Each is first only found (waitid with WNOWAIT) and given to
    /// `whileHeld` while its zombie still holds the pid: until the reap,
    /// neither that pid nor the process group id it leads can be given to a
    /// new process, so a signal to them reaches only what was the child's.
    /// Then it is reaped and given to `body` with waitpid's status.
    /// `only`: that child alone (the unit tests', among the test runner's).
    static func reapAll(only: pid_t? = nil, whileHeld: (pid_t) -> Void = { _ in }, _ body: (pid_t, Int32) -> Void) {
        while true {
            // Zeroed: with WNOHANG, waitid returns 0 with si_pid 0 when no
            // child has exited yet.
            var info = siginfo_t()
            let found = waitid(only == nil ? P_ALL : P_PID, id_t(only ?? 0), &info, WEXITED | WNOHANG | WNOWAIT)
            if found < 0 && errno == EINTR { continue }
            let pid = info._sifields._sigchld.si_pid
            if found < 0 || pid <= 0 { return }   // ECHILD: no child at all
            whileHeld(pid)
            var status: Int32 = 0
            var reaped: pid_t
            repeat { reaped = waitpid(pid, &status, WNOHANG) } while reaped < 0 && errno == EINTR
            // The zombie waits to be taken; should it somehow not be, stop
            // rather than find it again and again: the next SIGCHLD retries.
            guard reaped == pid else { return }
            body(pid, status)
        }
    }

    /// Handlers lead their own session (setsid), so a signal goes to the
    /// whole process group: what a handler started goes with it.
    static func signalGroup(_ pid: pid_t, _ signal: Int32) {
        if kill(-pid, signal) != 0 { kill(pid, signal) }
    }
}

extension Supervisor {
    /// Reaps every handler that has ended: logs it, frees its slot, gives a
    /// held connection its turn, and cuts its stderr pipe later if a child
    /// of the handler keeps it open.
    func reapChildren() {
        var freedGlobal = false
        Processes.reapAll(whileHeld: { pid in
            if children.byPID[pid]?.connection != nil { killLeftovers(pid) }
        }) { pid, status in
            guard let child = children.remove(pid) else {
                // The table loader (reaped unseen), or the upgrade's check.
                upgradeCheckReaped(pid, ExitStatus(status))
                return
            }
            logExit(pid, child, ExitStatus(status), now)
            if let fd = child.connection { endConnection(afterExitOf: fd) }
            if let address = child.waitAddress { waitHandlerEnded(pid, child, address) }
            if let group = child.group, var table = sources[child.service] {
                table.ended(group, now: now)
                sources[child.service] = table.isEmpty ? nil : table
            }
            if output.handlerExited(pid, now: now) && !sweepScheduled {
                sweepScheduled = true
                timers.add(.outputSweep, at: Nanoseconds.adding(now, HandlerOutput.sweepEvery))
            }
            guard child.counted else { return }
            services[child.service]?.counters.exited(ExitStatus(status), duration: Nanoseconds.since(now, child.started))
            if children.total == admission.maxChildren - 1 { freedGlobal = true }
            guard let s = services[child.service] else { return }   // a retired service's handler
            if s.held != nil { retryHeld(s) } else if !freedGlobal { refresh(s) }
        }
        if freedGlobal { refreshAll() }
    }

    private func logExit(_ pid: pid_t, _ child: Child, _ status: ExitStatus, _ now: UInt64) {
        var fields: [(key: String, value: LogValue)] = [("pid", .int(Int(pid))), (child.waitAddress == nil ? "peer" : "address", .string(child.peer))]
        switch status {
        case .exited(let code): fields.append(("status", .int(code)))
        case .signaled(let signal): fields.append(("signal", .string(MasterSignals.name(signal))))
        }
        fields.append(("duration", .seconds(Nanoseconds.since(now, child.started))))
        if child.timedOut { fields.append(("reason", .string("timeout"))) }
        log.event(.info, child.service, "exited", fields: fields)
    }

    /// How often handlers with a `timeout` are looked at, and how long one
    /// that got SIGTERM for it has before SIGKILL.
    static let timeoutSweepEvery = 100 * Nanoseconds.perMillisecond
    static let timeoutKillAfter = 5 * Nanoseconds.perSecond

    func scheduleTimeoutSweep() {
        guard !timeoutSweepScheduled else { return }
        timeoutSweepScheduled = true
        timers.add(.timeoutSweep, at: Nanoseconds.adding(now, Self.timeoutSweepEvery))
    }

    /// Signals the handlers whose `timeout` ran out, while any has one.
    func sweepTimeouts() {
        timeoutSweepScheduled = false
        for (pid, signal) in children.timeouts(now: now, killAfter: Self.timeoutKillAfter) {
            if let child = children.byPID[pid] {
                log.event(.warning, child.service, "timeout", ["pid": .int(Int(pid)), "peer": .string(child.peer), "signal": .string(MasterSignals.name(signal))])
                // At the SIGKILL, not the SIGTERM: until then the handler
                // may still tell its client why it goes (an FTP or SMTP
                // "421"). A child that left the handler's session escapes
                // the signal, not the end of the connection.
                if signal == SIGKILL, let fd = child.connection { endConnection(fd) }
            }
            Processes.signalGroup(pid, signal)
        }
        if children.timed > 0 { scheduleTimeoutSweep() }
    }
}
