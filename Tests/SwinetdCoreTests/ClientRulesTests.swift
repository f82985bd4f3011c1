import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SwinetdCore

private func prefix(_ text: String) -> AddressPrefix { try! AddressPrefix.parse(text).get() }
private func v4(_ text: String) -> PeerAddress {
    let parts = text.split(separator: ".").map { UInt32($0)! }
    return .ipv4(parts[0] << 24 | parts[1] << 16 | parts[2] << 8 | parts[3])
}
private func v6(_ high: UInt64, _ low: UInt64) -> PeerAddress { .ipv6(high: high, low: low) }

/// The matcher behind allow and deny, and the grouping behind per_source.
@Suite struct AddressPrefixTests {
    @Test func prefixesParseAndMustBeCanonical() {
        #expect(prefix("10.0.0.0/8").description == "10.0.0.0/8")
        #expect(prefix("192.0.2.7").description == "192.0.2.7/32")
        #expect(prefix("::1").description == "::1/128")
        #expect(prefix("2001:db8::/32").description == "2001:db8::/32")
        #expect(AddressPrefix.parse("10.1.2.3/8") == .failure(.notCanonical("10.0.0.0/8")))
        #expect(AddressPrefix.parse("2001:db8::1/32") == .failure(.notCanonical("2001:db8::/32")))
        #expect(AddressPrefix.parse("example.com") == .failure(.hostName))
        #expect(AddressPrefix.parse("10.0.0.0/33") == .failure(.length(max: 32)))
        #expect(AddressPrefix.parse("10.0.0.0/") == .failure(.malformed))
        #expect(AddressPrefix.parse("10.0.0.0/-1") == .failure(.malformed))
        #expect(AddressPrefix.parse("1.2.3") == .failure(.malformed))
    }

    @Test func theMappedSpellingIsTheIPv4Prefix() {
        #expect(prefix("::ffff:10.0.0.0/104") == prefix("10.0.0.0/8"))
        #expect(prefix("::ffff:192.0.2.7") == prefix("192.0.2.7"))
        #expect(AddressPrefix.parse("::ffff:10.1.0.0/104") == .failure(.notCanonical("10.0.0.0/8")))
    }

    @Test func aPeerIsMatchedAsWhatItIsHoweverItArrives() {
        let set = PrefixSet([prefix("10.0.0.0/8"), prefix("2001:db8::/32")])
        #expect(set.contains(v4("10.9.8.7")))
        #expect(set.contains(v6(0, 0xffff_0a09_0807)), "::ffff:10.9.8.7 is the IPv4 peer 10.9.8.7")
        #expect(v6(0, 0xffff_0a09_0807) == v4("10.9.8.7"))
        #expect(!set.contains(v4("11.0.0.1")))
        #expect(set.contains(v6(0x2001_0db8_0000_0001, 5)))
        #expect(!set.contains(v6(0x2001_0db9_0000_0000, 5)))
        // An IPv6 prefix never matches an IPv4 peer, not even ::/0.
        #expect(!PrefixSet([prefix("::/0")]).contains(v4("10.0.0.1")))
        #expect(PrefixSet([prefix("0.0.0.0/0")]).contains(v6(0, 0xffff_0102_0304)))
    }

    @Test func denyWinsAndAllowRestricts() {
        var r = AdmissionRules()
        #expect(!r.denies(v4("192.0.2.1")))
        r.allow = PrefixSet([prefix("192.0.2.0/24")])
        r.deny = PrefixSet([prefix("192.0.2.7")])
        #expect(!r.denies(v4("192.0.2.1")))
        #expect(r.denies(v4("192.0.2.7")))
        #expect(r.denies(v4("198.51.100.1")))
    }

    @Test func ipv6ClientsAreGroupedByTheirSlash64() {
        let p = SourcePrefix()
        let a = v6(0x2001_0db8_0001_0002, 0x1), b = v6(0x2001_0db8_0001_0002, 0xdead_beef)
        #expect(p.group(a) == p.group(b), "one host's /64 is one client")
        #expect(p.group(a) != p.group(v6(0x2001_0db8_0001_0003, 0x1)))
        #expect(p.group(v4("10.0.0.1")) != p.group(v4("10.0.0.2")))
        let wide = SourcePrefix(ipv4: 24, ipv6: 48)
        #expect(wide.group(v4("10.0.0.1")) == wide.group(v4("10.0.0.200")))
        #expect(wide.group(a) == wide.group(v6(0x2001_0db8_0001_ffff, 9)))
    }
}

/// Per-source counts and rates as a value, with a fake clock.
@Suite struct SourceTableTests {
    let second: UInt64 = 1_000_000_000

