/// An address that did not open (a port another program held for a moment,
/// a file another user left at a socket path) is tried again on its own, as
/// FreeBSD's inetd retries a failed bind: after 5 seconds, then twice as
/// long each time up to a minute, until it opens or a reload no longer
/// names it. A sysadmin should not have to notice and reload; each try that
/// fails logs its one error line, so the log says why it still does not
/// serve, at most once a minute per address once the wait is at its longest.
/// The addresses and their back-off are UnopenedAddresses'; this is the
/// loop's side: timers and opening.
extension Supervisor {
    func scheduleUnopenedRetry(_ s: ServiceState) {
        guard !admission.stopping, let at = unopened.scheduleRetry(of: s.name, now: now) else { return }
        timers.add(.retryUnopened(service: s.name, at: at), at: at)
    }

    /// `at` tells this service's own timer from one a removed service of
    /// the same name left behind (timers are never cancelled).
    func retryUnopened(_ s: ServiceState, at: UInt64) {
        guard unopened.retryDue(of: s.name, at: at), !admission.stopping else { return }
        // A reload under way opens and closes addresses step by step from a
        // plan made at its start: try again once it is done.
        if reload.job != nil {
            scheduleUnopenedRetry(s)
            return
        }
        // openListener schedules the next try for what still fails.
        var opened = false
        for address in unopened.beginRetry(of: s.name, wanted: Set(s.config.addresses), isOpen: { listeners[$0] != nil })
        where !listeners.isDeferred(address) {
            if openListener(address, for: s) { opened = true }
        }
        if opened { refresh(s) }
        unopened.retryEnded(of: s.name)
    }
}
