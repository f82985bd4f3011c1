import Testing
@testable import SwinetdCore

/// `penalty`'s decisions as a plain value with a made-up clock.
@Suite struct PenaltyTableTests {
    let s: UInt64 = 1_000_000_000
    var rules: PenaltyRules {
        var r = PenaltyRules()
        r.exitCodes = [7]
        r.add = 10 * s
        r.max = 60 * s
        return r
    }
    let client = PeerAddress.ipv4(0x7F00_0002)

    @Test func repeatsDoubleUpToMaxAndQuietForgets() {
        var t = PenaltyTable()
        var now = 1000 * s
        #expect(t.offence(client, rules, now: now) == (10 * s, now + 10 * s))
        #expect(t.left(client, now: now + 4 * s) == 6 * s)
        now += 11 * s
        #expect(t.left(client, now: now) == nil, "over")
        #expect(t.offence(client, rules, now: now).length == 20 * s)
        now += 21 * s
        #expect(t.offence(client, rules, now: now).length == 40 * s)
        now += 41 * s
        #expect(t.offence(client, rules, now: now).length == 60 * s, "capped at max")
        // Quiet for max after the penalty ended: forgotten, back to add.
        now += 60 * s + 60 * s
        #expect(t.offence(client, rules, now: now).length == 10 * s)
    }

    @Test func anOffenceWhilePenalisedExtendsIt() {
        var t = PenaltyTable()
        _ = t.offence(client, rules, now: 0)
        let (length, until) = t.offence(client, rules, now: 2 * s)
        #expect(length == 20 * s && until == 22 * s)
        #expect(t.penalised(now: 5 * s, limit: 10).map(\.left) == [17 * s] && t.count(now: 5 * s) == 1)
    }

    @Test func handlerEndingsThatCount() {
        var r = rules
        #expect(r.counts(.exited(7), lived: 10 * s, timedOut: false))
        #expect(!r.counts(.exited(1), lived: 10 * s, timedOut: false))
        #expect(!r.counts(.signaled(11), lived: 10 * s, timedOut: false))
        r.signals = true
        #expect(r.counts(.signaled(11), lived: 10 * s, timedOut: false))
        #expect(!r.counts(.signaled(15), lived: 10 * s, timedOut: true), "swinetd's own timeout is not the client's doing")
        r.shortRun = s
        #expect(r.counts(.exited(0), lived: s / 2, timedOut: false) && !r.counts(.exited(0), lived: 2 * s, timedOut: false))
    }

    /// A million distinct sources: the table keeps at most its capacity.
    @Test func aMillionSourcesStayWithinTheBound() {
        var t = PenaltyTable()
        var r = rules
        r.add = 3600 * s
        r.max = 3600 * s
        var most = 0
        for i in 0..<1_000_000 {
            _ = t.offence(.ipv4(UInt32(i)), r, now: UInt64(i) * 1000)
            most = max(most, t.groups.count)
        }
        #expect(most <= PenaltyTable.capacity, "\(most)")
        #expect(t.left(.ipv4(999_999), now: 1_000_000_000) != nil, "the newest are kept")
    }
}
