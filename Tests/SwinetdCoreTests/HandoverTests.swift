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
        let held = AdmissionControl.Snapshot.Held(fd: 16, peer: [2, 0], listener: address, group: nil)
        let state = UpgradeState(
            version: "0.7.0", began: 7, arguments: ["swinetd", "-f", "t.yaml"], handlerNofile: 1024, pidFile: nil,
            counters: .init(startedAt: 1.5, startedMonotonic: 8, reloadsApplied: 3, reloadsRejected: 1,
                            lastReloadAt: 2.5, lastReloadResult: "applied added=1"),
            serviceCounters: ["echo": counters],
            listeners: .init(sockets: [.init(address: address, fd: 9, owner: "echo", waitHandler: 4242, queueHead: 1_796_321_020_018_733_490,
                                             backoffUntil: 77, nextBackoff: 4, backoffLogged: 2)],
                             retiredWaitSockets: [.init(address: address, pid: 4242)], deferredOpens: [.init(address: address, service: "echo")]),
            metrics: .init(endpoints: [.init(address: address, fd: 17)]),
            children: .init(handlers: [.init(pid: 4242, child: child), .init(pid: 4343, child: connected)]),
            admission: .init(resourcePauseUntil: 5, services: [.init(
                name: "echo", rateBucket: nil, rateReadyAt: 6, rateEpisode: true, sources: SourceTable(), held: held,
                holdReason: .nproc, retryDelay: 3, loggedPause: nil, isRetired: false)]),
            output: .init(pipes: [.init(fd: 12, service: "echo", pid: 4242)]),
            control: .init(fd: 13, reloadWaiters: [18], upgradeWaiters: [14]), reload: .init(pending: true))
        let fd = try state.write().get()
        let back = try #require(UpgradeState.read(fd))
        #expect(back.format == UpgradeState.currentFormat)
        #expect(back.children.handlers.first?.child == child && back.children.handlers.last?.child.connection == 15)
        #expect(back.serviceCounters["echo"]?.accepted == 41 && back.serviceCounters["echo"]?.refused == ["denied": 1])
        #expect(back.serviceCounters["echo"]?.durations?.count == 1)
        let socket = try #require(back.listeners.sockets.first)
        #expect(socket.waitHandler == 4242 && socket.queueHead == 1_796_321_020_018_733_490 && socket.backoffUntil == 77 && socket.nextBackoff == 4)
        #expect(back.admission?.services.first?.rateReadyAt == 6 && back.admission?.services.first?.held?.fd == 16)
        #expect(back.counters == state.counters && back.reload.pending && back.handlerNofile == 1024)
        #expect(back.descriptors.sorted() == [9, 12, 13, 14, 15, 16, 17, 18], "every descriptor named, held connection and metrics too")
        #expect(back.sockets.map(\.fd) == [9, 17])
        // Garbage in the memfd is no state (the image then starts afresh).
        let bad = memfdWith([0xff, 0x00, 0x13])
        #expect(UpgradeState.read(bad) == nil)
        // Nor is a layout of a later version (another format number).
        var later = state
        later.format = UpgradeState.currentFormat + 1
        #expect(UpgradeState.decode(try PackedCoding.encode(later)) == nil)
        // 0.7.0's format 2 lacks only optional fields: read.
        var earlier = state
        earlier.format = 2
        #expect(UpgradeState.decode(try PackedCoding.encode(earlier))?.format == 2)
    }

    /// Connections waiting for a PROXY header, and those queued behind a
    /// held one, go over open: their descriptors are named.
    @Test func waitingAndQueuedConnectionsAreHandedOver() throws {
        let address = ListenAddress(family: .ipv4, ipOrPath: [127, 0, 0, 1], port: 7007)
        var held = AdmissionControl.Snapshot.Held(fd: 16, peer: [2, 0], listener: address, group: nil)
        held.isBalancer = true
        var service = AdmissionControl.Snapshot.Service(
            name: "echo", rateBucket: nil, rateReadyAt: nil, rateEpisode: false, sources: SourceTable(), held: held,
            holdReason: .nproc, retryDelay: 3, loggedPause: nil, isRetired: false)
        service.queued = [AdmissionControl.Snapshot.Held(fd: 19, peer: [2, 0], listener: address, group: .ipv4(1))]
        let pending = PendingHeaders.Snapshot(items: [.init(fd: 21, peer: [2, 0], listener: address, service: "echo",
                                                             rules: ProxyProtocol(from: PrefixSet([])), deadline: 99)])
        let state = UpgradeState(
            version: "0.8.0", began: 7, arguments: ["swinetd"], handlerNofile: nil, pidFile: nil,
            counters: .init(startedAt: 1.5, startedMonotonic: 8, reloadsApplied: 0, reloadsRejected: 0, lastReloadAt: nil, lastReloadResult: nil),
            serviceCounters: [:], listeners: .init(sockets: [], retiredWaitSockets: [], deferredOpens: []),
            metrics: .init(endpoints: []), children: .init(handlers: []),
            admission: .init(resourcePauseUntil: nil, services: [service]),
            output: .init(pipes: []), control: nil, reload: .init(pending: false), proxyHeaders: pending)
        let back = try #require(UpgradeState.decode(try PackedCoding.encode(state)))
        #expect(back.descriptors.sorted() == [16, 19, 21])
        #expect(back.admission?.services.first?.held?.isBalancer == true)
        #expect(back.proxyHeaders?.items.first?.deadline == 99)
    }

    /// A master of 0.6.0 (its state field by field) can still be upgraded
    /// to this image: everything it handed over reaches the components.
    @Test func aStateWrittenBy060IsReadIntoTheComponentsSnapshots() throws {
        let address = ListenAddress(family: .ipv4, ipOrPath: [127, 0, 0, 1], port: 7007)
        let metricsAddress = ListenAddress(family: .ipv4, ipOrPath: [127, 0, 0, 1], port: 9100)
        var connected = Child(service: "echo", peer: "127.0.0.1:5001", started: 124, counted: true)
        connected.connection = 15
        let old = UpgradeStateV1(
            version: "0.6.0", began: 7, startedAt: 1.5, startedMonotonic: 8, reloadsApplied: 3, reloadsRejected: 1,
            lastReloadAt: 2.5, lastReloadResult: "applied added=1",
            sockets: [.init(address: address, fd: 9, owner: "echo", waitHandler: 4242, queueHead: 11),
                      .init(address: metricsAddress, fd: 10, owner: "metrics")],
            handlers: [.init(pid: 4343, child: connected)], counters: ["echo": ServiceCounters()],
            outputs: [.init(fd: 12, service: "echo", pid: 4343)], retiredWaitSockets: [address: 4242],
            deferredOpens: [address: "echo"], control: 13, pidFile: 19, waiters: [14], handlerNofile: 1024,
            reloadWaiters: [18], reloadPending: true, arguments: ["swinetd", "-f", "t.yaml"])
        let fd = memfdWith(try PackedCoding.encode(old))
        let back = try #require(UpgradeState.read(fd))
        #expect(back.version == "0.6.0" && back.arguments == ["swinetd", "-f", "t.yaml"] && back.handlerNofile == 1024)
        #expect(back.counters.reloadsApplied == 3 && back.counters.lastReloadResult == "applied added=1")
        #expect(back.listeners.sockets.map(\.fd) == [9] && back.listeners.sockets.first?.waitHandler == 4242)
        #expect(back.listeners.sockets.first?.nextBackoff == Listener.firstBackoff, "0.6.0 handed no back-off over")
        #expect(back.metrics.endpoints.map(\.fd) == [10])
        #expect(back.admission == nil, "the new image counts the handlers' client groups itself")
        #expect(back.control == ControlServer.Snapshot(fd: 13, reloadWaiters: [18], upgradeWaiters: [14]) && back.reload.pending)
        #expect(back.output.pipes.map(\.fd) == [12] && back.pidFile == 19)
        #expect(back.descriptors.sorted() == old.descriptorsFor060.sorted(), "not one descriptor lost in the translation")
    }

    func memfdWith(_ bytes: [UInt8]) -> Int32 {
        let fd = clinux_memfd("t")
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        lseek(fd, 0, SEEK_SET)
        return fd
    }
}

extension UpgradeStateV1 {
    /// What 0.6.0 named as its descriptors (its own `descriptors`).
    var descriptorsFor060: [Int32] {
        sockets.map(\.fd) + outputs.map(\.fd) + handlers.compactMap(\.child.connection) + waiters + (reloadWaiters ?? [])
            + [control, pidFile].compactMap { $0 }
    }
}
