@testable import SwinetdCore
import Testing

/// The addresses that did not open and their retries, as values with a
/// fake clock: no socket.
@Suite struct UnopenedAddressesTests {
    let a = ListenAddress(family: .ipv4, ipOrPath: [127, 0, 0, 1], port: 7001)
    let b = ListenAddress(family: .ipv4, ipOrPath: [127, 0, 0, 1], port: 7002)
    let second = Nanoseconds.perSecond

    @Test func aFailureIsRetriedAfter5SecondsThenTwiceAsLongUpToAMinute() {
        let u = UnopenedAddresses()
        u.failed(a, of: "s", why: "Address already in use")
        var now: UInt64 = 1000
        var waits: [UInt64] = []
        for _ in 0..<6 {
            guard let at = u.scheduleRetry(of: "s", now: now) else { Issue.record("not scheduled"); return }
            #expect(u.scheduleRetry(of: "s", now: now) == nil, "one try scheduled at a time")
            waits.append((at - now) / second)
            now = at
            #expect(u.retryDue(of: "s", at: at))
            #expect(u.beginRetry(of: "s", wanted: [a], isOpen: { _ in false }) == [a])
            u.failed(a, of: "s", why: "Address already in use")   // it fails again
        }
        #expect(waits == [5, 10, 20, 40, 60, 60])
    }

    @Test func whatOpenedOrIsNoLongerWantedIsNotTriedAndTheWaitStartsOver() {
        let u = UnopenedAddresses()
        u.failed(a, of: "s", why: "x")
        u.failed(b, of: "s", why: "y")
        let at = u.scheduleRetry(of: "s", now: 0)!
        #expect(u.retryDue(of: "s", at: at))
        #expect(u.beginRetry(of: "s", wanted: [a, b], isOpen: { $0 == b }) == [a], "b opened meanwhile (a reload)")
        #expect(u.upcomingWait(of: "s") == 10 * second)
        u.opened(a, of: "s")
        u.retryEnded(of: "s")
        #expect(u.failures(of: "s").isEmpty && u.upcomingWait(of: "s") == 5 * second)
        #expect(u.scheduleRetry(of: "s", now: 0) == nil, "nothing left to try")

        u.failed(a, of: "s", why: "x")
        u.keep(only: [b], of: "s")
        #expect(u.failures(of: "s").isEmpty, "a reload that no longer names it: not its failure")
    }

    @Test func aRemovedServicesTimerDoesNothingForOneAddedBackUnderItsName() {
        let u = UnopenedAddresses()
        u.failed(a, of: "s", why: "x")
        let old = u.scheduleRetry(of: "s", now: 0)!
        u.forget("s")
        u.failed(a, of: "s", why: "x")
        let new = u.scheduleRetry(of: "s", now: 1)!
        #expect(!u.retryDue(of: "s", at: old))
        #expect(u.retryDue(of: "s", at: new))
    }

    @Test func statusShowsEachFailureSortedWithWhy() {
        let u = UnopenedAddresses()
        u.failed(b, of: "s", why: "y")
        u.failed(a, of: "s", why: "x")
        #expect(u.isUnopened(a, of: "s") && !u.isUnopened(a, of: "t"))
        #expect(u.failures(of: "s").map(\.address) == [a.description, b.description])
        #expect(u.failures(of: "s").map(\.error) == ["x", "y"])
    }
}
