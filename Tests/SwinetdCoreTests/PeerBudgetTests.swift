import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SwinetdCore

/// The per-peer answer budget of the UDP builtins, on a made-up clock.
@Suite struct PeerBudgetTests {
    let second = Nanoseconds.perSecond
    let a: [UInt8] = [2, 0, 0x44, 0x63, 127, 0, 0, 1]
    let b: [UInt8] = [2, 0, 0x44, 0x64, 127, 0, 0, 1]

    @Test func aPeerAnsweredWithoutPauseRunsOutAndOthersDoNot() {
        var budget = PeerBudget()
        let start = 1000 * second
        // A bounce on loopback: the same peer back within microseconds.
        var granted = 0
        for i in 0..<1000 where budget.take(a, now: start + UInt64(i) * 1000) { granted += 1 }
        #expect(granted == Int(PeerBudget.burst), "\(granted)")
        let granted1 = budget.take(b, now: start + second / 2)
        #expect(granted1, "another peer has its own budget")
        // One token back after 1/rate s (200 ms), not two at 300 ms.
        let next = start + 3 * second / 10
        let granted2 = budget.take(a, now: next)
        #expect(granted2)
        let granted3 = budget.take(a, now: next + 1)
        #expect(!granted3)
        // After `refill` quiet seconds the whole burst is back.
        let later = next + PeerBudget.refill
        var again = 0
        for i in 0..<100 where budget.take(a, now: later + UInt64(i)) { again += 1 }
        #expect(again == Int(PeerBudget.burst), "\(again)")
    }

    @Test func aFloodOfNewPeersIsBoundedAndForgottenWhenQuiet() {
        var budget = PeerBudget()
        let start = 1000 * second
        var admitted = 0
        for i in 0..<PeerBudget.capacity where budget.take(withUnsafeBytes(of: UInt32(i)) { Array($0) }, now: start) { admitted += 1 }
        #expect(admitted == PeerBudget.capacity)
        let granted4 = budget.take(a, now: start + 1)
        #expect(!granted4, "full: a new peer is left unanswered, the table does not grow")
        let granted5 = budget.take(a, now: start + PeerBudget.refill)
        #expect(granted5, "the quiet ones are forgotten")
    }

    /// One host sending from thousands of ports is one peer: it cannot fill
    /// the table and leave every other client unanswered.
    @Test func aPeerIsItsAddressWhateverThePort() {
        func v4(_ a: UInt8, port: UInt16) -> sockaddr_storage {
            var s = sockaddr_storage()
            withUnsafeMutableBytes(of: &s) { raw in
                raw.storeBytes(of: sa_family_t(AF_INET), toByteOffset: 0, as: sa_family_t.self)
                raw[2] = UInt8(port >> 8); raw[3] = UInt8(port & 0xff)
                raw[4] = 127; raw[5] = 0; raw[6] = 0; raw[7] = a
            }
            return s
        }
        #expect(PeerBudget.key(v4(1, port: 1000)) == PeerBudget.key(v4(1, port: 60000)))
        #expect(PeerBudget.key(v4(1, port: 1000)) != PeerBudget.key(v4(2, port: 1000)))
        func v6(_ last: UInt8, port: UInt16, prefix: UInt8 = 0x20) -> sockaddr_storage {
            var s = sockaddr_storage()
            withUnsafeMutableBytes(of: &s) { raw in
                raw.storeBytes(of: sa_family_t(AF_INET6), toByteOffset: 0, as: sa_family_t.self)
                raw[2] = UInt8(port >> 8); raw[3] = UInt8(port & 0xff)
                raw[8] = prefix; raw[9] = 0x01; raw[23] = last
            }
            return s
        }
        #expect(PeerBudget.key(v6(1, port: 1)) == PeerBudget.key(v6(200, port: 9)), "one /64 is one peer")
        #expect(PeerBudget.key(v6(1, port: 1)) != PeerBudget.key(v6(1, port: 1, prefix: 0x30)))
        var mapped = v6(0, port: 5, prefix: 0)
        withUnsafeMutableBytes(of: &mapped) { raw in raw[9] = 0; raw[18] = 0xff; raw[19] = 0xff; raw[20] = 127; raw[23] = 1 }
        #expect(PeerBudget.key(mapped) == PeerBudget.key(v4(1, port: 6)), "an IPv4-mapped address is its IPv4 address")
        var budget = PeerBudget()
        let start = 1000 * second
        for port in 0..<UInt16(5000) { _ = budget.take(PeerBudget.key(v4(1, port: port)), now: start) }
        let other = budget.take(PeerBudget.key(v4(2, port: 7)), now: start)
        #expect(other, "another host is still answered")
    }
}
