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

    /// What the counters hand to the next image at an upgrade: all of them
    /// (the first start stays the start, and the reload counts go on).
    struct Snapshot: Codable, Equatable {
        var startedAt: Double
        var startedMonotonic: UInt64
        var reloadsApplied: UInt64
        var reloadsRejected: UInt64
        var lastReloadAt: Double?
        var lastReloadResult: String?
    }

    func snapshot() -> Snapshot {
        Snapshot(startedAt: startedAt, startedMonotonic: startedMonotonic, reloadsApplied: reloadsApplied,
                 reloadsRejected: reloadsRejected, lastReloadAt: lastReload?.at, lastReloadResult: lastReload?.result)
    }

    /// The replaced image's counters (an upgrade): its start stays the start.
    mutating func adopt(_ snapshot: Snapshot) {
        startedAt = snapshot.startedAt
        startedMonotonic = snapshot.startedMonotonic
        reloadsApplied = snapshot.reloadsApplied
        reloadsRejected = snapshot.reloadsRejected
        if let at = snapshot.lastReloadAt, let result = snapshot.lastReloadResult { lastReload = (at, result) }
    }
}
