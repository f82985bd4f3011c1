#if canImport(Glibc)
import Glibc
#endif

/// The one owner of admission's state: the limits every service shares
/// (`max_children`, a pause after running out of resources, stopping), and
/// per service name its `rate` bucket and pause episode, its screening
/// (allow/deny, and the client groups' `per_source` counts and
/// `source_rate` buckets), its refusal log, and a connection held for a
/// handler that could not start yet, with that retry's back-off. The
/// decisions are values (`Admission`, `SourceTable`, `RefusalLog`,
/// `TokenBucket`) driven by a clock passed in, so all of it is unit-tested
/// with no process and no socket; the loop logs and watches by what the
/// verbs return.
final class AdmissionControl {
    private(set) var limits = Admission()
    private var byService: [String: ServiceAdmission] = [:]

    var maxChildren: Int { limits.maxChildren }
    var stopping: Bool { limits.stopping }

    /// The state of the service named `name` (also of a removed one whose
    /// handlers still run, for their client groups).
    subscript(name: String) -> ServiceAdmission? { byService[name] }

    /// nil: the service accepts. Otherwise the first reason it does not.
    func pause(_ s: Admission.Service, total: Int, now: UInt64) -> PauseReason? {
        limits.pause(s, total: total, now: now)
    }

    func setMaxChildren(_ n: Int) { limits.maxChildren = n }

    /// Running out of resources was logged, and no accept has worked since.
    private var resourceTroubleLogged = false

    /// Every service pauses until `until` (descriptors or memory ran out).
    /// True when this is news for the log (one line per episode).
    @discardableResult
    func pauseForResources(until: UInt64) -> Bool {
        limits.resourcePauseUntil = until
        defer { resourceTroubleLogged = true }
        return !resourceTroubleLogged
    }

    /// An accept worked: the next running out is a new episode.
    func acceptWorked() { resourceTroubleLogged = false }

    /// True when the resource pause is over at `now` (and now forgotten).
    func resourcePauseEnds(now: UInt64) -> Bool {
        guard let until = limits.resourcePauseUntil, now >= until else { return false }
        limits.resourcePauseUntil = nil
        return true
    }

    func beginStopping() { limits.stopping = true }

    // MARK: The services

    /// A service of the table (new, or added back under a name whose
    /// handlers still run: their client groups stay counted; its rate and
    /// refusals start afresh, as a new service's).
    @discardableResult
    func added(_ name: String, _ rules: AdmissionRules, now: UInt64) -> ServiceAdmission {
        let fresh = ServiceAdmission(rules, now: now, sources: byService[name]?.sources ?? SourceTable())
        byService[name] = fresh
        return fresh
    }

    /// A service's rules changed: a changed `rate` starts a new bucket.
    func changed(_ name: String, _ rules: AdmissionRules, now: UInt64) {
        byService[name]?.update(rules, now: now)
    }

    /// A service left the table: returns its held connection (the caller
    /// refuses it). Its running handlers stay counted by client group (a
    /// service added back under the name counts them); its buckets go.
    func removed(_ name: String) -> Connection? {
        guard let a = byService[name] else { return nil }
        let held = a.takeHeld()
        a.retire()
        if a.sources.isEmpty { byService[name] = nil }
        return held
    }

    /// A handler of `service` in client group `group` started (or was adopted).
    func handlerStarted(_ service: String, group: PeerAddress) {
        entry(service).sourceStarted(group)
    }

    /// `service`'s state; for a name no longer in the table, a retired one
    /// made for it, which counts its handlers' client groups until the last
    /// ends (or a service added back under the name takes it over).
    private func entry(_ service: String) -> ServiceAdmission {
        if let a = byService[service] { return a }
        let a = ServiceAdmission(AdmissionRules(), now: 0, sources: SourceTable())
        a.retire()
        byService[service] = a
        return a
    }

