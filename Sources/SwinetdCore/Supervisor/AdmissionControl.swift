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

    /// A service left the table: returns its held and queued connections
    /// (the caller refuses them). Its running handlers stay counted by client group (a
    /// service added back under the name counts them); its buckets go.
    func removed(_ name: String) -> [Connection] {
        guard let a = byService[name] else { return [] }
        let held = a.takeAllHeld()
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
            /// `penalty`'s groups (absent from an older image's snapshot).
            var penalties: PenaltyTable?
            /// Connections waiting behind the held one (absent from an older image's).
            var queued: [Held]?
        }

        /// A held connection: its descriptor (handed over open), its peer's
        /// sockaddr as bytes, and the address it came in on.
        struct Held: Codable {
            var fd: Int32
            var peer: [UInt8]
            var listener: ListenAddress
            var group: PeerAddress?
            /// What its PROXY header said (absent from an older image's snapshot).
            var proxy: ProxyFacts?
            var isBalancer: Bool?
            var headerLength: Int?
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
            for h in a.adopt(s, listener: listener) {
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
