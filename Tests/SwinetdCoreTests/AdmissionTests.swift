import Testing
#if canImport(Glibc)
import Glibc
#endif
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

/// AdmissionControl, the owner of admission's state, driven through its
/// verbs as values: a fake clock, made-up peers, no process and no socket.
@Suite struct AdmissionControlTests {
    let second = Nanoseconds.perSecond
    let peer: PeerAddress = .ipv4(0x0A00_0001)      // 10.0.0.1
    let other: PeerAddress = .ipv4(0x0A00_0002)     // 10.0.0.2

    func rules(rate: Rate? = nil, burst: Int? = nil, perSource: Int? = nil, sourceRate: Rate? = nil) -> AdmissionRules {
        var r = AdmissionRules()
        r.rate = rate
        r.rateBurst = burst
        r.perSource = perSource
        r.sourceRate = sourceRate
        return r
    }

    func connection() -> Connection {
        let address = ListenAddress(family: .ipv4, ipOrPath: [127, 0, 0, 1], port: 7007)
        return Connection(fd: -1, peer: sockaddr_storage(), listener: Listener(address: address, fd: -1, backlog: 1, owner: "s"))
    }

    func config(max: Int = 10) -> ServiceConfig {
        ServiceConfig(name: "s", listen: [], exec: "/bin/true", argv: ["true"], user: nil, group: nil, credentials: nil, env: [], cwd: "/",
                      maxConnections: max, backlog: 128, stderr: .log, enabled: true)
    }

    @Test func rateLetsTheBurstInThenPausesUntilTheNextTokenIsDue() throws {
        let control = AdmissionControl()
        let a = control.added("s", rules(rate: Rate(count: 2, seconds: 1)), now: 0)
        for _ in 0..<2 {
            #expect(a.hasRateToken(now: 0))
            a.spendRateToken(now: 0)
        }
        #expect(!a.hasRateToken(now: 0), "the burst (the rate's count) is spent")
        let (readyAt, begins) = try #require(a.rateRanOut(now: 0))
        #expect(readyAt == second / 2 && begins, "2/s: the next token half a second on; the episode begins")
        #expect(a.rateRanOut(now: 1)?.episodeBegins == false, "one episode, however many tokens it waits for")
        #expect(control.pause(a.view(config(), running: 0), total: 0, now: readyAt - 1) == .rate)
        #expect(!a.rateReady(now: readyAt - 1))
        #expect(a.rateReady(now: readyAt))
        #expect(control.pause(a.view(config(), running: 0), total: 0, now: readyAt) == nil)
        #expect(a.hasRateToken(now: readyAt))
        #expect(a.rateEpisodeEnds() && !a.rateEpisodeEnds(), "resumed is said once")
    }

    @Test func aChangedRateStartsANewBucketAndAnUnchangedOneKeepsItsSpentCredit() {
        let control = AdmissionControl()
        let a = control.added("s", rules(rate: Rate(count: 1, seconds: 60)), now: 0)
        a.spendRateToken(now: 0)
        control.changed("s", rules(rate: Rate(count: 1, seconds: 60)), now: 1)
        #expect(!a.hasRateToken(now: 1), "the same rate: the spent token stays spent")
        control.changed("s", rules(rate: Rate(count: 5, seconds: 60)), now: 2)
        #expect(a.hasRateToken(now: 2), "a new rate: a full bucket")
        control.changed("s", rules(), now: 3)
        #expect(a.hasRateToken(now: 3) && a.rateRanOut(now: 3) == nil, "no rate: never paused by it")
    }

    @Test func sourceRateRefusesAGroupOverItsRateAndNotAnother() {
        let control = AdmissionControl()
        let r = rules(sourceRate: Rate(count: 2, seconds: 1))
        let a = control.added("s", r, now: 0)
        #expect(a.screens)
        #expect(a.screen(peer, group: peer, r, now: 0) == nil)
        #expect(a.screen(peer, group: peer, r, now: 0) == nil)
        #expect(a.screen(peer, group: peer, r, now: 0) == .sourceRate)
        #expect(a.screen(other, group: other, r, now: 0) == nil, "each group has its own bucket")
        #expect(a.screen(peer, group: peer, r, now: second / 2) == nil, "a token half a second on")
    }

