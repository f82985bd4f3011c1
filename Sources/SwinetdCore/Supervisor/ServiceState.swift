#if canImport(Glibc)
import Glibc
#endif

/// A service of the live table as the master sees it: its settings, the
/// spawn plan built from them, and its counters. Its running count is in
/// the child table (Children), its admission state in AdmissionControl,
/// its sockets in Listeners, its addresses that did not open in
/// UnopenedAddresses, each by name.
final class ServiceState {
    private(set) var config: ServiceConfig {
        didSet { built = nil; exposure = nil }
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
    private(set) var counters = ServiceCounters()

    init(_ config: ServiceConfig) {
        self.config = config
    }

    var name: String { config.name }

    /// What its handlers are kept from, for `status`: computed at the first
    /// request after the table (re)set the service, so that a status poll
    /// over a thousand services does not redo it for each.
    var security: SecurityExposure {
        if let exposure { return exposure }
        let made = SecurityExposure(config)
        exposure = made
        return made
    }
    private var exposure: SecurityExposure?

    /// A reload changed its settings: the spawn plan is built again at
    /// its next connection.
    func change(to config: ServiceConfig) { self.config = config }

    /// A connection (or a wait service's socket) was given a handler; one
    /// whose exec failed counts besides as exec-failed.
    func countAccepted(execFailed: Bool) {
        counters.accepted &+= 1
        if execFailed { counters.execFailed &+= 1 }
    }

    /// A connection closed with no handler, for `reason`.
    func countRefused(_ reason: String) { counters.refuse(reason) }

    /// A client group was penalised.
    func countPenalty() { counters.penalties = (counters.penalties ?? 0) &+ 1 }

    /// One of its handlers ended.
    func countExit(_ status: ExitStatus, duration: UInt64) { counters.exited(status, duration: duration) }

    /// The replaced image's counters (an upgrade).
    func adoptCounters(_ replaced: ServiceCounters) { counters = replaced }
}

/// An accepted connection on its way to a handler (or held, waiting for one).
struct Connection {
    var fd: Int32
    var peer: sockaddr_storage
    var listener: Listener
    /// The peer's client group (per `source_prefix`), whose handlers it counts under.
    var group: PeerAddress?
    /// What a load balancer's PROXY header said (then `peer` is the client it named).
    var proxy: ProxyFacts? = nil
    /// A balancer's own connection (a LOCAL header: a health check): only
    /// allow and deny apply to it, and it counts in no client group.
    var isBalancer = false
    /// The PROXY header's length, still at the start of the stream: the
    /// handler's process discards it before execve.
    var headerLength = 0
}
