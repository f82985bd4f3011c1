/// `penalty`'s memory of one service's client groups: which are kept out
/// and until when, as a plain value with the clock passed in.
///
/// An offence (a handler that ended as `penalty` counts) gives the group
/// `add`; another while the group is penalised, or within `max` after its
/// penalty ended, doubles the last one, up to `max`. A group quiet for
/// `max` after its penalty ended is forgotten: its next offence starts
/// from `add` again. Memory is bounded: at most `capacity` groups are
/// kept; beyond that the ones whose penalty ends soonest are forgotten
/// (a few MB whatever a flood of sources does).
struct PenaltyTable: Codable, Equatable {
    static let capacity = 65_536

    struct Entry: Codable, Equatable {
        /// Refused until then.
        var until: UInt64
        /// The length of the last penalty given.
        var last: UInt64
    }

    private(set) var groups: [PeerAddress: Entry] = [:]
    /// The size at which forgotten groups are looked for next.
    private var sweepAt = 1024

    var isEmpty: Bool { groups.isEmpty }

    /// A handler of `group` ended as `rules` count: returns the penalty
    /// given and when the group's penalty ends now.
    mutating func offence(_ group: PeerAddress, _ rules: PenaltyRules, now: UInt64) -> (length: UInt64, until: UInt64) {
        var length = rules.add
        if let e = groups[group], now < Nanoseconds.adding(e.until, rules.max) {
            let doubled = e.last.multipliedReportingOverflow(by: 2)
            length = min(doubled.overflow ? rules.max : doubled.partialValue, rules.max)
        }
        let until = max(groups[group]?.until ?? 0, Nanoseconds.adding(now, length))
        groups[group] = Entry(until: until, last: length)
        if groups.count >= sweepAt { sweep(rules, now: now) }
        return (length, until)
    }

    /// A reload lowered `max`: no group is kept out longer than it from now.
    mutating func limit(to max: UInt64, now: UInt64) {
        let latest = Nanoseconds.adding(now, max)
        for (group, e) in groups where e.until > latest || e.last > max {
            groups[group] = Entry(until: Swift.min(e.until, latest), last: Swift.min(e.last, max))
        }
    }

    /// How many groups are kept out now.
    func count(now: UInt64) -> Int { groups.values.reduce(0) { $0 + ($1.until > now ? 1 : 0) } }

    /// How long `group` is still kept out (nil: it is not).
    func left(_ group: PeerAddress, now: UInt64) -> UInt64? {
        guard let e = groups[group], e.until > now else { return nil }
        return e.until - now
    }

    /// The groups kept out now with the time left, longest first, at most
    /// `limit` of them (`status -v` lists a page, not a flood's worth).
    func penalised(now: UInt64, limit: Int) -> [(group: PeerAddress, left: UInt64)] {
        let kept = groups.compactMap { $0.value.until > now ? ($0.key, $0.value.until - now) : nil }
        func before(_ a: (group: PeerAddress, left: UInt64), _ b: (group: PeerAddress, left: UInt64)) -> Bool {
            a.left != b.left ? a.left > b.left : (a.group.high, a.group.low) < (b.group.high, b.group.low)
        }
        return Array(kept.sorted(by: before).prefix(limit))
    }

    /// Forgets the groups quiet for `max` since their penalty ended; if
    /// `capacity` remain, the ones whose penalty ends soonest, down to
    /// three quarters of it.
    /// Amortized: it runs when the table has grown since the last sweep.
    mutating func sweep(_ rules: PenaltyRules, now: UInt64) {
        groups = groups.filter { now < Nanoseconds.adding($0.value.until, rules.max) }
        if groups.count >= Self.capacity {
            let keep = Self.capacity * 3 / 4
            for (group, _) in groups.sorted(by: { $0.value.until < $1.value.until }).prefix(groups.count - keep) {
                groups[group] = nil
            }
        }
        sweepAt = max(1024, min(groups.count * 2, Self.capacity))
    }
}
