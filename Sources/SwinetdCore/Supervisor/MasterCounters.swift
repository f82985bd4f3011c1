/// What the master itself has done: start time and reloads. Changed only
/// by its verbs (a reload's end, an upgrade's adoption); `status`, the
/// metrics and the upgrade handover read it.
struct MasterCounters {
    /// Wall-clock seconds since the epoch at start (for uptime and metrics);
    /// an upgrade keeps the first start's.
    private(set) var startedAt: Double
    private(set) var startedMonotonic: UInt64
    private(set) var reloadsApplied: UInt64 = 0
    private(set) var reloadsRejected: UInt64 = 0
    /// The last reload: when (wall clock) and what came of it.
    private(set) var lastReload: (at: Double, result: String)?

    init(startedAt: Double, startedMonotonic: UInt64) {
        self.startedAt = startedAt
        self.startedMonotonic = startedMonotonic
    }

    /// A reload was applied at `at` (wall clock); `summary` is what `status` shows of it.
    mutating func reloadApplied(at: Double, _ summary: String) {
        reloadsApplied &+= 1
        lastReload = (at, summary)
    }

    /// A reload was rejected at `at` (wall clock).
    mutating func reloadRejected(at: Double, _ summary: String) {
        reloadsRejected &+= 1
        lastReload = (at, summary)
    }

    /// The replaced image's counters (an upgrade): its start stays the start.
    mutating func adopt(startedAt: Double, startedMonotonic: UInt64, reloadsApplied: UInt64, reloadsRejected: UInt64,
                        lastReload: (at: Double, result: String)?) {
        self.startedAt = startedAt
        self.startedMonotonic = startedMonotonic
        self.reloadsApplied = reloadsApplied
        self.reloadsRejected = reloadsRejected
        if let lastReload { self.lastReload = lastReload }
    }
}
