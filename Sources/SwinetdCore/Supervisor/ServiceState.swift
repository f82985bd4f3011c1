#if canImport(Glibc)
import Glibc
#endif

/// A service of the live table as the master sees it: its settings, the
/// spawn plan built from them, and what it holds while paused. Its running
/// count is not here but in the child table, by name.
final class ServiceState {
    var config: ServiceConfig {
        didSet {
            built = nil
            if config.admission.rate != oldValue.admission.rate || config.admission.rateBurst != oldValue.admission.rateBurst {
                rateBucket = Self.bucket(config.admission, now: monotonicNanoseconds())
                rateReadyAt = nil
            }
            screens = Self.screens(config.admission)
        }
    }
    /// The spawn plan, built at the first connection (a table of thousands
    /// of services costs a reload nothing for the ones never used).
    var plan: SpawnPlan {
        if let built { return built }
        let p = SpawnPlan(config)
        built = p
        return p
    }
    private var built: SpawnPlan?
    /// A connection accepted whose handler could not start for a reason
    /// that passes (the user at RLIMIT_NPROC): kept, and given a handler as
    /// soon as one of the service's handlers exits, or after a back-off.
    var held: Connection?
    /// Why it is held: `nproc` (EAGAIN) or `resources` (ENOMEM).
    var holdReason: PauseReason = .nproc
    /// The next back-off while holding with no handler running (doubles).
    var retryDelay = ServiceState.firstRetry
    /// The reason a pause was last logged for, so each episode logs one
    /// `paused` and one `resumed` line.
    var loggedPause: PauseReason?

    /// `rate`'s bucket: when empty the service stops accepting until a
    /// token is due (`rateReadyAt`), so clients wait in the kernel's queue.
    var rateBucket: TokenBucket?
    var rateReadyAt: UInt64?
    /// A rate pause was logged and its `resumed` is not yet: one pair of
    /// lines per episode, however many tokens it waits for.
    var rateEpisode = false
    /// Whether a connection must be looked at before it gets a handler
    /// (allow, deny, per_source, source_rate).
    var screens: Bool
    var refusals = RefusalLog()
    var counters = ServiceCounters()
    /// Its addresses that did not open (at start or at a reload), with
    /// why: the rest of the table serves anyway, `status` shows these, and
    /// they are tried again on their own and at the next reload.
    var unopened: [ListenAddress: String] = [:]
    /// The wait before the next try of `unopened` on its own (UnopenedRetry),
    /// and when that try is due, if it is scheduled.
    var unopenedRetryDelay: UInt64?
    var unopenedRetryAt: UInt64?

    static let firstRetry: UInt64 = 100 * Nanoseconds.perMillisecond
    static let lastRetry: UInt64 = 5 * Nanoseconds.perSecond

    init(_ config: ServiceConfig) {
        self.config = config
        rateBucket = Self.bucket(config.admission, now: monotonicNanoseconds())
        screens = Self.screens(config.admission)
    }

    private static func bucket(_ rules: AdmissionRules, now: UInt64) -> TokenBucket? {
        rules.rate.map { TokenBucket(interval: $0.interval, burst: UInt64(rules.rateBurst ?? $0.count), now: now) }
    }

    private static func screens(_ rules: AdmissionRules) -> Bool {
        !rules.allow.isEmpty || !rules.deny.isEmpty || rules.perSource != nil || rules.sourceRate != nil
    }

    var name: String { config.name }
}

/// An accepted connection on its way to a handler (or held, waiting for one).
struct Connection {
    var fd: Int32
    var peer: sockaddr_storage
    var listener: Listener
    /// The peer's client group (per `source_prefix`), whose handlers it counts under.
    var group: PeerAddress?
}
