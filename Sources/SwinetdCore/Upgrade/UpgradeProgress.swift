#if canImport(Glibc)
import Glibc
#endif

/// Where an upgrade stands (see Upgrade.swift): asked for and not begun
/// yet, its new binary's check running, and the `swinetd upgrade` clients
/// waiting for the outcome. Changed only by its verbs.
struct UpgradeProgress {
    struct Check {
        let pid: pid_t
        let output: Int32
        fileprivate(set) var timedOut = false
    }
    /// Asked for, to begin once nothing else is in flight.
    private(set) var pending = false
    private(set) var check: Check?
    /// When the one under way began (CLOCK_MONOTONIC).
    private(set) var began: UInt64 = 0
    private(set) var waiters: [Conversations.Conversation] = []

    static let checkTimeout = 30 * Nanoseconds.perSecond
    /// How long a `swinetd upgrade` may wait for its answer.
    static let answerTimeout = checkTimeout + 30 * Nanoseconds.perSecond

    mutating func ask() { pending = true }

    /// swinetd stops: no upgrade begins.
    mutating func cancel() { pending = false }

    /// `waiter` is answered with the outcome.
    mutating func answerLater(_ waiter: Conversations.Conversation) { waiters.append(waiter) }

    /// The waiting clients, now to be answered.
    mutating func takeWaiters() -> [Conversations.Conversation] {
        defer { waiters = [] }
        return waiters
    }

    mutating func begin(at time: UInt64) {
        pending = false
        began = time
    }

    mutating func checkStarted(pid: pid_t, output: Int32) { check = Check(pid: pid, output: output) }

    /// True when `pid` is the check (to be killed: it took too long).
    mutating func checkTimedOut(_ pid: pid_t) -> Bool {
        guard check?.pid == pid else { return false }
        check?.timedOut = true
        return true
    }

    /// The check, if `pid` was it: it ended.
    mutating func checkEnded(_ pid: pid_t) -> Check? {
        guard let c = check, c.pid == pid else { return nil }
        check = nil
        return c
    }
}
