import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.timeLimit(.minutes(2))) struct LifecycleTests {
    @Test func aBadTableFailsStartupWithEveryDiagnostic() throws {
        let d = try Daemon(table: """
            services:
              echo:
                listen: 127.0.0.1:7
                exec: /bin/cat
                max_conection: 3
              other:
                exec: bin/cat
            """, waitForStart: false)
        #expect(try d.waitForExit() == 1)
        #expect(d.log.contains("services.yaml:5:5: error: unknown key 'max_conection' in service 'echo'; did you mean 'max_connections'?"), "\(d.log)")
        #expect(d.log.contains("services.yaml:6:3: error: service 'other' has no 'listen' address"), "\(d.log)")
        #expect(d.log.contains("services.yaml:7:11: error: 'exec' must be an absolute path, not 'bin/cat'"), "\(d.log)")
        #expect(!d.log.contains("listening"))
    }

    /// An address another program holds (or a file another user planted
    /// at a socket path) costs its service that address, as at a reload:
    /// the rest of the table serves, the log and `status` say which failed.
    @Test func anAddressThatDoesNotOpenCostsOnlyThatAddressAtStart() throws {
        let busy = freePort()
        let blocker = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(blocker) }
        #expect(withSockaddr("127.0.0.1", busy, { bind(blocker, $0, $1) }) == 0)
        listen(blocker, 1)
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // What any local user can leave at a path in a world-writable folder.
        let planted = dir + "/planted.sock"
        try "not a socket\n".write(toFile: planted, atomically: true, encoding: .utf8)
        let fine = freePort()
        let d = try Daemon(table: """
            services:
              fine:
                listen: 127.0.0.1:\(fine)
                exec: /bin/cat
              taken:
                listen: 127.0.0.1:\(busy)
                exec: /bin/cat
              hello:
                listen: \(planted)
                exec: /bin/cat
            """)
        #expect(d.started && d.isRunning, "\(d.log)")
        #expect(d.log.contains("taken: error address=127.0.0.1:\(busy) op=bind error=\"Address already in use\""), "\(d.log)")
        #expect(d.log.contains("hello: error address=\(planted) op=lstat"), "\(d.log)")
        #expect(d.log.contains("swinetd: started pid=\(d.pid) services=3 listeners=1 failed=2"), "\(d.log)")
        #expect(try exchange(fine, "served\n") == "served\n")
        #expect(try readFile(planted) == "not a socket\n", "the planted file is left alone")
        let status = try runToEnd([swinetdBinary, "status", "-c", d.controlPath])
        #expect(status.status == 0)
        let taken = status.output.split(separator: "\n").first { $0.hasPrefix("taken ") }.map(String.init) ?? ""
        #expect(taken.contains("failed") && taken.contains("127.0.0.1:\(busy)(failed: Address already in use)"), "\(status.output)")
        let json = try runToEnd([swinetdBinary, "status", "--json", "taken", "-c", d.controlPath])
        #expect(json.output.contains(#""state":"failed""#) && json.output.contains(#""failed_addresses":[{"address":"127.0.0.1:\#(busy)""#), "\(json.output)")
        // Once the other program lets go and the file is gone, a reload opens both.
        close(blocker)
        unlink(planted)
        let r = try runToEnd([swinetdBinary, "reload", "-c", d.controlPath], timeout: 30)
        #expect(r.status == 0, "\(r.output)")
        #expect(try exchange(busy, "now\n") == "now\n")
        #expect(d.log.contains("hello: listening address=\(planted)"), "\(d.log)")
        let after = try runToEnd([swinetdBinary, "status", "--json", "taken", "-c", d.controlPath])
        #expect(after.output.contains(#""failed_addresses":[]"#), "\(after.output)")
    }

    /// An address that did not open is tried again on its own (as FreeBSD's
    /// inetd retries a failed bind): a port another program held for a
    /// moment serves once it is free, with no reload.
    @Test func anAddressThatDidNotOpenIsRetriedWithoutAReload() throws {
        let busy = freePort()
        let blocker = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var blocked = true
        defer { if blocked { close(blocker) } }
        #expect(withSockaddr("127.0.0.1", busy, { bind(blocker, $0, $1) }) == 0)
        listen(blocker, 1)
        let fine = freePort()
        let d = try Daemon(table: """
            services:
              fine:
                listen: 127.0.0.1:\(fine)
                exec: /bin/cat
              taken:
                listen: 127.0.0.1:\(busy)
                exec: /bin/cat
            """)
        #expect(d.started && d.isRunning, "\(d.log)")
        #expect(d.log.contains("failed=1"), "\(d.log)")
        close(blocker)
        blocked = false
        try d.waitForLog("taken: listening address=127.0.0.1:\(busy)", timeout: 20)
        #expect(try exchange(busy, "later\n") == "later\n")
        let after = try runToEnd([swinetdBinary, "status", "--json", "taken", "-c", d.controlPath])
        #expect(after.output.contains(#""failed_addresses":[]"#), "\(after.output)")
    }

    /// When not one address opens, nothing can serve: that is a failed
    /// start (exit 1), and nothing is left listening.
    @Test func whenNoAddressOpensStartupFails() throws {
        let busy = freePort()
        let blocker = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(blocker) }
        #expect(withSockaddr("127.0.0.1", busy, { bind(blocker, $0, $1) }) == 0)
        listen(blocker, 1)
        let d = try Daemon(table: """
            services:
              taken:
                listen: 127.0.0.1:\(busy)
                exec: /bin/cat
            """, waitForStart: false)
        #expect(try d.waitForExit() == 1)
        #expect(d.log.contains("taken: error address=127.0.0.1:\(busy) op=bind error=\"Address already in use\""), "\(d.log)")
        #expect(d.log.contains("swinetd: not-started errors=1"), "\(d.log)")
        #expect(!d.log.contains("swinetd: started"))
        #expect(!FileManager.default.fileExists(atPath: d.controlPath), "the control socket is gone again")
    }

    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                   "needs root and setpriv to run swinetd as an unprivileged user"))
    func withoutPrivilegeAUserOrALowPortFailsStartup() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let table = dir + "/services.yaml"
        try """
            services:
              asroot:
                listen: 127.0.0.1:\(freePort())
                exec: /bin/cat
                user: root
              low:
                listen: 127.0.0.1:7
                exec: /bin/cat
            """.write(toFile: table, atomically: true, encoding: .utf8)
        chmod(table, 0o644)
        let nobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        let (status, text) = try runToEnd(nobody + [swinetdBinary, "run", "-f", table])
        #expect(status == 1)
        #expect(text.contains("services.yaml:5:11: error: service 'asroot' runs as user 'root', which needs swinetd to run as root (it runs as uid 65534)"), "\(text)")
        // Only the port below 1024: not one address opens, so no start
        // (beside an address that opens, it would cost only itself).
        try "services:\n  low:\n    listen: 127.0.0.1:7\n    exec: /bin/cat\n"
            .write(toFile: table, atomically: true, encoding: .utf8)
        let (status2, text2) = try runToEnd(nobody + [swinetdBinary, "run", "-f", table])
        #expect(status2 == 1)
        #expect(text2.contains("low: error address=127.0.0.1:7 op=bind error=\"Permission denied\""), "\(text2)")
        #expect(!text2.contains("swinetd: started"))
    }

    @Test func sigtermStopsHandlersWithinTheGracePeriod() throws {
        let (d, ports) = try startDaemon(args: ["--grace", "5"], { p in """
            services:
              sleepy:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sleep
                args: ["30"]
            """ })
        let clients = try (0..<2).map { _ in try connectOnly(ports[0]) }
        defer { clients.forEach { close($0) } }
        try d.waitForLog("sleepy: accepted", count: 2)
        let handlers = d.handlerPids
        let started = Date()
        d.signal(SIGTERM)
        #expect(try d.waitForExit(timeout: 10) == 0)
        #expect(Date().timeIntervalSince(started) < 5, "sleep dies on SIGTERM: no need to wait for the grace period")
        #expect(handlers.count == 2 && handlers.allSatisfy { !processExists($0) })
        #expect(d.log.components(separatedBy: "signal=SIGTERM").count - 1 == 3, "\(d.log)")  // stopping + 2 exits
    }

    @Test func handlersThatIgnoreSigtermAreKilledAfterTheGrace() throws {
        let (d, ports) = try startDaemon(args: ["--grace", "1"], { p in """
            services:
              stubborn:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "trap '' TERM; echo ready; sleep 30; sleep 30"]
                stderr: null
            """ })
        let client = try connectOnly(ports[0])
        defer { close(client) }
        var byte: UInt8 = 0
        _ = recv(client, &byte, 1, 0)   // the handler has set its trap
        // The master may not have run since the handler's exec: wait for its line.
        try d.waitForLog("stubborn: accepted")
        let handler = try #require(d.handlerPids.first)
        d.signal(SIGTERM)
        #expect(try d.waitForExit(timeout: 10) == 0)
        #expect(!processExists(handler))
        #expect(d.log.contains("stubborn: exited pid=\(handler)") && d.log.contains("signal=SIGKILL"), "\(d.log)")
        #expect(zombies(of: d.pid).isEmpty)
    }

    @Test func pidFileIsWrittenAndRemoved() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/swinetd.pid"
        let (d, _) = try startDaemon(args: ["--pid-file", pidFile], { p in """
            services:
              echo: {listen: "127.0.0.1:\(p[0])", exec: /bin/cat}
            """ })
        #expect(try readFile(pidFile) == "\(d.pid)\n")
        d.signal(SIGINT)
        #expect(try d.waitForExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: pidFile))
    }

    @Test func daemonModeReturnsOnceListening() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/swinetd.pid"
        let table = dir + "/services.yaml"
        var daemonPid: Int32 = 0
        defer { if daemonPid > 0 { kill(daemonPid, SIGKILL) } }
        for attempt in 0..<5 {
            let port = freePort()
            try "services:\n  echo: {listen: \"127.0.0.1:\(port)\", exec: /bin/cat}\n".write(toFile: table, atomically: true, encoding: .utf8)
            let (status, text) = try runToEnd([swinetdBinary, "--daemon", "-f", table, "--pid-file", pidFile, "--control", "none"])
            if status != 0 && text.contains("Address already in use") && attempt < 4 { continue }
            #expect(status == 0, "\(text)")
            // It listens as soon as the starter has returned.
            #expect(try exchange(port, "up\n") == "up\n")
            daemonPid = try #require(Int32(readFile(pidFile).dropLast()))
            kill(daemonPid, SIGTERM)
            try waitUntil(10, "the daemon to exit") { !processExists(daemonPid) }
            daemonPid = 0
            #expect(!FileManager.default.fileExists(atPath: pidFile))
            break
        }
    }

    @Test func daemonModeReportsStartupErrors() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let table = dir + "/services.yaml"
        try "services:\n  echo: {listen: \"127.0.0.1:99999\", exec: /bin/cat}\n".write(toFile: table, atomically: true, encoding: .utf8)
        let (status, text) = try runToEnd([swinetdBinary, "--daemon", "-f", table, "--control", "none"])
        #expect(status == 1)
        #expect(text.contains("services.yaml:2:18: error: port 99999 out of range"), "\(text)")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"), "needs prlimit (util-linux)"))
    func runningOutOfDescriptorsPausesAndRecovers() throws {
        // 16 descriptors: 0-2, the spawn slots 3-4 and their /dev/null, epoll,
        // signalfd, one listener, the spare stderr pipe, and a pipe per running
        // handler; after a few handlers an accept meets EMFILE until one exits.
        let (d, ports) = try startDaemon(launcher: ["/usr/bin/prlimit", "--nofile=16"], { p in """
            services:
              slow:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "sleep 0.5; echo served"]
            """ })
        let cpuBefore = cpuSeconds(d.pid)
        let replies = Failures()
        concurrently(10) { _ in
            replies.add((try? exchange(ports[0], timeout: 20)) ?? "failed")
        }
        #expect(replies.list == Array(repeating: "served\n", count: 10), "\(d.log)")
        // The master keeps a copy of each connection (to end what a handler
        // leaves behind), so the limit may strike at the accept or at the
        // stderr pipe after it; either way the connection waits, and is served.
        #expect(["accept", "pipe"].contains { d.log.contains("slow: error op=\($0) error=\"Too many open files\" pause=0.100s") }, "\(d.log)")
        #expect(cpuSeconds(d.pid) - cpuBefore < 1.0, "the master must not spin while out of descriptors")
        #expect(!d.log.contains("refused"))
        #expect(processExists(d.pid))
    }
}
