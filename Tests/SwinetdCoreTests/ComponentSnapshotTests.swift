import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SwinetdCore

/// Each component's upgrade snapshot, encoded as the handover encodes it
/// (PackedCoding) and adopted by a fresh component: what limited a client
/// before still limits it after. Values only: no process, no socket.
@Suite struct ComponentSnapshotTests {
    let peer: PeerAddress = .ipv4(0x0A00_0001)
    let address = ListenAddress(family: .ipv4, ipOrPath: [127, 0, 0, 1], port: 7007)

    func roundTrip<T: Codable>(_ value: T) throws -> T {
        try PackedCoding.decode(T.self, from: try PackedCoding.encode(value))
    }

    @Test func aClientAtItsSourceRateAndASpentRateStayLimitedInTheNextImage() throws {
        var rules = AdmissionRules()
        rules.sourceRate = Rate(count: 1, seconds: 60)
        rules.rate = Rate(count: 1, seconds: 60)
        let old = AdmissionControl()
        let a = old.added("s", rules, now: 0)
        #expect(a.screen(peer, group: peer, rules, now: 0) == nil)
        #expect(a.screen(peer, group: peer, rules, now: 1) == .sourceRate)
        a.spendRateToken(now: 1)
        #expect(!a.hasRateToken(now: 1))

        let new = AdmissionControl()
        let b = new.added("s", rules, now: 2)
        #expect(b.screen(peer, group: peer, rules, now: 2) == nil, "a fresh image alone would let it in")
        let fresh = AdmissionControl()
        let c = fresh.added("s", rules, now: 2)
        #expect(fresh.adopt(try roundTrip(old.snapshot()), listener: { _ in nil }).unplaced.isEmpty)
        #expect(c.screen(peer, group: peer, rules, now: 2) == .sourceRate, "still at its source_rate after the upgrade")
        #expect(!c.hasRateToken(now: 2), "the rate's spent token stays spent")
    }

    @Test func aHeldConnectionComesAlongOrIsHandedBack() throws {
        let old = AdmissionControl()
        let a = old.added("s", AdmissionRules(), now: 0)
        let l = Listener(address: address, fd: -1, backlog: 1, owner: "s")
        _ = a.hold(Connection(fd: 42, peer: sockaddr_storage(), listener: l, group: peer), .resourceTemporarilyUnavailable)
        _ = a.nextRetryDelay()
        let snapshot = try roundTrip(old.snapshot())

        let new = AdmissionControl()
        let b = new.added("s", AdmissionRules(), now: 0)
        let adopted = new.adopt(snapshot, listener: { $0 == address ? l : nil })
        #expect(adopted.unplaced.isEmpty && adopted.held == ["s"], "tried again in the new image")
        #expect(b.held?.fd == 42 && b.held?.group == peer && b.holdReason == .nproc)
        #expect(b.nextRetryDelay() == 2 * ServiceAdmission.firstRetry, "the back-off goes on where it was")

        let other = AdmissionControl()
        other.added("s", AdmissionRules(), now: 0)
        let unplaced = other.adopt(snapshot, listener: { _ in nil }).unplaced
        #expect(unplaced.map(\.fd) == [42] && unplaced.map(\.why) == [.addressGone], "no such address here: handed back to be refused")

        let gone = AdmissionControl()
        let refused = gone.adopt(snapshot, listener: { $0 == address ? l : nil })
        #expect(refused.unplaced.map(\.fd) == [42] && refused.unplaced.map(\.why) == [.serviceGone],
                "the new table has no such service: refused as a reload's removal is")
        #expect(refused.held.isEmpty && gone["s"] == nil, "and nothing is kept for it")
    }

    /// A service the new table no longer names keeps only its running
    /// handlers' client groups (retired, until the last ends), never an
    /// entry with nothing in it that no handler's end would remove.
    @Test func aServiceGoneFromTheTableKeepsOnlyItsRunningGroups() throws {
        var rules = AdmissionRules()
        rules.sourceRate = Rate(count: 1, seconds: 60)
        let idle: PeerAddress = .ipv4(0x0A00_0002)
        let old = AdmissionControl()
        let busy = old.added("busy", rules, now: 0)
        _ = busy.screen(peer, group: peer, rules, now: 0)
        old.handlerStarted("busy", group: peer)
        let quiet = old.added("quiet", rules, now: 0)
        _ = quiet.screen(idle, group: idle, rules, now: 0)
        let snapshot = try roundTrip(old.snapshot())

        let new = AdmissionControl()
        #expect(new.adopt(snapshot, listener: { _ in nil }).unplaced.isEmpty)
        #expect(new["quiet"] == nil, "no handler of it runs: nothing to keep")
        let kept = try #require(new["busy"])
        #expect(kept.isRetired && kept.rateReadyAt == nil)
        #expect(new.handlerEnded("busy", group: peer, now: 1) == nil, "its last handler's end removes it")
        #expect(new["busy"] == nil)
    }

    @Test func aWaitSocketInBackOffStaysBackedOff() throws {
        let epoll = try Epoll()
        let old = Listeners(epoll: epoll)
        let l = Listener(address: address, fd: -1, backlog: 1, owner: "s")
        old.insert(l)
        let (until, _, _) = old.startBackoff(l, now: 10)
        old.giveToWaitHandler(l, 77, queueHead: 5)
        let snapshot = try roundTrip(old.snapshot())

        let new = Listeners(epoll: epoll)
        let m = Listener(address: address, fd: -1, backlog: 1, owner: "s")
        new.insert(m)
        #expect(new.adopt(snapshot).map(\.until) == [until], "its end is timed again")
        #expect(m.backoffUntil == until && m.backoff.upcoming == 2 * Listener.firstBackoff)
        #expect(m.waitHandler == 77 && m.queueHead == 5)
        #expect(new.watch("s", serviceAccepts: true, now: until).isEmpty && !m.watch.isOn, "its handler still has it")
    }

    @Test func handlersComeAlongWithTheirTimeouts() throws {
        let old = Children()
        #expect(old.add(10, Child(service: "s", peer: "p", started: 0, counted: true, deadline: 5)))
        #expect(!old.add(11, Child(service: "s", peer: "q", started: 0, counted: true)))
        let new = Children()
        #expect(new.adopt(try roundTrip(old.snapshot())), "a handler with a timeout: the sweep is scheduled")
        #expect(new.running("s") == 2 && new[10]?.deadline == 5)
    }
}
