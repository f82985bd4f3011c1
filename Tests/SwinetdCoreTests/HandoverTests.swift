import Foundation
import Testing
@testable import SwinetdCore
import CLinux
#if canImport(Glibc)
import Glibc
#endif

/// The plain values behind systemd, journald and upgrades: which prefix a
/// log line gets where, which handed-over socket an address takes, and the
/// upgrade's state surviving its trip through the memfd.
@Suite struct HandoverTests {
    @Test func theLinePrefixFollowsWhereTheLogGoes() throws {
        let path = NSTemporaryDirectory() + "handover-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        defer { close(fd); unlink(path) }
        var st = stat()
        #expect(fstat(fd, &st) == 0)
        let mine = "\(st.st_dev):\(st.st_ino)"
        #expect(Log.Prefix.choose(for: fd, timestamps: .auto, journalStream: mine) == .priority)
        #expect(Log.Prefix.choose(for: fd, timestamps: .always, journalStream: mine) == .priority)
        #expect(Log.Prefix.choose(for: fd, timestamps: .auto, journalStream: "\(st.st_dev):\(st.st_ino + 1)") == .time)
        #expect(Log.Prefix.choose(for: fd, timestamps: .auto, journalStream: "garbage") == .time)
        #expect(Log.Prefix.choose(for: fd, timestamps: .never, journalStream: nil) == .none)
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        #expect(Log.Prefix.choose(for: ends[1], timestamps: .auto, journalStream: nil) == .none)
        #expect(Log.Prefix.choose(for: ends[1], timestamps: .always, journalStream: nil) == .time)
    }

    @Test func aPriorityPrefixCarriesTheLevel() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]) }
        let log = Log(sink: .descriptor(ends[1]), prefix: .priority)
        log.event(.error, "swinetd", "error", ["op": .string("x")])
        log.event(.warning, "echo", "timeout", [:])
        log.event(.notice, "echo", "listening", [:])
        log.event(.info, "echo", "accepted", ["duration": .seconds(1_500_000)])
        close(ends[1])
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(ends[0], &buffer, buffer.count)
        #expect(String(decoding: buffer[0..<max(0, n)], as: UTF8.self)
                == "<3>swinetd: error op=x\n<4>echo: timeout\n<5>echo: listening\n<6>echo: accepted duration=0.001s\n")
    }

    @Test func jsonDurationsAreSecondsAsNumbers() {
        #expect(Log.secondsNumber(0) == "0")
        #expect(Log.secondsNumber(1_800_000) == "0.0018")
        #expect(Log.secondsNumber(12_000_000_000) == "12")
        #expect(Log.secondsNumber(1_000_000_001) == "1.000000001")
    }

    @Test func eachAddressTakesTheSocketBoundToIt() throws {
        var pool = InheritedSockets(activated: [])
        let a = ListenAddress(family: .ipv4, ipOrPath: [127, 0, 0, 1], port: 7007)
        let b = a.with(.udp)
        pool.add(10, a, origin: "upgrade")
        pool.add(11, b, origin: "upgrade")
        #expect(pool.take(b)?.fd == 11)
        #expect(pool.take(b) == nil)
        #expect(pool.take(ListenAddress(family: .ipv4, ipOrPath: [127, 0, 0, 1], port: 7008)) == nil)
        #expect(pool.takeAll().map(\.fd) == [10])
        #expect(pool.remaining.isEmpty)
    }

    @Test func aBoundSocketIsReadBackAsItsAddress() throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        #expect(r == 0)
        let got = try #require(SwinetdCore.Socket.boundAddress(fd))
        #expect(got.family == .ipv4 && got.ipOrPath == [127, 0, 0, 1] && got.transport == .udp && got.port != 0)
        #expect(SwinetdCore.Socket.boundAddress(-1) == nil)
    }

    @Test func theUpgradeStateSurvivesItsMemfd() throws {
        var counters = ServiceCounters()
        counters.accepted = 41
        counters.refuse("denied")
        counters.exited(.exited(0), duration: 2_000_000)
        let address = ListenAddress(family: .ipv6, ipOrPath: Array(repeating: 0, count: 15) + [1], port: 7007)
        let child = Child(service: "echo", peer: "[::1]:5000", started: 123, counted: true,
                          group: nil, deadline: 999, timeout: .terminated(killAt: 1999), waitAddress: address)
        // A connection's handler: the master's copy of the connection goes over too.
        var connected = Child(service: "echo", peer: "127.0.0.1:5001", started: 124, counted: true)
        connected.connection = 15
        let state = UpgradeState(
            version: "0.6.0", began: 7, startedAt: 1.5, startedMonotonic: 8, reloadsApplied: 3, reloadsRejected: 1,
            lastReloadAt: 2.5, lastReloadResult: "applied added=1", sockets: [.init(address: address, fd: 9, owner: "echo", waitHandler: 4242, queueHead: 1_796_321_020_018_733_490)],
            handlers: [.init(pid: 4242, child: child), .init(pid: 4343, child: connected)], counters: ["echo": counters], outputs: [.init(fd: 12, service: "echo", pid: 4242)],
            retiredWaitSockets: [address: 4242], deferredOpens: [address: "echo"], control: 13, pidFile: nil, waiters: [14], handlerNofile: 1024)
        let fd = try state.write().get()
        let back = try #require(UpgradeState.read(fd))
        #expect(back.handlers.first?.child == child)
        #expect(back.counters["echo"]?.accepted == 41 && back.counters["echo"]?.refused == ["denied": 1])
        #expect(back.counters["echo"]?.durations?.count == 1)
        #expect(back.sockets.first?.waitHandler == 4242 && back.sockets.first?.queueHead == 1_796_321_020_018_733_490)
        #expect(back.retiredWaitSockets == [address: 4242] && back.deferredOpens == [address: "echo"])
        #expect(back.handlers.last?.child.connection == 15)
        #expect(back.handlerNofile == 1024)
        #expect(back.descriptors.sorted() == [9, 12, 13, 14, 15])
        #expect(back.lastReloadResult == "applied added=1" && back.pidFile == nil)
        // Garbage in the memfd is no state (the image then starts afresh).
        let bad = memfdWith([0xff, 0x00, 0x13])
        #expect(UpgradeState.read(bad) == nil)
    }

    func memfdWith(_ bytes: [UInt8]) -> Int32 {
        let fd = clinux_memfd("t")
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        lseek(fd, 0, SEEK_SET)
        return fd
    }
}
