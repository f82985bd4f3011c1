/// An address that did not open (a port another program held for a moment,
/// a file another user left at a socket path) is tried again on its own, as
/// FreeBSD's inetd retries a failed bind: after 5 seconds, then twice as
/// long each time up to a minute, until it opens or a reload no longer
/// names it. A sysadmin should not have to notice and reload; each try that
/// fails logs its one error line, so the log says why it still does not
/// serve, at most once a minute per address once the wait is at its longest.
extension Supervisor {
    static let unopenedFirstRetry: UInt64 = 5 * Nanoseconds.perSecond
    static let unopenedLastRetry: UInt64 = 60 * Nanoseconds.perSecond

    func scheduleUnopenedRetry(_ s: ServiceState) {
        guard !s.unopened.isEmpty, s.unopenedRetryAt == nil, !admission.stopping else { return }
        let at = Nanoseconds.adding(now, s.unopenedRetryDelay ?? Self.unopenedFirstRetry)
        s.unopenedRetryAt = at
        timers.add(.retryUnopened(service: s.name, at: at), at: at)
    }

    /// `at` tells this state's own timer from one a removed service of the
    /// same name left behind (timers are never cancelled).
    func retryUnopened(_ s: ServiceState, at: UInt64) {
        guard s.unopenedRetryAt == at else { return }
        s.unopenedRetryAt = nil
        guard !admission.stopping else { return }
        // A reload under way opens and closes addresses step by step from a
        // plan made at its start: try again once it is done.
        if reload.job != nil {
            scheduleUnopenedRetry(s)
            return
        }
        // A reload may have dropped the address, or opened it meanwhile.
        let wanted = Set(s.config.addresses)
        s.unopened = s.unopened.filter { wanted.contains($0.key) && listeners[$0.key] == nil }
        guard !s.unopened.isEmpty else {
            s.unopenedRetryDelay = nil
            return
        }
        // The next wait is longer whatever happens now; openListener
        // schedules it again for what still fails.
        s.unopenedRetryDelay = min(2 * (s.unopenedRetryDelay ?? Self.unopenedFirstRetry), Self.unopenedLastRetry)
        var opened = false
        for address in s.unopened.keys.sorted(by: { $0.description < $1.description }) where !listeners.isDeferred(address) {
            if openListener(address, for: s) { opened = true }
        }
        if opened { refresh(s) }
        if s.unopened.isEmpty { s.unopenedRetryDelay = nil }
    }
}
