import Testing
@testable import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

/// Reload's and Control's parts of an upgrade's handover, as values: what
/// `snapshot()` gives survives PackedCoding, and `adopt` puts it back.
@Suite struct HandoverSnapshotTests {
    @Test func aKeptHUPSurvivesTheHandover() throws {
        let old = Reload()
        #expect(try PackedCoding.decode(Reload.Snapshot.self, from: PackedCoding.encode(old.snapshot())) == Reload.Snapshot(pending: false))
        old.keepPending()
        let bytes = try PackedCoding.encode(old.snapshot())
        let new = Reload()
        new.adopt(try PackedCoding.decode(Reload.Snapshot.self, from: bytes))
        #expect(new.pending)
        #expect(new.takePending() && !new.pending)
    }

    /// The replaced image's `reload` clients wait on the new one for a load
    /// it has yet to begin, and get that load's answer; its `upgrade`
    /// clients go back to the caller.
    @Test func waitingClientsAreAdoptedAndAnswered() throws {
        let epoll = try Epoll()
        var listener: [Int32] = [-1, -1], first: [Int32] = [-1, -1], second: [Int32] = [-1, -1]
        for pair in [0, 1, 2] {
            var ends: [Int32] = [-1, -1]
            #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0)
            switch pair { case 0: listener = ends; case 1: first = ends; default: second = ends }
        }
        defer { for fd in [listener[0], listener[1], first[1], second[1]] { close(fd) } }
        let server = ControlServer(path: "/nonexistent/control", fd: listener[0], epoll: epoll)
        let snapshot = ControlServer.Snapshot(fd: listener[0], reloadWaiters: [first[0]], upgradeWaiters: [second[0]])
        let back = try PackedCoding.decode(ControlServer.Snapshot.self, from: PackedCoding.encode(snapshot))
        #expect(back == snapshot)

        #expect(server.adopt(back, load: 3, now: 0) == [second[0]])
        #expect(server.watch.isOn)
        #expect(server.snapshot(upgradeWaiters: []) == ControlServer.Snapshot(fd: listener[0], reloadWaiters: [first[0]]))
        // An earlier load does not answer it; the one it waits for does.
        server.answerReloadWaiters(upTo: 2, all: false, exit: 0, output: "applied\n", now: 1)
        #expect(server.reloadWaiters.count == 1)
        server.answerReloadWaiters(upTo: 3, all: false, exit: 0, output: "applied\n", now: 1)
        #expect(server.reloadWaiters.isEmpty)
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(first[1], $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n <= 0 { break }
            reply += buffer[0..<n]
        }
        #expect(reply == ControlServer.reply(exit: 0, output: "applied\n"))
        #expect(server.conversations.count == 0, "answered, the conversation is closed")
        close(second[0])
    }
}
