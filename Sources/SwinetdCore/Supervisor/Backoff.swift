/// A wait that doubles at each try, from `first` to at most `last`, until
/// the thing waited for works and it starts over: a held connection's
/// retry (100 ms to 5 s), a wait service's socket its handler left unread
/// (1 s to a minute), an address that did not open (5 s to a minute).
/// A value, so its owners keep it `private(set)` and tests drive it alone.
struct Backoff: Equatable {
    let first: UInt64
    let last: UInt64
    /// The wait `next()` gives now.
    private(set) var upcoming: UInt64

    init(first: UInt64, last: UInt64) {
        self.first = first
        self.last = last
        upcoming = first
    }

    /// One that goes on where the replaced image's was (an upgrade hands
    /// over `upcoming`), kept within `first...last`.
    init(first: UInt64, last: UInt64, upcoming: UInt64) {
        self.init(first: first, last: last)
        self.upcoming = min(max(upcoming, first), last)
    }

    /// The wait before this try; the next is twice as long, at most `last`.
    mutating func next() -> UInt64 {
        let wait = upcoming
        // wait * 2 > last, without overflowing.
        upcoming = wait > last / 2 ? last : wait * 2
        return wait
    }

    /// It worked: the next wait is `first` again.
    mutating func reset() { upcoming = first }
}