    /// A handler of `service` (in client group `group`, if it has one)
    /// ended. Returns the service's state, still there (the loop's next
    /// steps need it: one lookup per reaped handler).
    @discardableResult
    func handlerEnded(_ service: String, group: PeerAddress?, now: UInt64) -> ServiceAdmission? {
        guard let a = byService[service] else { return nil }
        if let group { a.sourceEnded(group, now: now) }
        if a.isRetired && a.sources.isEmpty {
            byService[service] = nil
            return nil
        }
        return a
    }
}

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
    /// A connection accepted whose handler could not start for a reason
    /// that passes (the user at RLIMIT_NPROC): kept, and given a handler as
    /// soon as one of the service's handlers exits, or after a back-off.
    private(set) var held: Connection?
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
    }

    fileprivate func retire() {
        isRetired = true
        rateBucket = nil
        rateReadyAt = nil
        screens = false
        sources.forgetIdle()
    }

    private static func bucket(_ rules: AdmissionRules, now: UInt64) -> TokenBucket? {
        rules.rate.map { TokenBucket(interval: $0.interval, burst: UInt64(rules.rateBurst ?? $0.count), now: now) }
    }

    private static func screens(_ rules: AdmissionRules) -> Bool {
        !rules.allow.isEmpty || !rules.deny.isEmpty || rules.perSource != nil || rules.sourceRate != nil
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
        guard rules.perSource != nil || rules.sourceRate != nil else { return nil }
        return sources.admit(group, rules, now: now)
    }

    func sourceStarted(_ group: PeerAddress) { sources.started(group) }

    func sourceEnded(_ group: PeerAddress, now: UInt64) { sources.ended(group, now: now) }

    /// How to log a refusal (at most one line a second per reason).
    func refused(_ reason: RefusalReason, now: UInt64) -> RefusalLog.Decision { refusals.refused(reason, now: now) }

    /// The refusals left out of the log since the last line, for a summary.
    func takeSuppressed(_ reason: RefusalReason, now: UInt64) -> Int { refusals.takeSuppressed(reason, now: now) }

    // MARK: Held connections

    /// Keeps `c` for a later try (`e`: EAGAIN or ENOMEM). Returns why it
    /// is held, and whether that is news for the log (a new pause).
    func hold(_ c: Connection, _ e: Errno) -> (reason: PauseReason, isNews: Bool) {
        held = c
        holdReason = e == .noMemory ? .resources : .nproc
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

// MARK: Handover

extension AdmissionControl {
    /// What admission hands to the next image at an upgrade, so that no
    /// client gets a fresh budget from it: the rate buckets and episodes,
    /// each service's client groups (per_source counts, source_rate
    /// buckets), held connections with their back-off, and the resource
    /// pause. The clock is CLOCK_MONOTONIC, the same in both images.
    struct Snapshot: Codable {
        var resourcePauseUntil: UInt64?
        var services: [Service]

        struct Service: Codable {
            var name: String
            var rateBucket: TokenBucket?
            var rateReadyAt: UInt64?
            var rateEpisode: Bool
            var sources: SourceTable
            var held: Held?
            var holdReason: PauseReason
            var retryDelay: UInt64
            var loggedPause: PauseReason?
            var isRetired: Bool
        }

        /// A held connection: its descriptor (handed over open), its peer's
        /// sockaddr as bytes, and the address it came in on.
        struct Held: Codable {
            var fd: Int32
            var peer: [UInt8]
            var listener: ListenAddress
            var group: PeerAddress?
        }
    }

    func snapshot() -> Snapshot {
        Snapshot(resourcePauseUntil: limits.resourcePauseUntil,
                 services: byService.sorted { $0.key < $1.key }.map { $0.value.snapshot(name: $0.key) })
    }

    /// What adopting a snapshot leaves for the loop: the deadlines to time
    /// again in this image, and the held connections it could not place.
    struct Adopted {
        /// Held connections this image cannot serve: the caller refuses them.
        var unplaced: [(service: String, fd: Int32, peer: sockaddr_storage, why: Unplaced)] = []
        /// Services paused by `rate`, and when their next token is due.
        var rateReady: [(service: String, at: UInt64)] = []
        /// Services that hold a connection, to be tried again.
        var held: [String] = []
        var resourcePauseUntil: UInt64?
    }

    /// Why a held connection could not be placed, as the refusal's reason.
    enum Unplaced: String {
        /// The new table no longer names its service (a reload says the same).
        case serviceGone = "removed"
        /// Its address did not open in the new image.
        case addressGone = "address-gone"
    }

    /// Takes over the replaced image's state, after the table is loaded
    /// (`added` has made each service's state): a service whose `rate` is
    /// the same keeps its bucket, every service its client groups (with
    /// their running counts: the caller does not count adopted handlers
    /// again). A service no longer in the table is kept retired, for its
    /// running handlers' groups.
    func adopt(_ snapshot: Snapshot, listener: (ListenAddress) -> Listener?) -> Adopted {
        var adopted = Adopted()
        if let until = snapshot.resourcePauseUntil {
            limits.resourcePauseUntil = until
            adopted.resourcePauseUntil = until
        }
        for s in snapshot.services {
            let a = entry(s.name)
            if let h = a.adopt(s, listener: listener) {
                adopted.unplaced.append((s.name, h.fd, h.peer, a.isRetired ? .serviceGone : .addressGone))
            }
            if a.isRetired {
                // Only its running handlers' groups matter now (the idle
                // ones came back with the snapshot); with none, it goes,
                // as a removed service's state does at a reload.
                a.retire()
                if a.sources.isEmpty { byService[s.name] = nil }
                continue
            }
            if let at = a.rateReadyAt { adopted.rateReady.append((s.name, at)) }
            if a.held != nil { adopted.held.append(s.name) }
        }
        return adopted
    }
}

extension ServiceAdmission {
    func snapshot(name: String) -> AdmissionControl.Snapshot.Service {
        var heldSnapshot: AdmissionControl.Snapshot.Held?
        if var c = held {
            let bytes = withUnsafeBytes(of: &c.peer) { Array($0) }
            heldSnapshot = .init(fd: c.fd, peer: bytes, listener: c.listener.address, group: c.group)
        }
        return .init(name: name, rateBucket: rateBucket, rateReadyAt: rateReadyAt, rateEpisode: rateEpisode,
                     sources: sources, held: heldSnapshot, holdReason: holdReason, retryDelay: retry.upcoming,
                     loggedPause: loggedPause, isRetired: isRetired)
    }

    /// Returns the held connection it could not take back (its address is
    /// not open here, or the service left the table).
    fileprivate func adopt(_ s: AdmissionControl.Snapshot.Service, listener: (ListenAddress) -> Listener?) -> (fd: Int32, peer: sockaddr_storage)? {
        if let bucket = s.rateBucket, bucket.cost == rateBucket?.cost, bucket.burst == rateBucket?.burst {
            rateBucket = bucket
            rateReadyAt = s.rateReadyAt
            rateEpisode = s.rateEpisode
        }
        sources = s.sources
        retry = Backoff(first: Self.firstRetry, last: Self.lastRetry, upcoming: s.retryDelay)
        loggedPause = s.loggedPause
        holdReason = s.holdReason
        guard let h = s.held else { return nil }
        var peer = sockaddr_storage()
        withUnsafeMutableBytes(of: &peer) { $0.copyBytes(from: h.peer.prefix($0.count)) }
        guard !isRetired, let l = listener(h.listener) else { return (h.fd, peer) }
        held = Connection(fd: h.fd, peer: peer, listener: l, group: h.group)
        return nil
    }
}
