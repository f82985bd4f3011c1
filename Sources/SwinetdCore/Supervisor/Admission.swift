/// Why a service does not accept now. Limits work by not watching: a
/// paused service's listeners leave the epoll set, so new connections wait
/// in the kernel's listen queue (UNP ch. 30) and are accepted once the
/// reason passes. Nothing is accepted only to be dropped.
enum PauseReason: String, Equatable, Codable {
    case maxConnections = "max_connections"
    case maxChildren = "max_children"
    /// Descriptors or memory ran out (EMFILE, ENFILE, ENOBUFS, ENOMEM).
    case resources
    /// A handler could not start because its user is at RLIMIT_NPROC; the
    /// connection is held and retried, nothing more is accepted meanwhile.
    case nproc
    /// `rate`'s bucket is empty until a token is due.
    case rate
    case stopping
    case disabled
}

/// The decision of whether a service accepts, as a plain value: counts and
/// a clock in, a reason (or none) out. The loop asks it whenever a count or
/// a setting changes and watches the service's listeners exactly when the
/// answer is "accept"; unit tests ask it with made-up counts and times.
struct Admission {
    var maxChildren = Defaults.maxChildren
    /// Every service pauses until then (running out of resources).
    var resourcePauseUntil: UInt64?
    var stopping = false

    /// What the decision needs to know of one service.
    struct Service {
        var maxConnections: Int
        var enabled: Bool
        /// Its handlers now (by name, so a service removed and added back
        /// while its old handlers run counts them).
        var running: Int
        /// Why a connection waits for a handler that could not start yet.
        var holding: PauseReason?
        /// When `rate` lets the next connection in (nil: it does now).
        var rateReadyAt: UInt64?
    }

    /// nil: the service accepts. Otherwise the first reason it does not, in
    /// the order a sysadmin would want to hear it.
    func pause(_ s: Service, total: Int, now: UInt64) -> PauseReason? {
        if stopping { return .stopping }
        if !s.enabled { return .disabled }
        if let held = s.holding { return held }
        if let until = resourcePauseUntil, now < until { return .resources }
        if s.running >= s.maxConnections { return .maxConnections }
        if total >= maxChildren { return .maxChildren }
        if let ready = s.rateReadyAt, now < ready { return .rate }
        return nil
    }
}

extension Supervisor {
    /// Watches a service's listeners exactly when admission says it accepts.
    func refresh(_ s: ServiceState) {
        refresh(s, admission[s.name])
    }

    /// The same, with the service's admission state at hand (the hot path
    /// has it: no second lookup by name).
    func refresh(_ s: ServiceState, _ a: ServiceAdmission?) {
        let accepts = admission.pause(admissionView(s, a), total: slotsTaken, now: now) == nil
        for (l, e) in listeners.watch(s.name, serviceAccepts: accepts, now: now) {
            log.event(.error, s.name, "error", ["op": .string("epoll_ctl"), "address": .string(l.address.description), "error": .string(e.text)])
        }
    }

    /// What admission needs to know of `s` now.
    func admissionView(_ s: ServiceState) -> Admission.Service {
        admissionView(s, admission[s.name])
    }

    private func admissionView(_ s: ServiceState, _ a: ServiceAdmission?) -> Admission.Service {
        // A balancer's connection waiting for its PROXY header holds a slot, as a handler does.
        let running = children.running(s.name) + proxyHeaders.count(s.name)
        return a?.view(s.config, running: running)
            ?? Admission.Service(maxConnections: s.config.maxConnections, enabled: s.config.enabled, running: running, holding: nil)
    }

    /// What counts against max_children: the handlers, and the connections
    /// from load balancers waiting for their PROXY header.
    var slotsTaken: Int { children.total + proxyHeaders.count }

    func refreshAll() {
        for s in services.values { refresh(s) }
    }
}
