import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The master waits for each handler's process until it exec's (a
/// vfork-style spawn). Once that process has the handler's uid, any
/// process of the same uid can stop it there (SIGSTOP), which without a
/// watchdog froze the whole master: no service answered, and a stop
/// request was never read.
@Suite(.timeLimit(.minutes(2))) struct StalledSpawnTests {
    /// The master's children that have not exec'd yet (still named swinetd).
    static func unexecedChildren(of master: pid_t) -> [pid_t] {
        guard let list = readText("/proc/\(master)/task/\(master)/children") else { return [] }
        return list.split(separator: " ").compactMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.filter {
            readText("/proc/\($0)/comm")?.hasPrefix("swinetd") == true
        }
    }

    @Test(.enabled(if: geteuid() == 0 && FileManager.default.fileExists(atPath: "/proc/self/task/\(getpid())/children"),
                   "needs root (to stop the master's child) and /proc/PID/task/TID/children"))
    func aHandlersProcessStoppedBeforeExecIsEndedAndTheMasterServesOn() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              victim:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/true
                user: nobody
                system_calls: {allow: ["@system-service"]}
              other:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/cat
            """ }, ports: 2)
        // Connections keep arriving at the victim while this thread stops
        // the first child it finds between clone and execve.
        let stop = StopFlag()
        let port = ports[0]
        let flood = Thread {
            while !stop.isSet {
                if let fd = try? connectOnly(port) { close(fd) }
            }
        }
        flood.start()
        defer { stop.set() }
        var stopped: pid_t?
        let deadline = Date().addingTimeInterval(30)
        while stopped == nil && Date() < deadline {
            for child in Self.unexecedChildren(of: d.pid) where kill(child, SIGSTOP) == 0 {
                // It may have been in its execve already (then the name
                // changes as the execve ends, before the stop takes hold):
                // only a child still named swinetd a moment later is the
                // one the master waits for.
                usleep(50_000)
                if readText("/proc/\(child)/comm")?.hasPrefix("swinetd") == true { stopped = child; break }
                kill(child, SIGCONT)
            }
        }
        stop.set()
        let child = try #require(stopped, "no child caught before its execve in 30 s")
        // The watchdog ends it within a few seconds; meanwhile and after,
        // the other service answers and the stalled spawn is logged.
        #expect(try exchange(ports[1], "still here\n", timeout: 15) == "still here\n", "\(d.log)")
        // Logged as stalled; or, caught in the last instructions before
        // its execve, as an exit by SIGKILL: either way ended, not left.
        try waitUntil(30, "the stalled child \(child)'s end in the log") {
            d.logLines.contains { $0.contains("pid=\(child)") && ($0.contains("step=stalled") || $0.contains("signal=SIGKILL")) }
        }
        // The connections that queued meanwhile are served and reaped.
        try waitUntil(30, "no zombie left") { zombies(of: d.pid).isEmpty }
    }
}

/// A flag one thread sets and another reads.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
