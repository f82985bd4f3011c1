@testable import SwinetdCore
import Testing

@Suite struct MasterCountersTests {
    func roundTrip(_ s: MasterCounters.Snapshot) throws -> MasterCounters.Snapshot {
        try PackedCoding.decode(MasterCounters.Snapshot.self, from: try PackedCoding.encode(s))
    }

    @Test func theCountsGoOnInTheNextImage() throws {
        var m = MasterCounters(startedAt: 100, startedMonotonic: 7)
        m.reloadApplied(at: 200, "applied added=1")
        m.reloadRejected(at: 300, "rejected errors=2")

        var next = MasterCounters(startedAt: 400, startedMonotonic: 9)
        next.adopt(try roundTrip(m.snapshot()))
        #expect(next.startedAt == 100 && next.startedMonotonic == 7, "the first start stays the start")
        next.reloadApplied(at: 500, "applied changed=1")
        #expect(next.reloadsApplied == 2 && next.reloadsRejected == 1, "counted on from the replaced image's counts")
        #expect(next.lastReload?.at == 500)
    }

    @Test func anImageThatNeverReloadedKeepsNoLastReload() throws {
        var next = MasterCounters(startedAt: 400, startedMonotonic: 9)
        next.adopt(try roundTrip(MasterCounters(startedAt: 1, startedMonotonic: 1).snapshot()))
        #expect(next.lastReload == nil && next.reloadsApplied == 0 && next.startedAt == 1)
    }
}
