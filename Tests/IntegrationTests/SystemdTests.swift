import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What systemd sees of swinetd, with the test in systemd's place: the
/// sd_notify messages on NOTIFY_SOCKET, and sockets handed over with
/// LISTEN_FDS.
@Suite(.timeLimit(.minutes(2))) struct SystemdTests {
    @Test func readinessReloadsAndStopAreNotified() throws {
        let logDir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: logDir) }
        let manager = try SyslogCollector(path: logDir + "/notify")
        let launcher = ["/usr/bin/env", "NOTIFY_SOCKET=\(manager.path)"]
        let (d, p) = try startDaemon(launcher: launcher, { p in "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n" })
        try waitUntil(10, "READY=1") { manager.drain().contains { $0.contains("READY=1\n") } }
        #expect(manager.drain().first?.hasPrefix("READY=1\nSTATUS=serving 1 services on 1 sockets\n") == true, "\(manager.drain())")

        d.signal(SIGHUP)
        try d.waitForLog("reload: applied")
        try waitUntil(10, "the reload's READY") { manager.drain().count >= 3 }
        let reloading = manager.drain()[1]
        #expect(reloading.hasPrefix("RELOADING=1\nMONOTONIC_USEC="), "\(reloading)")
        let usec = reloading.split(separator: "\n")[1].dropFirst("MONOTONIC_USEC=".count)
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let nowUsec = UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
        let then = try #require(UInt64(usec))
        #expect(then <= nowUsec && nowUsec - then < 30_000_000)
        #expect(manager.drain()[2].hasPrefix("READY=1\nSTATUS=reload applied added=0 removed=0 changed=0 unchanged=1"), "\(manager.drain())")

        // A broken table: READY again (the old table serves), and says so.
        try d.rewrite("services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat, bogus: 1}\n")
        d.signal(SIGHUP)
        try d.waitForLog("reload: rejected")
        try waitUntil(10, "the rejection's READY") { manager.drain().count >= 5 }
        #expect(manager.drain()[4].hasPrefix("READY=1\nSTATUS=reload rejected (1 error); serving the previous table"), "\(manager.drain())")

        d.signal(SIGTERM)
        #expect(try d.waitForExit() == 0)
        #expect(manager.drain().last?.hasPrefix("STOPPING=1\n") == true, "\(manager.drain())")
    }

    /// A launcher in systemd's place: binds the sockets, puts them on 3, 4
    /// and 5 and execs swinetd with LISTEN_PID (its own pid, kept by exec),
    /// LISTEN_FDS and LISTEN_FDNAMES.
    func activator(tcp: UInt16, udp: UInt16, stray: UInt16) -> [String] {
        let script = """
        import os, socket, sys
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        t.bind(("127.0.0.1", \(tcp))); t.listen(16)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", \(udp)))
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", \(stray))); s.listen(4)
        # Off 3-5 first: a socket may already be there, close-on-exec.
        for i, sock in enumerate([t, u, s]):
            os.dup2(sock.fileno(), 100 + i)
        for i in range(3):
            os.dup2(100 + i, 3 + i, inheritable=True)
            os.close(100 + i)
        os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="3", LISTEN_FDNAMES="echo:udp:stray")
        os.execv(sys.argv[1], sys.argv[1:])
        """
        return ["/usr/bin/python3", "-c", script]
    }

    @Test func inheritedSocketsAreAdoptedAndStrayOnesClosed() throws {
        var d: Daemon?
        var ports: [UInt16] = []
        for _ in 0..<5 {
            ports = (0..<4).map { _ in freePort() }
            let table = """
            services:
              echo: {listen: "127.0.0.1:\(ports[0])", exec: /bin/cat}
              uecho: {listen: "127.0.0.1:\(ports[1])", protocol: udp, builtin: echo}
              env: {listen: "127.0.0.1:\(ports[3])", exec: /usr/bin/env}
            """
            let candidate = try Daemon(table: table, launcher: activator(tcp: ports[0], udp: ports[1], stray: ports[2]))
            if candidate.started { d = candidate; break }
        }
        let daemon = try #require(d)
        #expect(daemon.log.contains("echo: listening address=127.0.0.1:\(ports[0]) from=systemd"), "\(daemon.log)")
        #expect(daemon.log.contains("uecho: listening address=127.0.0.1:\(ports[1])/udp from=systemd"), "\(daemon.log)")
        #expect(daemon.log.contains("swinetd: inherited-closed fd=5 address=127.0.0.1:\(ports[2]) from=systemd"), "\(daemon.log)")
        #expect(try exchange(ports[0], "hi\n") == "hi\n")
        // The stray socket is gone: nobody listens there now.
        #expect(listeningInode(ports[2]) == nil)
        #expect(daemon.log.contains("env: listening address=127.0.0.1:\(ports[3])\n"), "\(daemon.log)")
        // Nothing of LISTEN_* reaches a handler.
        let env = try exchange(ports[3], "")
        #expect(env.contains("SWINETD_SERVICE=env") && !env.contains("LISTEN_"), "\(env)")
        daemon.signal(SIGTERM)
        #expect(try daemon.waitForExit() == 0)
    }

    @Test func listenFDsForAnotherPidAreLeftAlone() throws {
        // LISTEN_PID names another process: the variables are not ours, and
        // swinetd binds its addresses itself.
        let (d, p) = try startDaemon(launcher: ["/usr/bin/env", "LISTEN_PID=1", "LISTEN_FDS=2"], { p in
            "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n"
        })
        #expect(d.log.contains("echo: listening address=127.0.0.1:\(p[0])\n"), "\(d.log)")
        #expect(!d.log.contains("inherited"))
        #expect(try exchange(p[0], "ok\n") == "ok\n")
    }
}
