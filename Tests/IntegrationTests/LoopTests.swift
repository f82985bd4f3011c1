import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The event loop never stalls or dies: not on a log reader that stops
/// reading, not on a handler's child that keeps its stderr open, not on a
/// stale epoll event.
@Suite(.timeLimit(.minutes(2))) struct LoopTests {
    @Test func aLogReaderThatStopsReadingStopsNothing() throws {
        // stderr is a pipe the test does not read until the end: 64 KiB of
        // log fill it after a few hundred connections.
        let (d, p) = try startDaemon(logToPipe: true, { p in """
            services:
              echo:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/cat
            """ })
        let failures = Failures()
        concurrently(8) { _ in
            for i in 0..<200 {
                do {
                    if try exchange(p[0], "\(i)\n", timeout: 5) != "\(i)\n" { failures.add("bad reply") }
                } catch { failures.add("\(error)") }
            }
        }
        #expect(failures.list.isEmpty, "\(failures.list.count) failed: \(failures.list.prefix(3))")
        #expect(processExists(d.pid))
        try waitUntil(10, "no zombies") { zombies(of: d.pid).isEmpty }
        // Once someone reads again, what did not fit is counted in one line.
        try d.waitForLog("swinetd: log dropped=", timeout: 10)
        let dropped = d.logLines.filter { $0.hasPrefix("swinetd: log dropped=") }
        #expect(dropped.count == 1, "\(dropped)")
        #expect(Int(dropped.first?.dropFirst("swinetd: log dropped=".count) ?? "0") ?? 0 > 0)
    }

    @Test func aSyslogThatStopsReadingStopsNothing() throws {
        // A syslog socket nobody reads: its queue fills, and the daemon goes on.
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sink = try SyslogCollector(path: dir + "/log")
        let pidFile = dir + "/pid"
        let table = dir + "/services.yaml"
        let port = freePort()
        try "services:\n  echo: {listen: \"127.0.0.1:\(port)\", exec: /bin/cat}\n".write(toFile: table, atomically: true, encoding: .utf8)
        let (status, text) = try runToEnd([swinetdBinary, "--daemon", "-f", table, "--pid-file", pidFile, "--syslog-socket", sink.path, "--control", "none"])
        #expect(status == 0, "\(text)")
        let pid = try #require(Int32(readFile(pidFile).dropLast()))
        defer { kill(pid, SIGKILL) }
        let failures = Failures()
        concurrently(8) { _ in
            for i in 0..<150 {
                do { _ = try exchange(port, "\(i)\n", timeout: 5) } catch { failures.add("\(error)") }
            }
        }
        #expect(failures.list.isEmpty, "\(failures.list.count) failed: \(failures.list.prefix(3))")
        let messages = sink.drain()
        #expect(messages.contains { $0.contains("swinetd[\(pid)]: echo: accepted pid=") }, "\(messages.prefix(3))")
        try waitUntil(10, "the dropped count in syslog") { sink.drain().contains { $0.contains("swinetd: log dropped=") } }
        kill(pid, SIGTERM)
        try waitUntil(10, "the daemon to exit") { !isAlive(pid) }
    }

    /// A handler that leaves `setsid yes >&2 &` behind: its stderr pipe
    /// stays open and full forever. The handler waits until yes has left
    /// its session (what is still in the handler's process group when it
    /// exits is killed): the command substitution ends once the child has
    /// written its pid and moved its stdout to stderr.
    static let leaky = #"p=$(setsid sh -c 'echo $$; exec yes >&2' &); echo $p"#

    @Test func aHandlersChildThatFloodsStderrIsRateLimitedAndCutOff() throws {
        let (d, p) = try startDaemon({ p in """
            services:
              leaky:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", \(jsonQuote(Self.leaky))]
              echo:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/cat
            """ }, ports: 2)
        let reply = try exchange(p[0])
        let yes = try #require(Int32(reply.trimmingCharacters(in: .whitespacesAndNewlines)), "\(reply)")
        defer { kill(yes, SIGKILL) }
        try d.waitForLog("leaky: accepted")
        let handler = try #require(d.handlerPids.first)
        try d.waitForLog("leaky: exited pid=\(handler)")
        let cpu = cpuSeconds(d.pid)
        usleep(1_000_000)
        #expect(cpuSeconds(d.pid) - cpu < 0.5, "the master must not spend its time on one handler's output")
        #expect(try exchange(p[1], "still here\n", timeout: 5) == "still here\n")
        // Some seconds after the handler was reaped its pipe is closed:
        // yes gets EPIPE and ends.
        try d.waitForLog("leaky: output-cut pid=\(handler)", timeout: 15)
        try waitUntil(10, "yes to end") { !isAlive(yes) }
        let lines = d.logLines.filter { $0.hasPrefix("leaky: stderr pid=\(handler) ") }
        #expect(lines.count < 1000, "\(lines.count) lines of 'y' logged")
        #expect(d.log.contains("leaky: stderr-suppressed pid=\(handler) suppressed="), "\(d.log.suffix(2000))")
    }

    @Test func stopIsBoundedWhenAHandlersChildHoldsItsStderr() throws {
        let (d, p) = try startDaemon(args: ["--grace", "1"], { p in """
            services:
              leaky:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", \(jsonQuote(Self.leaky + "; exec sleep 30"))]
            """ })
        let client = try connectOnly(p[0])
        defer { close(client) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = recv(client, &buffer, buffer.count, 0)
        let yes = try #require(Int32(String(decoding: buffer.prefix(max(n, 0)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(yes, SIGKILL) }
        usleep(300_000)
        let started = Date()
        d.signal(SIGTERM)
        // grace 1 s plus the documented margin of 3 s.
        #expect(try d.waitForExit(timeout: 10) == 0)
        #expect(Date().timeIntervalSince(started) < 6, "stopping took \(Date().timeIntervalSince(started)) s")
        #expect(d.log.contains("swinetd: stopped"))
    }

    @Test func aStaleEventForAClosedListenerIsDropped() throws {
        // One batch of epoll events holds, in this order: the HUP (the reload
        // closes `gone`'s listener), two connections to `busy` (the second
        // one's stderr pipe takes the closed listener's descriptor number),
        // and a connection to `gone`, whose event is now stale.
        let kept = { (p: [UInt16]) in """
              busy:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/sleep
                args: ["5"]
              other:
                listen: 127.0.0.1:\(p[2])
                exec: /bin/echo
                args: [ok]

            """ }
        let (d, p) = try startDaemon({ p in "services:\n  gone:\n    listen: 127.0.0.1:\(p[0])\n    exec: /bin/echo\n" + kept(p) }, ports: 3)
        try d.rewrite("services:\n" + kept(p))
        // Stopped for sure before the HUP, or the wakeup could take the HUP
        // alone in a batch of its own.
        d.signal(SIGSTOP)
        try waitUntil(5, "the master to stop") { processState(d.pid) == "T" }
        d.signal(SIGHUP)
        usleep(50_000)
        let busy = try (0..<2).map { _ in try connectOnly(p[1]) }
        defer { busy.forEach { close($0) } }
        usleep(50_000)
        let gone = try connectOnly(p[0])
        defer { close(gone) }
        usleep(50_000)
        d.signal(SIGCONT)
        #expect(try exchange(p[2], timeout: 3) == "ok\n", "the master must not block on a stale event:\n\(d.log)")
        try d.waitForLog("reload: applied")
        #expect(processExists(d.pid))
    }
}

/// A datagram socket standing in for /dev/log.
final class SyslogCollector {
    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else { throw TestFailure("bind \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd); unlink(path) }

    private var received: [String] = []

    /// Every message received so far.
    func drain() -> [String] {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received.append(String(decoding: buffer[0..<n], as: UTF8.self))
        }
        return received
    }
}
