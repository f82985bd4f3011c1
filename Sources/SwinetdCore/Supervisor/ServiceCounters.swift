/// What one service has done since swinetd started (or since the service
/// was added back): 64-bit counters that `status` and the metrics show.
/// They live in the ServiceState, so a reload keeps them for a kept
/// service, and a service removed and added back starts from zero.
struct ServiceCounters: Codable {
    var accepted: UInt64 = 0
    /// By reason (`denied`, `per-source`, `source-rate`, `spawn`, `removed`,
    /// `stopping`): a new reason needs no new field.
    var refused: [String: UInt64] = [:]
    var exitedOK: UInt64 = 0
    var exitedNonZero: UInt64 = 0
    var exitedBySignal: UInt64 = 0
    var execFailed: UInt64 = 0
    /// Penalties given to client groups (`penalty`); optional, so an older
    /// image's counters, handed over at an upgrade, still decode.
    var penalties: UInt64?
    /// Made at the first exit: a table of thousands of unused services costs nothing.
    var durations: DurationStats?

    mutating func refuse(_ reason: String) { refused[reason, default: 0] &+= 1 }

    mutating func exited(_ status: ExitStatus, duration: UInt64) {
        switch status {
        case .exited(0): exitedOK &+= 1
        case .exited: exitedNonZero &+= 1
        case .signaled: exitedBySignal &+= 1
        }
        if durations == nil { durations = DurationStats() }
        durations!.add(duration)
    }
}

/// Handler durations: a histogram since the start (for Prometheus) and the
/// last `window` durations (for p50 and p99 of what happens now).
struct DurationStats: Codable {
    /// Upper bounds in seconds, as Prometheus' `le` labels.
    static let bounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
    static let window = 256
    private static let boundNanoseconds: [UInt64] = bounds.map { UInt64($0 * 1e9) }

    /// Per bound, how many were at most it (not cumulative; +Inf is the last).
    private(set) var buckets = [UInt64](repeating: 0, count: bounds.count + 1)
    private(set) var count: UInt64 = 0
    private(set) var sumNanoseconds: UInt64 = 0
    private var recent: [UInt64] = []
    private var nextSlot = 0

    mutating func add(_ ns: UInt64) {
        let i = Self.boundNanoseconds.firstIndex { ns <= $0 } ?? Self.bounds.count
        buckets[i] &+= 1
        count &+= 1
        sumNanoseconds = Nanoseconds.adding(sumNanoseconds, ns)
        if recent.count < Self.window { recent.append(ns) } else { recent[nextSlot] = ns }
        nextSlot = (nextSlot + 1) % Self.window
    }

    /// The `q` quantile (0...1) of the recent window, in nanoseconds.
    func quantile(_ q: Double) -> UInt64? {
        guard !recent.isEmpty else { return nil }
        let sorted = recent.sorted()
        let rank = Int((q * Double(sorted.count)).rounded(.up)) - 1
        return sorted[max(0, min(sorted.count - 1, rank))]
    }

    /// Cumulative counts per bound, then +Inf, as Prometheus wants them.
    var cumulative: [UInt64] {
        var total: UInt64 = 0
        return buckets.map { total &+= $0; return total }
    }
}
