#if canImport(Glibc)
import Glibc
#endif

/// A connection accepted whose handler could not start for a reason that
/// passes (RLIMIT_NPROC, ENOMEM) is held, not dropped, and retried. The
/// held connection and its back-off are the service's admission state
/// (ServiceAdmission); this is the loop's side: logging, timers, spawning.
extension Supervisor {
    /// Keeps `c` until `s` can start a handler: when one of its handlers
    /// exits, or after a back-off when none runs. The service accepts
    /// nothing more meanwhile; its clients wait in the kernel's queue.
    func hold(_ s: ServiceState, _ a: ServiceAdmission, _ c: Connection, _ e: Errno) {
        let (reason, isNews) = a.hold(c, e)
        if isNews {
            log.event(.notice, s.name, "paused", ["reason": .string(reason.rawValue), "error": .string(e.text)])
        }
        refresh(s, a)
        if children.running(s.name) == 0 {
            timers.add(.retryHeld(service: s.name), at: Nanoseconds.adding(now, a.nextRetryDelay()))
        }
    }

    /// Another try for the connection `s` holds.
    func retryHeld(_ s: ServiceState) {
        guard let a = admission[s.name], let c = a.takeHeld() else { return }
        if s.config.stderr == .log && output.spare == nil && !makeSparePipe(for: s.name) {
            a.holdAgain(c)
            timers.add(.retryHeld(service: s.name), at: Nanoseconds.adding(now, Self.resourcePause))
            return
        }
        spawn(s, a, c)
        // Those that waited behind it, in order, while handlers start.
        while a.held == nil, var next = a.takeQueued() {
            // Screened when it came; its group may have filled per_source
            // or been penalised while it waited.
            if let group = next.group, let reason = a.rescreen(group, s.config.admission, now: now) {
                refuse(s, a, &next, reason)
                continue
            }
            guard hasSparePipe(s) else { hold(s, a, next, .tooManyOpenFiles); break }
            spawn(s, a, next)
        }
        guard a.held == nil else { return }
        if a.heldServed() { log.event(.notice, s.name, "resumed", [:]) }
        refresh(s, a)
    }

    /// Closes a held connection that will get no handler (swinetd stops),
    /// saying so.
    func dropHeld(_ s: ServiceState, reason: String) {
        for c in admission[s.name]?.takeAllHeld() ?? [] { refuseHeld(s, c, reason: reason) }
    }

    /// `s` left the table: its held connection is refused, and its
    /// admission state forgotten but for its running handlers' groups.
    func serviceRemoved(_ s: ServiceState) {
        for c in admission.removed(s.name) { refuseHeld(s, c, reason: "removed") }
        dropPendingHeaders(s, reason: "removed")
    }

    private func refuseHeld(_ s: ServiceState, _ c: Connection, reason: String) {
        refuseUnserved(s.name, fd: c.fd, peer: c.peer, reason: reason)
    }

    /// Closes a connection accepted for `service` that will get no handler
    /// for a reason of swinetd's own (the service left the table, swinetd
    /// stops, an upgrade could not place it): counted and logged, never
    /// dropped unsaid. Not rate-limited: their number is bounded by what
    /// was held or waiting.
    func refuseUnserved(_ service: String, fd: Int32, peer: sockaddr_storage, reason: String) {
        var peer = peer
        services[service]?.countRefused(reason)
        log.event(.info, service, "refused", ["peer": .string(peerText(&peer)), "reason": .string(reason)])
        closeDescriptor(fd)
    }
}
