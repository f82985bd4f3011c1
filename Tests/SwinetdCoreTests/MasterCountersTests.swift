@testable import SwinetdCore
import Testing

@Suite struct MasterCountersTests {
    @Test func reloadsAreCountedAndTheLastOneKeptAcrossAnUpgrade() {
        var m = MasterCounters(startedAt: 100, startedMonotonic: 7)
        m.reloadApplied(at: 200, "applied added=1")
        m.reloadRejected(at: 300, "rejected errors=2")
        #expect(m.reloadsApplied == 1 && m.reloadsRejected == 1)
        #expect(m.lastReload?.at == 300 && m.lastReload?.result == "rejected errors=2")

        var next = MasterCounters(startedAt: 400, startedMonotonic: 9)
        next.adopt(startedAt: m.startedAt, startedMonotonic: m.startedMonotonic, reloadsApplied: m.reloadsApplied,
                   reloadsRejected: m.reloadsRejected, lastReload: m.lastReload)
        #expect(next.startedAt == 100 && next.startedMonotonic == 7 && next.reloadsApplied == 1 && next.reloadsRejected == 1)
        #expect(next.lastReload?.result == "rejected errors=2")
        next.adopt(startedAt: 1, startedMonotonic: 1, reloadsApplied: 0, reloadsRejected: 0, lastReload: nil)
        #expect(next.lastReload?.result == "rejected errors=2", "an image that never reloaded leaves the last reload as it was")
    }
}
