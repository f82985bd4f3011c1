#if canImport(Glibc)
import Glibc
#endif

/// Stopping: on SIGTERM, SIGINT, SIGQUIT or a `stop` request, close the
/// listeners, SIGTERM every handler's group, and carry out StopSequence.
extension Supervisor {
    /// `reason`: the signal's name, or `control` for a `stop` request.
    func beginStop(reason: String) {
        guard stop == nil else { return }
        let grace = Nanoseconds.from(seconds: control?.stopGrace ?? options.grace)
        log.event(.notice, "swinetd", "stopping", [
            reason == "control" ? "by" : "signal": .string(reason), "handlers": .int(children.total), "grace": .seconds(grace),
        ])
        admission.beginStopping()
        serviceManager?.stopping()
        upgrade.cancel()
        closeAllListeners()
        _ = applyMetrics([])
        answerReloadWaiters(exit: 1, output: "swinetd is stopping; the reload was not done\n", all: true)
        for s in services.values {
            dropHeld(s, reason: "stopping")
            dropPendingHeaders(s, reason: "stopping")
        }
        children.signalAll(SIGTERM)
        if let process = reload.abandon() { endLoader(process, kill: true) }
        let sequence = StopSequence(now: monotonicNanoseconds(), grace: grace)
        stop = sequence
        timers.add(.stopStep, at: sequence.deadline)
    }

    /// The stop's next step; true once the loop should end.
    func stepStop() -> Bool {
        guard var sequence = stop else { return false }
        let step = sequence.step(now: monotonicNanoseconds(), remaining: children.count)
        stop = sequence
        switch step {
        case .wait:
            return false
        case .killAll:
            children.signalAll(SIGKILL)
            timers.add(.stopStep, at: sequence.deadline)
            return false
        case .abandon:
            for (pid, child) in children.byPID {
                log.event(.warning, child.service, "abandoned", ["pid": .int(Int(pid)), "peer": .string(child.peer)])
            }
            return true
        }
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
