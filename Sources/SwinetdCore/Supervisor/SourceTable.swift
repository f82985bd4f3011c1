/// What one service knows of its client groups (peers masked by
/// `source_prefix`): how many handlers each runs and, with `source_rate`,
/// how many connections it may still make. A plain value with the clock
/// passed in, kept by service name so that a reload neither forgets the
/// handlers still running nor lets their group start more.
///
/// Memory is bounded. A group is kept only while it has a running handler
/// or a `source_rate` bucket that has not refilled. Buckets of groups with
/// no handler number at most `idleCapacity`; beyond that the least recently
/// seen are forgotten (those clients start again with a full bucket), so a
/// flood from a million addresses costs a few MB and never stops service.
/// Groups with handlers are never forgotten: they are at most the running
/// handlers.
struct SourceTable: Codable {
    static let idleCapacity = 65_536

    struct Entry: Codable {
        var running = 0
        var bucket: TokenBucket?
        var lastSeen: UInt64 = 0
    }

    private(set) var groups: [PeerAddress: Entry] = [:]
    /// The size at which idle entries are looked for next.
    private var sweepAt = 1024

    var isEmpty: Bool { groups.isEmpty }

    /// Whether a connection from `group` may have a handler now; the
    /// attempt is counted against its `source_rate`.
    mutating func admit(_ group: PeerAddress, _ rules: AdmissionRules, now: UInt64) -> RefusalReason? {
        guard rules.perSource != nil || rules.sourceRate != nil else { return nil }
        var entry = groups[group] ?? Entry()
        entry.lastSeen = now
        var refusal: RefusalReason?
        if let limit = rules.perSource, entry.running >= limit {
            refusal = .perSource
        }
        if let rate = rules.sourceRate {
            // A reload that changes the rate starts the group afresh.
            if entry.bucket?.cost != rate.interval || entry.bucket?.burst != UInt64(rate.count) {
                entry.bucket = TokenBucket(interval: rate.interval, burst: UInt64(rate.count), now: now)
            }
            if !entry.bucket!.take(now: now) && refusal == nil { refusal = .sourceRate }
        } else {
            entry.bucket = nil
        }
        store(group, entry, now: now)
        return refusal
    }

    /// A handler of `group` started.
    mutating func started(_ group: PeerAddress) {
        groups[group, default: Entry()].running += 1
    }

    /// A handler of `group` ended.
    mutating func ended(_ group: PeerAddress, now: UInt64) {
        guard var entry = groups[group] else { return }
        entry.running -= 1
        if entry.running <= 0 && (entry.bucket?.isFull(now: now) ?? true) {
            groups[group] = nil
        } else {
            groups[group] = entry
        }
    }

    func running(_ group: PeerAddress) -> Int { groups[group]?.running ?? 0 }

    /// Keeps only the groups with running handlers (their service is gone).
    mutating func forgetIdle() {
        groups = groups.filter { $0.value.running > 0 }.mapValues { Entry(running: $0.running) }
    }

    private mutating func store(_ group: PeerAddress, _ entry: Entry, now: UInt64) {
        let isNew = groups[group] == nil
        if entry.running == 0 && entry.bucket == nil {
            groups[group] = nil
            return
        }
        groups[group] = entry
        if isNew && groups.count >= sweepAt { sweep(now: now) }
    }

    /// Forgets groups that hold nothing any more (no handler, a full
    /// bucket); if the idle ones still exceed the capacity, forgets the
    /// least recently seen of them. Amortized: it runs when the table has
    /// doubled since the last sweep.
    mutating func sweep(now: UInt64) {
        groups = groups.filter { $0.value.running > 0 || !($0.value.bucket?.isFull(now: now) ?? true) }
        let idle = groups.filter { $0.value.running == 0 }
        if idle.count > Self.idleCapacity {
            let keep = Self.idleCapacity * 3 / 4
            for (group, _) in idle.sorted(by: { $0.value.lastSeen < $1.value.lastSeen }).prefix(idle.count - keep) {
                groups[group] = nil
            }
        }
        sweepAt = max(1024, min(groups.count * 2, groups.count + Self.idleCapacity / 4))
    }
}

/// How refusals of one service are logged: at most once a second per
/// reason, the rest summed into the next line as `suppressed=N` (they are
/// counted in ServiceCounters).
struct RefusalLog {
    static let every = Nanoseconds.perSecond

    private var lastLogged: [RefusalReason: UInt64] = [:]
    private(set) var suppressed: [RefusalReason: Int] = [:]

    enum Decision: Equatable {
        /// Log this refusal, with so many before it left out.
        case log(suppressed: Int)
        /// Leave it out; a summary is due at `summaryAt` if none came by then.
        case suppress(firstSince: Bool, summaryAt: UInt64)
    }

    mutating func refused(_ reason: RefusalReason, now: UInt64) -> Decision {
        if let last = lastLogged[reason], Nanoseconds.since(now, last) < Self.every {
            let n = suppressed[reason, default: 0]
            suppressed[reason] = n + 1
            return .suppress(firstSince: n == 0, summaryAt: Nanoseconds.adding(last, Self.every))
        }
        lastLogged[reason] = now
        return .log(suppressed: suppressed.removeValue(forKey: reason) ?? 0)
    }

    /// The refusals left out and not yet reported, for a summary line.
    mutating func takeSuppressed(_ reason: RefusalReason, now: UInt64) -> Int {
        guard let n = suppressed.removeValue(forKey: reason) else { return 0 }
        lastLogged[reason] = now
        return n
    }
}
