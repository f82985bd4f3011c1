#if canImport(Glibc)
import Glibc
#endif

/// One service's admission state (see AdmissionControl), changed only by
/// its verbs.
final class ServiceAdmission {
    /// `rate`'s bucket: when empty the service stops accepting until a
    /// token is due (`rateReadyAt`), so clients wait in the kernel's queue.
    private(set) var rateBucket: TokenBucket?
    private(set) var rateReadyAt: UInt64?
    /// A rate pause was logged and its `resumed` is not yet: one pair of
    /// lines per episode, however many tokens it waits for.
    private(set) var rateEpisode = false
    /// Whether a connection must be looked at before it gets a handler
    /// (allow, deny, per_source, source_rate).
    private(set) var screens: Bool
    private(set) var refusals = RefusalLog()
    /// Its client groups (per_source counts, source_rate buckets).
    private(set) var sources: SourceTable
    /// The client groups `penalty` keeps out.
    private(set) var penalties = PenaltyTable()
    /// How its groups are masked (a change makes the penalised groups meaningless).
    private var sourcePrefix: SourcePrefix
    /// A connection accepted whose handler could not start for a reason
    /// that passes (the user at RLIMIT_NPROC): kept, and given a handler as
    /// soon as one of the service's handlers exits, or after a back-off.
    private(set) var held: Connection?
    /// Connections ready for a handler that came while one is held (a
    /// PROXY header completed meanwhile): given one in order once the held
    /// one has its own. At most the service's waiting headers, so bounded
    /// by max_connections.
    private(set) var queued: [Connection] = []
    /// Why it is held: `nproc` (EAGAIN) or `resources` (ENOMEM).
    private(set) var holdReason: PauseReason = .nproc
    /// The back-off while holding with no handler running: 100 ms,
    /// doubling to 5 s.
    private(set) var retry = Backoff(first: ServiceAdmission.firstRetry, last: ServiceAdmission.lastRetry)
    /// The reason a pause was last logged for, so each episode logs one
    /// `paused` and one `resumed` line.
    private(set) var loggedPause: PauseReason?
    /// Its service left the table; kept only for its running handlers' groups.
    private(set) var isRetired = false

    static let firstRetry: UInt64 = 100 * Nanoseconds.perMillisecond
    static let lastRetry: UInt64 = 5 * Nanoseconds.perSecond

    init(_ rules: AdmissionRules, now: UInt64, sources: SourceTable) {
        sourcePrefix = rules.sourcePrefix
        rateBucket = Self.bucket(rules, now: now)
        screens = Self.screens(rules)
        self.sources = sources
    }

    func update(_ rules: AdmissionRules, now: UInt64) {
        let bucket = Self.bucket(rules, now: now)
        if bucket?.cost != rateBucket?.cost || bucket?.burst != rateBucket?.burst {
            rateBucket = bucket
            rateReadyAt = nil
        }
        screens = Self.screens(rules)
        // A penalty outlives a reload that keeps the key, not one that drops
        // it or groups clients otherwise; a lower `max` shortens what is left.
        if let p = rules.penalty, rules.sourcePrefix == sourcePrefix {
            penalties.limit(to: p.max, now: now)
        } else {
            penalties = PenaltyTable()
        }
        sourcePrefix = rules.sourcePrefix
    }

    /// Its service left the table: it keeps only its running handlers' client groups.
    func retire() {
        isRetired = true
        rateBucket = nil
        rateReadyAt = nil
        screens = false
        penalties = PenaltyTable()
        sources.forgetIdle()
    }

    private static func bucket(_ rules: AdmissionRules, now: UInt64) -> TokenBucket? {
        rules.rate.map { TokenBucket(interval: $0.interval, burst: UInt64(rules.rateBurst ?? $0.count), now: now) }
    }

    private static func screens(_ rules: AdmissionRules) -> Bool {
        !rules.allow.isEmpty || !rules.deny.isEmpty || rules.perSource != nil || rules.sourceRate != nil || rules.penalty != nil
    }

