#if canImport(Glibc)
import Glibc
#endif

/// A connection accepted whose handler could not start for a reason that
/// passes (RLIMIT_NPROC, ENOMEM) is held, not dropped, and retried.
extension Supervisor {
    /// Keeps `c` until `s` can start a handler: when one of its handlers
    /// exits, or after a back-off when none runs. The service accepts
    /// nothing more meanwhile; its clients wait in the kernel's queue.
    func hold(_ s: ServiceState, _ c: Connection, _ e: Errno) {
        s.held = c
        s.holdReason = e == .noMemory ? .resources : .nproc
        if s.loggedPause != s.holdReason {
            log.event(.notice, s.name, "paused", ["reason": .string(s.holdReason.rawValue), "error": .string(e.text)])
            s.loggedPause = s.holdReason
        }
        refresh(s)
        if children.running(s.name) == 0 {
            timers.add(.retryHeld(service: s.name), at: Nanoseconds.adding(now, s.retryDelay))
            s.retryDelay = min(s.retryDelay * 2, ServiceState.lastRetry)
        }
    }

    /// Another try for the connection `s` holds.
    func retryHeld(_ s: ServiceState) {
        guard let c = s.held else { return }
        s.held = nil
        if s.config.stderr == .log && sparePipe == nil && !makeSparePipe(for: s.name) {
            s.held = c
            timers.add(.retryHeld(service: s.name), at: Nanoseconds.adding(now, Self.resourcePause))
            return
        }
        spawn(s, c)
        guard s.held == nil else { return }
        s.retryDelay = ServiceState.firstRetry
        if s.loggedPause != nil {
            log.event(.notice, s.name, "resumed", [:])
            s.loggedPause = nil
        }
        refresh(s)
    }

    /// Closes a held connection that will get no handler (its service was
    /// removed, or swinetd stops), saying so.
    func dropHeld(_ s: ServiceState, reason: String) {
        guard var c = s.held else { return }
        s.held = nil
        s.counters.refuse(reason)
        log.event(.info, s.name, "refused", ["peer": .string(peerText(&c.peer)), "reason": .string(reason)])
        closeDescriptor(c.fd)
    }
}
