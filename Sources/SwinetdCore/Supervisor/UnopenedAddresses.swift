/// The addresses a service names that did not open (at start, at a reload,
/// or at a retry), each with why, and when to try them again: the rest of
/// the table serves anyway, `status` shows these, and they are tried again
/// on their own (UnopenedRetry) and at the next reload. By service name;
/// changed only by these verbs, so the start, a reload, the retries and
/// `status` agree. The clock is passed in: unit-tested as values.
final class UnopenedAddresses {
    /// As FreeBSD's inetd retries a failed bind: after 5 seconds, then
    /// twice as long each time up to a minute.
    static let firstRetry: UInt64 = 5 * Nanoseconds.perSecond
    static let lastRetry: UInt64 = 60 * Nanoseconds.perSecond

    private struct Service {
        var failures: [ListenAddress: String] = [:]
        /// The wait before the next try on its own.
        var retry = Backoff(first: UnopenedAddresses.firstRetry, last: UnopenedAddresses.lastRetry)
        /// When that try is due, if it is scheduled.
        var retryAt: UInt64?
    }

    private var byService: [String: Service] = [:]

    /// `address` of `service` did not open, for `why`.
    func failed(_ address: ListenAddress, of service: String, why: String) {
        byService[service, default: Service()].failures[address] = why
    }

    /// `address` of `service` is open (or skipped): no longer a failure.
    func opened(_ address: ListenAddress, of service: String) {
        guard byService[service]?.failures.removeValue(forKey: address) != nil else { return }
        forgetIfIdle(service)
    }

    func isUnopened(_ address: ListenAddress, of service: String) -> Bool {
        byService[service]?.failures[address] != nil
    }

    /// What `status` shows: each address as text with why, sorted.
    func failures(of service: String) -> [(address: String, error: String)] {
        guard let failures = byService[service]?.failures else { return [] }
        return failures.map { ($0.key.description, $0.value) }.sorted { $0.address < $1.address }
    }

    /// `service`'s settings changed: an address it no longer names is no
    /// longer its failure.
    func keep(only wanted: Set<ListenAddress>, of service: String) {
        guard var s = byService[service] else { return }
        s.failures = s.failures.filter { wanted.contains($0.key) }
        byService[service] = s
    }

    /// `service` left the table. A timer it left behind finds nothing
    /// (`retryDue`), also when a service is added back under its name.
    func forget(_ service: String) { byService[service] = nil }

    // MARK: Retrying

    /// When the next try of `service`'s failures is due, if it should be
    /// scheduled now: nil when it has none or one is scheduled already.
    func scheduleRetry(of service: String, now: UInt64) -> UInt64? {
        guard var s = byService[service], !s.failures.isEmpty, s.retryAt == nil else { return nil }
        let at = Nanoseconds.adding(now, s.retry.upcoming)
        s.retryAt = at
        byService[service] = s
        return at
    }

    /// The timer for `at` fired: true when it is `service`'s own (not one
    /// a removed service of the same name left behind: timers are never
    /// cancelled); the try is then no longer scheduled.
    func retryDue(of service: String, at: UInt64) -> Bool {
        guard byService[service]?.retryAt == at else { return false }
        byService[service]?.retryAt = nil
        return true
    }

    /// A try begins: the addresses to open again, sorted, out of those
    /// still `wanted` and not `isOpen` (a reload may have dropped or opened
    /// one meanwhile). The next wait is longer whatever happens now; none
    /// left, it starts over.
    func beginRetry(of service: String, wanted: Set<ListenAddress>, isOpen: (ListenAddress) -> Bool) -> [ListenAddress] {
        guard var s = byService[service] else { return [] }
        s.failures = s.failures.filter { wanted.contains($0.key) && !isOpen($0.key) }
        if s.failures.isEmpty {
            s.retry.reset()
        } else {
            _ = s.retry.next()
        }
        byService[service] = s
        defer { forgetIfIdle(service) }
        return s.failures.keys.sorted { $0.description < $1.description }
    }

    /// The try is over: when everything opened, the wait starts over.
    func retryEnded(of service: String) {
        guard byService[service]?.failures.isEmpty == true else { return }
        byService[service]?.retry.reset()
        forgetIfIdle(service)
    }

    /// The wait before `service`'s next try (for tests and the log).
    func upcomingWait(of service: String) -> UInt64 {
        byService[service]?.retry.upcoming ?? Self.firstRetry
    }

    /// No failure and no try scheduled: nothing to keep (a fresh entry is
    /// the same, so a table of many services keeps only those that failed).
    private func forgetIfIdle(_ service: String) {
        guard let s = byService[service], s.failures.isEmpty, s.retryAt == nil else { return }
        byService[service] = nil
    }
}