    /// What the decision needs to know of the service now.
    func view(_ config: ServiceConfig, running: Int) -> Admission.Service {
        Admission.Service(maxConnections: config.maxConnections, enabled: config.enabled, running: running,
                          holding: held == nil ? nil : holdReason, rateReadyAt: rateReadyAt)
    }

    // MARK: rate

    /// Whether `rate` lets a connection in now (no `rate`: always).
    func hasRateToken(now: UInt64) -> Bool { rateBucket?.hasToken(now: now) ?? true }

    /// A connection was accepted: it spends a token.
    func spendRateToken(now: UInt64) { _ = rateBucket?.take(now: now) }

    /// The bucket is empty: the service accepts nothing before `readyAt`.
    /// `episodeBegins`: the first of this episode (log `paused`). nil: no `rate`.
    func rateRanOut(now: UInt64) -> (readyAt: UInt64, episodeBegins: Bool)? {
        guard let bucket = rateBucket else { return nil }
        let ready = bucket.nextToken(now: now)
        rateReadyAt = ready
        let begins = !rateEpisode
        rateEpisode = true
        return (ready, begins)
    }

    /// A token is due at `now`: true when the service was waiting for it.
    func rateReady(now: UInt64) -> Bool {
        guard let ready = rateReadyAt, now >= ready else { return false }
        rateReadyAt = nil
        return true
    }

    /// A queue found empty: true when that ends a rate episode (log `resumed`).
    func rateEpisodeEnds() -> Bool {
        guard rateEpisode else { return false }
        rateEpisode = false
        return true
    }

    // MARK: Screening

    /// Why the connection from `peer` (in client group `group`) gets no
    /// handler, or nil. Counts it against its group's `source_rate`.
    func screen(_ peer: PeerAddress, group: PeerAddress, _ rules: AdmissionRules, now: UInt64) -> RefusalReason? {
        if rules.denies(peer) { return .denied }
        if rules.penalty != nil, !penalties.isEmpty, penalties.left(group, now: now) != nil { return .penalty }
        guard rules.perSource != nil || rules.sourceRate != nil else { return nil }
        return sources.admit(group, rules, now: now)
    }

    func sourceStarted(_ group: PeerAddress) { sources.started(group) }

    /// A connection screened when it came, about to start after waiting
    /// (queued behind a held one): its group's per_source and penalty as
    /// they are now (its source_rate token was spent when it came).
    func rescreen(_ group: PeerAddress, _ rules: AdmissionRules, now: UInt64) -> RefusalReason? {
        if rules.penalty != nil, penalties.left(group, now: now) != nil { return .penalty }
        if let limit = rules.perSource, sources.running(group) >= limit { return .perSource }
        return nil
    }

    // MARK: Penalties

    /// A handler of `group` ended as `rules` count against it.
    func penalise(_ group: PeerAddress, _ rules: PenaltyRules, now: UInt64) -> (length: UInt64, until: UInt64) {
        penalties.offence(group, rules, now: now)
    }

    func penaltyLeft(_ group: PeerAddress, now: UInt64) -> UInt64? { penalties.left(group, now: now) }

    func sourceEnded(_ group: PeerAddress, now: UInt64) { sources.ended(group, now: now) }

    /// How to log a refusal (at most one line a second per reason).
    func refused(_ reason: RefusalReason, now: UInt64) -> RefusalLog.Decision { refusals.refused(reason, now: now) }

    /// The refusals left out of the log since the last line, for a summary.
    func takeSuppressed(_ reason: RefusalReason, now: UInt64) -> Int { refusals.takeSuppressed(reason, now: now) }

    // MARK: Held connections

