import Testing
@testable import SwinetdCore

/// The loop's decision of who accepts, with made-up counts and a fake clock.
@Suite struct AdmissionTests {
    func service(max: Int = 2, running: Int = 0, enabled: Bool = true, holding: PauseReason? = nil) -> Admission.Service {
        .init(maxConnections: max, enabled: enabled, running: running, holding: holding)
    }

    @Test func eachLimitPausesForItsReason() {
        var a = Admission()
        a.maxChildren = 10
        #expect(a.pause(service(), total: 0, now: 0) == nil)
        #expect(a.pause(service(running: 2), total: 2, now: 0) == .maxConnections)
        #expect(a.pause(service(running: 1), total: 10, now: 0) == .maxChildren)
        #expect(a.pause(service(enabled: false), total: 0, now: 0) == .disabled)
        #expect(a.pause(service(holding: .nproc), total: 0, now: 0) == .nproc)
        a.stopping = true
        #expect(a.pause(service(), total: 0, now: 0) == .stopping)
    }

    @Test func aResourcePauseEndsByItself() {
        var a = Admission()
        a.resourcePauseUntil = 1_000
        #expect(a.pause(service(), total: 0, now: 999) == .resources)
        #expect(a.pause(service(), total: 0, now: 1_000) == nil)
    }

    /// Bug 9 as values: the running count is kept by service name, so a
    /// service removed and added back while its two handlers run is at its
    /// limit of 2 at once.
    @Test func aServiceThatComesBackCountsItsRunningHandlers() {
        var children = ChildTable()
        children.add(101, Child(service: "limited", peer: "p", started: 0, counted: true))
        children.add(102, Child(service: "limited", peer: "p", started: 0, counted: true))
        // The reload that removes "limited" changes nothing here; the one
        // that adds it back creates a fresh service with the same name.
        let a = Admission()
        #expect(a.pause(service(max: 2, running: children.running("limited")), total: children.total, now: 0) == .maxConnections)
        _ = children.remove(101)
        #expect(a.pause(service(max: 2, running: children.running("limited")), total: children.total, now: 0) == nil)
    }

    @Test func aFailedSpawnCountsAgainstNothing() {
        var children = ChildTable()
        children.add(7, Child(service: "s", peer: "p", started: 0, counted: false))
        #expect(children.running("s") == 0 && children.total == 0)
        #expect(children.remove(7)?.counted == false)
        #expect(children.isEmpty)
        #expect(children.remove(7) == nil, "a pid that is not ours (the table loader) is ignored")
    }
}

/// A stop, step by step, with a fake clock.
@Suite struct StopSequenceTests {
    let second = Nanoseconds.perSecond

    @Test func handlersThatEndInTimeEndTheStop() {
        var stop = StopSequence(now: 0, grace: 5 * second)
        let early = stop.step(now: 1 * second, remaining: 2)
        #expect(early == .wait)
        let done = stop.step(now: 2 * second, remaining: 0)
        #expect(done == .abandon)
    }

    /// A handler stuck in uninterruptible sleep is never reaped: the stop
    /// still ends, at grace + killMargin, instead of waiting for it.
    @Test func aHandlerThatNeverEndsIsAbandonedAfterTheMargin() {
        var stop = StopSequence(now: 0, grace: 5 * second)
        let steps = [5 * second - 1, 5 * second, 6 * second, 5 * second + StopSequence.killMargin].map {
            stop.step(now: $0, remaining: 1)
        }
        #expect(steps == [.wait, .killAll, .wait, .abandon])
        #expect(stop.deadline == 5 * second + StopSequence.killMargin)
    }

    @Test func anEnormousGraceSaturates() {
        var stop = StopSequence(now: UInt64.max - 10, grace: Nanoseconds.from(seconds: 1e11))
        #expect(stop.deadline == UInt64.max)
        let step = stop.step(now: UInt64.max - 5, remaining: 1)
        #expect(step == .wait)
    }
}

@Suite struct TimeTests {
    @Test func arithmeticSaturates() {
        #expect(Nanoseconds.from(seconds: 1e9) == 1_000_000_000 * Nanoseconds.perSecond)
        #expect(Nanoseconds.from(seconds: 1e11) == .max, "--grace 1e11 once trapped here")
        #expect(Nanoseconds.from(seconds: 1e30) == .max)
        #expect(Nanoseconds.from(seconds: -1) == 0)
        #expect(Nanoseconds.from(seconds: .nan) == 0)
        #expect(Nanoseconds.adding(.max - 1, 5) == .max)
        #expect(Nanoseconds.since(3, 5) == 0)
        #expect(Nanoseconds.timeoutMilliseconds(until: .max, now: 0) == 60_000)
        #expect(Nanoseconds.timeoutMilliseconds(until: 5, now: 10) == 0)
        #expect(Nanoseconds.timeoutMilliseconds(until: 1_500_000, now: 0) == 2)
    }

    @Test func eventTokensRoundTripAndDiffer() throws {
        let a = EventToken.next(.output, fd: 9)
        let b = EventToken.next(.output, fd: 9)
        #expect(a != b, "the same descriptor number registered twice gets two tokens")
        #expect(EventToken(raw: a.raw) == a)
        #expect(EventToken(raw: 0) == nil)
        let big = EventToken(.listener, fd: Int32.max, generation: 0xFFFF_FFFF)
        #expect(EventToken(raw: big.raw) == big)
    }
}