    @Test func perSourceCountsRunningHandlersOfAGroup() {
        var t = SourceTable()
        var r = AdmissionRules()
        r.perSource = 2
        let g = v4("127.0.0.2")
        for _ in 0..<2 {
            #expect(t.admit(g, r, now: 0) == nil)
            t.started(g)
        }
        #expect(t.admit(g, r, now: 0) == .perSource)
        #expect(t.admit(v4("127.0.0.3"), r, now: 0) == nil)
        t.ended(g, now: 1)
        #expect(t.admit(g, r, now: 1) == nil)
        t.started(g)
        t.ended(g, now: 2)
        t.ended(g, now: 2)
        #expect(t.isEmpty, "a group with nothing running is forgotten")
    }

    @Test func sourceRateRefillsWithTheClock() {
        var t = SourceTable()
        var r = AdmissionRules()
        r.sourceRate = Rate(count: 2, seconds: 60)
        let g = v4("127.0.0.2")
        #expect(t.admit(g, r, now: 0) == nil)
        #expect(t.admit(g, r, now: 0) == nil)
        #expect(t.admit(g, r, now: second) == .sourceRate)
        #expect(t.admit(g, r, now: 31 * second) == nil, "one token every 30 s")
        #expect(t.admit(g, r, now: 31 * second) == .sourceRate)
    }

    @Test func aFloodOfDistinctGroupsStaysBounded() {
        var t = SourceTable()
        var r = AdmissionRules()
        r.sourceRate = Rate(count: 10, seconds: 60)
        r.perSource = 4
        let busy = v4("10.0.0.1")
        _ = t.admit(busy, r, now: 0)
        t.started(busy)
        for i in 0..<300_000 {
            _ = t.admit(.ipv4(0xC000_0000 | UInt32(i)), r, now: UInt64(i) * 1000)
        }
        #expect(t.groups.count <= SourceTable.idleCapacity + 1 + SourceTable.idleCapacity / 4)
        #expect(t.running(busy) == 1, "a group with a running handler is never forgotten")
        #expect(t.groups[.ipv4(0xC000_0000 | UInt32(299_999))] != nil, "the most recent are kept")
    }
}

@Suite struct RefusalLogTests {
    @Test func oneLineASecondPerReasonTheRestSummed() {
        var l = RefusalLog()
        let second: UInt64 = 1_000_000_000
        #expect(l.refused(.denied, now: 0) == .log(suppressed: 0))
        #expect(l.refused(.denied, now: 1) == .suppress(firstSince: true, summaryAt: second))
        #expect(l.refused(.denied, now: 2) == .suppress(firstSince: false, summaryAt: second))
        #expect(l.refused(.perSource, now: 3) == .log(suppressed: 0), "each reason has its own budget")
        #expect(l.refused(.denied, now: second + 5) == .log(suppressed: 2))
        _ = l.refused(.denied, now: second + 6)
        #expect(l.takeSuppressed(.denied, now: 2 * second + 5) == 1)
        #expect(l.takeSuppressed(.denied, now: 2 * second + 5) == 0)
    }
}

@Suite struct HandlerTimeoutTests {
    @Test func termAtTheDeadlineThenKill() {
        var t = ChildTable()
        let s: UInt64 = 1_000_000_000
        t.add(10, Child(service: "a", peer: "p", started: 0, counted: true, deadline: s))
        t.add(11, Child(service: "a", peer: "p", started: 0, counted: true))
        #expect(t.timed == 1)
        #expect(t.timeouts(now: s - 1, killAfter: 5 * s).isEmpty)
        #expect(t.timeouts(now: s, killAfter: 5 * s).map(\.signal) == [SIGTERM])
        #expect(t.timeouts(now: 2 * s, killAfter: 5 * s).isEmpty)
        #expect(t.timeouts(now: 6 * s, killAfter: 5 * s).map(\.signal) == [SIGKILL])
        #expect(t.timeouts(now: 20 * s, killAfter: 5 * s).isEmpty, "killed once")
        #expect(t.remove(10)?.timedOut == true)
        #expect(t.timed == 0)
        #expect(t.remove(11)?.timedOut == false)
    }

    @Test func rateHoldsTheServiceUntilItsTokenIsDue() {
        let a = Admission()
        var s = Admission.Service(maxConnections: 5, enabled: true, running: 0, holding: nil, rateReadyAt: 100)
        #expect(a.pause(s, total: 0, now: 99) == .rate)
        #expect(a.pause(s, total: 0, now: 100) == nil)
        s.rateReadyAt = nil
        #expect(a.pause(s, total: 0, now: 0) == nil)
    }
}
