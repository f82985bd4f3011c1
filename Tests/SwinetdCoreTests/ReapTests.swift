import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import SwinetdCore

/// The reap loop lets the master act on an exited handler while its pid is
/// still held by the zombie: a handler's process group is killed after its
/// exit, and once reaped, an empty group's id may already be a new session
/// leader's. Real processes, each test reaping only the child it started
/// (the tests of this process run side by side).
@Suite(.timeLimit(.minutes(3))) struct ReapTests {
    /// Starts `/bin/sh -c script`, a child of this test process.
    func start(_ script: String) throws -> pid_t {
        var pid: pid_t = 0
        let words: [String] = ["sh", "-c", script]
        var argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) }
        argv.append(nil)
        defer { argv.forEach { free($0) } }
        let rc = posix_spawn(&pid, "/bin/sh", nil, nil, argv, environ)
        try #require(rc == 0, "posix_spawn: \(rc)")
        return pid
    }

    /// The state letter in /proc/PID/stat (Z: a zombie), nil once it is gone.
    func state(_ pid: pid_t) -> Character? {
        let fd = open("/proc/\(pid)/stat", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1024)
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n], as: UTF8.self)
        guard let close = text.lastIndex(of: ")") else { return nil }
        return text[text.index(close, offsetBy: 2)...].first
    }

    @Test func anExitedChildIsSeenWhileItsPidIsHeldThenReaped() throws {
        let pid = try start("exit 3")
        defer { var s: Int32 = 0; _ = waitpid(pid, &s, WNOHANG) }
        // Until it has exited, the loop finds nothing to do.
        for _ in 0..<1000 where state(pid) != "Z" { usleep(10_000) }
        try #require(state(pid) == "Z", "the child did not exit within 10 s")
        var held: [(pid_t, Character?)] = []
        var reaped: [(pid_t, SwinetdCore.ExitStatus)] = []
        while let (p, status) = Processes.reapNext(only: pid, whileHeld: { held.append(($0, state($0))) }) {
            reaped.append((p, SwinetdCore.ExitStatus(status)))
        }
        #expect(held.count == 1 && held.first?.0 == pid && held.first?.1 == "Z",
                "whileHeld must see the child as a zombie that still holds its pid: \(held)")
        #expect(reaped.count == 1 && reaped.first?.0 == pid && reaped.first?.1 == .exited(3), "\(reaped)")
        #expect(state(pid) == nil, "the zombie was not reaped")
    }

    @Test func aRunningChildIsNeitherSeenNorReaped() throws {
        let pid = try start("exec sleep 313")
        defer { kill(pid, SIGKILL); var s: Int32 = 0; while waitpid(pid, &s, 0) < 0 && errno == EINTR {} }
        var calls = 0
        #expect(Processes.reapNext(only: pid, whileHeld: { _ in calls += 1 }) == nil)
        #expect(calls == 0)
        #expect(state(pid) != nil && state(pid) != "Z")
    }
}