    /// Keeps `c` for a later try (`e`: EAGAIN or ENOMEM). Returns why it
    /// is held, and whether that is news for the log (a new pause).
    func hold(_ c: Connection, _ e: Errno) -> (reason: PauseReason, isNews: Bool) {
        precondition(held == nil, "swinetd bug: a second connection held; it waits in the queue")
        held = c
        // EAGAIN: the user's RLIMIT_NPROC; ENOMEM, EMFILE...: the master's resources.
        holdReason = e == .resourceTemporarilyUnavailable ? .nproc : .resources
        let isNews = loggedPause != holdReason
        loggedPause = holdReason
        return (holdReason, isNews)
    }

    /// The back-off before the next try while no handler of the service
    /// runs: 100 ms, doubling to 5 s.
    func nextRetryDelay() -> UInt64 { retry.next() }

    /// Takes the held connection for a try (or to refuse it).
    func takeHeld() -> Connection? {
        defer { held = nil }
        return held
    }

    /// `c` waits behind the held connection.
    func queue(_ c: Connection) { queued.append(c) }

    /// The next connection that waited behind the held one.
    func takeQueued() -> Connection? { queued.isEmpty ? nil : queued.removeFirst() }

    /// Every connection held or queued, taken (to be refused).
    func takeAllHeld() -> [Connection] {
        defer { held = nil; queued = [] }
        return (held.map { [$0] } ?? []) + queued
    }

    /// The try could not even begin (no pipe): held again as it was.
    func holdAgain(_ c: Connection) { held = c }

    /// The held connection got its handler: the back-off starts over.
    /// True when a pause was logged (log `resumed`).
    func heldServed() -> Bool {
        retry.reset()
        defer { loggedPause = nil }
        return loggedPause != nil
    }
}

extension ServiceAdmission {
    func snapshot(name: String) -> AdmissionControl.Snapshot.Service {
        func snapshot(_ c: Connection) -> AdmissionControl.Snapshot.Held {
            .init(fd: c.fd, peer: c.peer.bytes, listener: c.listener.address, group: c.group, proxy: c.proxy, isBalancer: c.isBalancer,
                  headerLength: c.headerLength)
        }
        let heldSnapshot = held.map(snapshot)
        return .init(name: name, rateBucket: rateBucket, rateReadyAt: rateReadyAt, rateEpisode: rateEpisode,
                     sources: sources, held: heldSnapshot, holdReason: holdReason, retryDelay: retry.upcoming,
                     loggedPause: loggedPause, isRetired: isRetired, penalties: penalties.isEmpty ? nil : penalties,
                     queued: queued.isEmpty ? nil : queued.map(snapshot))
    }

    /// Returns the held and queued connections it could not take back
    /// (their address is not open here, or the service left the table).
    func adopt(_ s: AdmissionControl.Snapshot.Service, listener: (ListenAddress) -> Listener?) -> [(fd: Int32, peer: sockaddr_storage)] {
        if let bucket = s.rateBucket, bucket.cost == rateBucket?.cost, bucket.burst == rateBucket?.burst {
            rateBucket = bucket
            rateReadyAt = s.rateReadyAt
            rateEpisode = s.rateEpisode
        }
        sources = s.sources
        if !isRetired, let kept = s.penalties { penalties = kept }
        retry = Backoff(first: Self.firstRetry, last: Self.lastRetry, upcoming: s.retryDelay)
        loggedPause = s.loggedPause
        holdReason = s.holdReason
        var unplaced: [(fd: Int32, peer: sockaddr_storage)] = []
        for h in (s.held.map { [$0] } ?? []) + (s.queued ?? []) {
            let peer = sockaddr_storage(bytes: h.peer)
            guard !isRetired, let l = listener(h.listener) else { unplaced.append((h.fd, peer)); continue }
            let c = Connection(fd: h.fd, peer: peer, listener: l, group: h.group, proxy: h.proxy, isBalancer: h.isBalancer ?? false,
                               headerLength: h.headerLength ?? 0)
            // The first placed is held, the others wait behind it, as before.
            if held == nil { held = c } else { queued.append(c) }
        }
        return unplaced
    }
}