    @Test func perSourceCountsRunningHandlersByGroupAcrossARemoval() {
        let control = AdmissionControl()
        let r = rules(perSource: 1)
        let a = control.added("s", r, now: 0)
        #expect(a.screen(peer, group: peer, r, now: 0) == nil)
        control.handlerStarted("s", group: peer)
        #expect(a.screen(peer, group: peer, r, now: 0) == .perSource)
        #expect(a.screen(other, group: other, r, now: 0) == nil)
        // Removed and added back while the handler runs: it still counts.
        #expect(control.removed("s").isEmpty)
        let back = control.added("s", r, now: 1)
        #expect(back.screen(peer, group: peer, r, now: 1) == .perSource)
        control.handlerEnded("s", group: peer, now: 2)
        #expect(back.screen(peer, group: peer, r, now: 2) == nil)
        #expect(rules().perSource == nil && !control.added("t", rules(), now: 0).screens, "no rules: nothing to screen")
    }

    @Test func aRemovedServicesStateGoesWhenItsLastHandlerEnds() {
        let control = AdmissionControl()
        control.added("s", rules(perSource: 1), now: 0)
        control.handlerStarted("s", group: peer)
        _ = control.removed("s")
        #expect(control["s"] != nil, "kept for its running handler's group")
        control.handlerEnded("s", group: peer, now: 1)
        #expect(control["s"] == nil)
    }

    @Test func aHeldConnectionBacksOffDoublingToFiveSecondsAndStartsOverOnceServed() throws {
        let control = AdmissionControl()
        let a = control.added("s", rules(), now: 0)
        let (reason, news) = a.hold(connection(), .resourceTemporarilyUnavailable)
        #expect(reason == .nproc && news)
        #expect(control.pause(a.view(config(), running: 0), total: 0, now: 0) == .nproc)
        let ms = Nanoseconds.perMillisecond
        #expect((0..<8).map { _ in a.nextRetryDelay() / ms } == [100, 200, 400, 800, 1600, 3200, 5000, 5000])
        let c = try #require(a.takeHeld())
        #expect(a.held == nil)
        #expect(a.hold(c, .resourceTemporarilyUnavailable).isNews == false, "the same pause is not news")
        _ = a.takeHeld()
        #expect(a.hold(c, .noMemory) == (.resources, true))
        _ = a.takeHeld()
        #expect(a.hold(c, .tooManyOpenFiles) == (.resources, false), "out of descriptors is the master's resources too")
        _ = a.takeHeld()
        #expect(a.heldServed(), "a pause was logged: resumed")
        #expect(!a.heldServed())
        #expect(a.nextRetryDelay() == 100 * ms, "the back-off starts over")
        #expect(control.pause(a.view(config(), running: 0), total: 0, now: 0) == nil)
    }

    /// A connection queued behind a held one is looked at again when its
    /// turn comes: its group may have filled per_source or been penalised.
    @Test func aQueuedConnectionIsScreenedAgainAtItsTurn() {
        let control = AdmissionControl()
        var r = rules(perSource: 1)
        var p = PenaltyRules()
        p.exitCodes = [7]
        r.penalty = p
        let a = control.added("s", r, now: 0)
        let group = PeerAddress.ipv4(0x7F00_0002)
        #expect(a.rescreen(group, r, now: 0) == nil)
        a.sourceStarted(group)
        #expect(a.rescreen(group, r, now: 0) == .perSource)
        a.sourceEnded(group, now: 1)
        _ = a.penalise(group, p, now: 1)
        #expect(a.rescreen(group, r, now: 2) == .penalty)
        #expect(a.rescreen(group, r, now: 1 + p.add) == nil, "the penalty is over")
    }

    @Test func aRemovedServicesHeldConnectionIsHandedBackToBeRefused() {
        let control = AdmissionControl()
        let a = control.added("s", rules(), now: 0)
        _ = a.hold(connection(), .noMemory)
        #expect(control["s"]?.held != nil)
        a.queue(connection())
        #expect(control.removed("s").count == 2, "the held one and the one queued behind it")
        #expect(control["s"] == nil)
    }

    @Test func maxChildrenPausesEveryServiceAtTheGlobalCount() {
        let control = AdmissionControl()
        let a = control.added("s", rules(), now: 0)
        control.setMaxChildren(3)
        #expect(control.pause(a.view(config(), running: 1), total: 2, now: 0) == nil)
        #expect(control.pause(a.view(config(), running: 1), total: 3, now: 0) == .maxChildren)
        #expect(control.pause(a.view(config(max: 1), running: 1), total: 3, now: 0) == .maxConnections, "its own limit is said first")
        control.pauseForResources(until: 10)
        #expect(control.pause(a.view(config(), running: 0), total: 0, now: 9) == .resources)
        #expect(!control.resourcePauseEnds(now: 9) && control.resourcePauseEnds(now: 10))
        #expect(control.pause(a.view(config(), running: 0), total: 0, now: 10) == nil)
        control.beginStopping()
        #expect(control.pause(a.view(config(), running: 0), total: 0, now: 10) == .stopping)
    }
}
