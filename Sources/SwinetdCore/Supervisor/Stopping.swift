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
        admission.stopping = true
        serviceManager?.stopping()
        upgrade.pending = false
        closeAllListeners()
        _ = applyMetrics([])
        answerReloadWaiters(exit: 1, output: "swinetd is stopping; the reload was not done\n", all: true)
        for s in services.values { dropHeld(s, reason: "stopping") }
        for pid in children.pids { Processes.signalGroup(pid, SIGTERM) }
        if let process = reload.abandon() { endLoader(process, kill: true) }
        let sequence = StopSequence(now: monotonicNanoseconds(), grace: grace)
        stop = sequence
        timers.add(.stopStep, at: sequence.deadline)
    }

    /// The stop's next step; true once the loop should end.
    func stepStop() -> Bool {
        guard var sequence = stop else { return false }
        let step = sequence.step(now: monotonicNanoseconds(), remaining: children.byPID.count)
        stop = sequence
        switch step {
        case .wait:
            return false
        case .killAll:
            for (pid, child) in children.byPID {
                Processes.signalGroup(pid, SIGKILL)
                if let fd = child.connection { endConnection(fd) }
            }
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
