import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `swinetd upgrade` (and SIGUSR2): the binary on disk takes over in place,
/// with every socket, handler and counter, and no client notices.
@Suite(.timeLimit(.minutes(3))) struct UpgradeTests {
    /// A copy of swinetd in `dir`, so that a test can replace it.
    func installedCopy(in dir: String) throws -> String {
        let path = dir + "/swinetd"
        try FileManager.default.copyItem(atPath: swinetdBinary, toPath: path)
        return path
    }

    /// A daemon leaves its folder for /: the next image must still find the
    /// table, pid file and control socket it was started with by relative paths.
    @Test func aDaemonStartedWithRelativePathsUpgrades() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var daemonPid: Int32 = 0
        defer { if daemonPid > 0 { kill(daemonPid, SIGKILL) } }
        for attempt in 0..<5 {
            let port = freePort()
            try "services:\n  echo: {listen: \"127.0.0.1:\(port)\", exec: /bin/cat}\n".write(toFile: dir + "/services.yaml", atomically: true, encoding: .utf8)
            let (status, text) = try runToEnd(["/bin/sh", "-c", "cd \"$1\" && exec \"$2\" --daemon -f services.yaml --pid-file swinetd.pid -c control",
                                               "sh", dir, swinetdBinary])
            if status != 0 && text.contains("Address already in use") && attempt < 4 { continue }
            #expect(status == 0, "\(text)")
            daemonPid = try #require(Int32(readFile(dir + "/swinetd.pid").dropLast()))
            let r = try runToEnd([swinetdBinary, "upgrade", "-c", dir + "/control"], timeout: 60)
            #expect(r.status == 0 && r.output.hasPrefix("applied version="), "\(r.output)")
            #expect(try exchange(port, "up\n") == "up\n")
            #expect(try Int32(readFile(dir + "/swinetd.pid").dropLast()) == daemonPid)
            // And again: the second upgrade starts from the first new image's arguments.
            let again = try runToEnd([swinetdBinary, "upgrade", "-c", dir + "/control"], timeout: 60)
            #expect(again.status == 0, "\(again.output)")
            #expect(try runToEnd([swinetdBinary, "reload", "-c", dir + "/control"]).status == 0)
            kill(daemonPid, SIGTERM)
            try waitUntil(10, "the daemon to exit") { !processExists(daemonPid) }
            daemonPid = 0
            break
        }
    }

    @Test func twentyUpgradesUnderLoadLoseNoConnection() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let binary = try installedCopy(in: dir)
        let (d, p) = try startDaemon(launcher: ["/bin/sh", "-c", "shift; exec \"\(binary)\" \"$@\"", "sh"], { p in
            """
            metrics: 127.0.0.1:\(p[2])
            services:
              echo: {listen: "127.0.0.1:\(p[0])", exec: /bin/cat, max_connections: 8}
              slow: {listen: "127.0.0.1:\(p[1])", exec: /bin/sh, args: ["-c", "read x; sleep 2; echo late-$x"], stderr: log}
            """
        }, ports: 3)
        #expect(d.isRunning)
        let inodesBefore = [listeningInode(p[0]), listeningInode(p[1]), listeningInode(p[2])]
        #expect(!inodesBefore.contains(nil))
        // A handler started before the upgrades, answered after them.
        let early = try connectOnly(p[1])
        defer { close(early) }
        #expect(write(early, "e\n", 2) == 2)
        try d.waitForLog("slow: accepted")
        let earlyPid = try #require(d.handlerPids.first)

        let failures = ManagedAtomicCounter()
        let done = ManagedAtomicCounter()
        let stop = ManagedAtomicCounter()
        let clients = Thread { concurrently(4) { i in
            var n = 0
            while stop.value == 0 {
                n += 1
                let text = "c\(i)-\(n)\n"
                if (try? exchange(p[0], text, timeout: 10)) != text { failures.increment() }
                done.increment()
            }
        } }
        clients.start()
        for round in 1...20 {
            let r = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
            #expect(r.status == 0, "round \(round): \(r.output)")
            #expect(r.output.hasPrefix("applied version="), "\(r.output)")
        }
        stop.increment()
        try waitUntil(30, "the clients to finish") { clients.isFinished }
        #expect(failures.value == 0, "\(failures.value) of \(done.value) exchanges failed:\n\(d.log.suffix(3000))")
        #expect(done.value > 20)
        try d.waitForLog("upgrade: applied", count: 20, timeout: 10)
        #expect(d.isRunning)
        // The same sockets (inodes), the same pid.
        #expect([listeningInode(p[0]), listeningInode(p[1]), listeningInode(p[2])] == inodesBefore)
        let scrape = try exchange(p[2], "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(scrape.hasPrefix("HTTP/1.1 200") && scrape.contains("swinetd_connections_accepted_total{service=\"echo\"}"), "\(scrape.prefix(300))")
        #expect(d.log.components(separatedBy: "swinetd: started pid=\(d.pid) ").count - 1 == 21)

        // The early handler is reaped and logged by the twentieth image.
        var reply = [UInt8](repeating: 0, count: 64)
        let n = read(early, &reply, reply.count)
        #expect(n > 0 && String(decoding: reply[0..<n], as: UTF8.self) == "late-e\n")
        try d.waitForLog("slow: exited pid=\(earlyPid) ")
        let exitLine = d.logLines.firstIndex { $0.hasPrefix("slow: exited pid=\(earlyPid) ") }!
        let lastApplied = d.logLines.lastIndex { $0.hasPrefix("upgrade: applied") }!
        #expect(exitLine > d.logLines.firstIndex { $0.hasPrefix("upgrade: applied") }!, "\(d.log.suffix(2000))")
        _ = lastApplied
        expectNoZombiesLeft(of: d.pid)
        // Counters came along: every accepted connection of every image.
        let status = try runToEnd([swinetdBinary, "status", "--json", "-c", d.controlPath])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(status.output.utf8)) as? [String: Any])
        let services = try #require(json["services"] as? [[String: Any]])
        let echo = try #require(services.first { $0["name"] as? String == "echo" })
        #expect((echo["accepted"] as? Int ?? 0) >= done.value, "\(echo)")
    }

    @Test func aBinaryThatFailsItsCheckChangesNothing() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let binary = try installedCopy(in: dir)
        let (d, p) = try startDaemon(launcher: ["/bin/sh", "-c", "shift; exec \"\(binary)\" \"$@\"", "sh"], { p in
            "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n"
        })
        // What is on disk now cannot read the table.
        let broken = dir + "/swinetd.new"
        try "#!/bin/sh\necho \"$0: cannot read this table\" >&2\nexit 3\n".write(toFile: broken, atomically: true, encoding: .utf8)
        chmod(broken, 0o755)
        #expect(rename(broken, binary) == 0)
        let r = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        #expect(r.status == 1)
        #expect(r.output.contains("upgrade failed: the new binary's check failed (exit 3)"), "\(r.output)")
        #expect(r.output.contains("cannot read this table"), "\(r.output)")
        try d.waitForLog("upgrade: failed reason=")
        #expect(!d.log.contains("upgrade: exec"))
        #expect(try exchange(p[0], "still\n") == "still\n")

        // SIGUSR2 goes the same way; then a good binary back in place upgrades.
        d.signal(SIGUSR2)
        try d.waitForLog("upgrade: failed", count: 2)
        try FileManager.default.copyItem(atPath: swinetdBinary, toPath: broken)
        #expect(rename(broken, binary) == 0)
        d.signal(SIGUSR2)
        try d.waitForLog("upgrade: applied version=")
        #expect(try exchange(p[0], "again\n") == "again\n")
        #expect(d.isRunning)
    }

    /// Puts a shell script at `binary` (renamed over it, as dpkg does);
    /// `REAL` in it stands for the real swinetd.
    func replace(_ binary: String, with script: String) throws {
        let new = binary + ".new"
        try ("#!/bin/sh\nREAL=\(jsonQuote(swinetdBinary))\n" + script).write(toFile: new, atomically: true, encoding: .utf8)
        chmod(new, 0o755)
        #expect(rename(new, binary) == 0)
    }

    /// A master from a copy in `dir`, an echo service and a slow one with a
    /// handler started before whatever the test does next.
    func startWithEarlyHandler(_ dir: String, _ binary: String, extra: String = "") throws -> (Daemon, [UInt16], Int32, Int32) {
        let (d, p) = try startDaemon(launcher: ["/bin/sh", "-c", "shift; exec \"\(binary)\" \"$@\"", "sh"], { p in
            """
            services:
              echo: {listen: "127.0.0.1:\(p[0])", exec: /bin/cat}
              slow: {listen: "127.0.0.1:\(p[1])", exec: /bin/sh, args: ["-c", "read x; sleep 1; echo late-$x"]}
            \(extra)
            """
        }, ports: 2)
        let early = try connectOnly(p[1])
        #expect(write(early, "e\n", 2) == 2)
        try d.waitForLog("slow: accepted")
        return (d, p, early, try #require(d.handlerPids.first))
    }

    /// After an upgrade that did not happen: the same master serves, and
    /// the handler started before is answered and reaped by it.
    func expectUnchanged(_ d: Daemon, _ p: [UInt16], early: Int32, earlyPid: Int32) throws {
        #expect(d.isRunning)
        #expect(try exchange(p[0], "still\n") == "still\n", "\(d.log)")
        var reply = [UInt8](repeating: 0, count: 64)
        let n = read(early, &reply, reply.count)
        #expect(n > 0 && String(decoding: reply[0..<max(n, 0)], as: UTF8.self) == "late-e\n")
        try d.waitForLog("slow: exited pid=\(earlyPid) ")
        expectNoZombiesLeft(of: d.pid)
        let status = try runToEnd([swinetdBinary, "status", "-c", d.controlPath])
        #expect(status.status == 0 && status.output.hasPrefix("swinetd pid \(d.pid),"), "\(status.output)")
    }

    /// A binary that passes `check` but crashes as a master: the pre-flight
    /// runs it as the master would, in a child, and the upgrade is refused.
    @Test func aBinaryThatCrashesAtStartChangesNothing() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let binary = try installedCopy(in: dir)
        let (d, p, early, earlyPid) = try startWithEarlyHandler(dir, binary)
        defer { close(early) }
        try replace(binary, with: "[ \"$1\" = check ] && exec \"$REAL\" \"$@\"\nkill -SEGV $$\n")
        let r = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        #expect(r.status == 1, "\(r.output)")
        #expect(r.output.contains("upgrade failed: the new binary's check was killed by SIGSEGV"), "\(r.output)")
        #expect(!d.log.contains("upgrade: exec"), "\(d.log)")
        try expectUnchanged(d, p, early: early, earlyPid: earlyPid)
    }

    /// A binary that cannot read this version's state (version skew): the
    /// pre-flight finds out, and the upgrade is refused.
    @Test func aBinaryThatCannotReadTheStateChangesNothing() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let binary = try installedCopy(in: dir)
        let (d, p, early, earlyPid) = try startWithEarlyHandler(dir, binary)
        defer { close(early) }
        // Whatever it is handed, it reads an empty state.
        try replace(binary, with: "[ \"$1\" = check ] && exec \"$REAL\" \"$@\"\nSWINETD_UPGRADE_FD=0 exec \"$REAL\" \"$@\" </dev/null\n")
        let r = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        #expect(r.status == 1, "\(r.output)")
        #expect(r.output.contains("cannot read the running swinetd's upgrade state"), "\(r.output)")
        try expectUnchanged(d, p, early: early, earlyPid: earlyPid)
    }

    /// A new image that fails after the pre-flight passed: it execs the old
    /// binary again (from the descriptor the old image kept), which takes
    /// every socket and handler back and answers exit 1 with the reason.
    @Test func aNewImageThatCannotServeHandsBackToTheOldOne() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let binary = try installedCopy(in: dir)
        let (d, p, early, earlyPid) = try startWithEarlyHandler(dir, binary)
        defer { close(early) }
        // As the master it gets a flag it rejects (a flag a new version dropped).
        try replace(binary, with: "case \"$1\" in check|upgrade-preflight) exec \"$REAL\" \"$@\";; esac\nexec \"$REAL\" \"$@\" --no-such-flag\n")
        let r = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        #expect(r.status == 1, "\(r.output)")
        #expect(r.output.contains("upgrade failed: the new image rejected the command line"), "\(r.output)")
        try d.waitForLog("upgrade: failed reason=")
        try expectUnchanged(d, p, early: early, earlyPid: earlyPid)

        // Its start fails (a pid file it cannot lock): the same way back.
        let slowAgain = try connectOnly(p[1])
        defer { close(slowAgain) }
        #expect(write(slowAgain, "f\n", 2) == 2)
        try d.waitForLog("slow: accepted", count: 2)
        try replace(binary, with: "case \"$1\" in check|upgrade-preflight) exec \"$REAL\" \"$@\";; esac\nexec \"$REAL\" \"$@\" --pid-file \(dir)/no/such/dir/pid\n")
        let r2 = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        #expect(r2.status == 1, "\(r2.output)")
        #expect(r2.output.contains("upgrade failed: the new image did not start: pid file"), "\(r2.output)")
        #expect(try exchange(p[0], "again\n") == "again\n")
        var reply = [UInt8](repeating: 0, count: 64)
        let n = read(slowAgain, &reply, reply.count)
        #expect(n > 0 && String(decoding: reply[0..<max(n, 0)], as: UTF8.self) == "late-f\n")
        expectNoZombiesLeft(of: d.pid)

        // And a good binary back in place upgrades as usual.
        try FileManager.default.copyItem(atPath: swinetdBinary, toPath: binary + ".good")
        #expect(rename(binary + ".good", binary) == 0)
        let r3 = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        #expect(r3.status == 0 && r3.output.hasPrefix("applied version="), "\(r3.output)")
        #expect(try exchange(p[0], "new\n") == "new\n")
    }

    /// An address of the table that another program now holds costs the
    /// new image that address, as a reload would: it serves the rest.
    @Test func theNewImageToleratesAnAddressThatDoesNotOpen() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let binary = try installedCopy(in: dir)
        let (d, p, early, earlyPid) = try startWithEarlyHandler(dir, binary)
        defer { close(early) }
        let busy = freePort()
        let blocker = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(blocker) }
        #expect(withSockaddr("127.0.0.1", busy, { bind(blocker, $0, $1) }) == 0)
        listen(blocker, 1)
        try d.rewrite(try readFile(d.tablePath) + "  taken: {listen: \"127.0.0.1:\(busy)\", exec: /bin/cat}\n")
        let r = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        #expect(r.status == 1, "\(r.output)")
        #expect(r.output.hasPrefix("applied version=") && r.output.contains("failed=1"), "\(r.output)")
        try expectUnchanged(d, p, early: early, earlyPid: earlyPid)
    }

    /// A `reload` asked for while an upgrade is under way waits for it and
    /// is answered (by the new image), not dropped at the exec.
    @Test func aReloadDuringAnUpgradeIsAnswered() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let binary = try installedCopy(in: dir)
        let (d, p) = try startDaemon(launcher: ["/bin/sh", "-c", "shift; exec \"\(binary)\" \"$@\"", "sh"], { p in
            "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n"
        })
        // A check that takes its time, so the reload comes while it runs.
        try replace(binary, with: "case \"$1\" in check|upgrade-preflight) sleep 2;; esac\nexec \"$REAL\" \"$@\"\n")
        let upgrade = ManagedResult()
        let control = d.controlPath
        let thread = Thread { upgrade.set(try? runToEnd([swinetdBinary, "upgrade", "-c", control], timeout: 60)) }
        thread.start()
        try d.waitForLog("upgrade: checking")
        let r = try runToEnd([swinetdBinary, "reload", "-c", d.controlPath], timeout: 60)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.hasPrefix("applied added=0 removed=0 changed=0 unchanged=1"), "\(r.output)")
        try waitUntil(60, "the upgrade to answer") { thread.isFinished }
        #expect(upgrade.value?.status == 0, "\(String(describing: upgrade.value))")
        #expect(try exchange(p[0], "x\n") == "x\n")
    }

    @Test func aWaitHandlerKeepsItsSocketAcrossAnUpgrade() throws {
        let (d, p) = try startDaemon({ p in """
            services:
              upper:
                listen: 127.0.0.1:\(p[0])
                protocol: udp
                wait: true
                exec: /usr/bin/python3
                args: ["-c", \(jsonQuote(WaitServiceTests.udpUpper))]
            """ })
        let first = try datagram(p[0], "one")
        let pid = try #require(first.split(separator: " ").dropFirst(1).first.map(String.init))
        // The handler holds the socket (the master does not watch it) while the image changes.
        let r = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        #expect(r.status == 0, "\(r.output)")
        let second = try datagram(p[0], "two")
        #expect(second.hasPrefix("TWO \(pid) "), "the same handler answers: \(second)")
        // It exits a second after the last datagram; the new image reaps it
        // and watches the socket again: a new handler answers.
        try d.waitForLog("upper: exited pid=\(pid) ", timeout: 15)
        let third = try datagram(p[0], "three")
        #expect(third.hasPrefix("THREE ") && !third.contains(" \(pid) "), "\(third)")
        #expect(!d.log.contains("backoff"), "\(d.log)")
    }

    /// Admission's buckets are handed over: an upgrade gives no client a
    /// fresh `source_rate` budget.
    @Test func aClientAtItsSourceRateIsStillRefusedAfterAnUpgrade() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              echo:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/cat
                source_rate: 2/min
                refuse_message: "slow down"
            """ })
        #expect(try exchange(ports[0], "1\n", from: "127.0.0.2") == "1\n")
        #expect(try exchange(ports[0], "2\n", from: "127.0.0.2") == "2\n")
        #expect(try exchange(ports[0], from: "127.0.0.2") == "slow down\n")
        let r = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        #expect(r.status == 0, "\(r.output)")
        #expect(try exchange(ports[0], from: "127.0.0.2") == "slow down\n", "still at its source_rate in the new image")
        #expect(try exchange(ports[0], "4\n", from: "127.0.0.3") == "4\n", "another client group has its own budget")
        let status = try runToEnd([swinetdBinary, "status", "-c", d.controlPath])
        let echo = status.output.split(separator: "\n").first { $0.hasPrefix("echo ") }?.split(separator: " ") ?? []
        #expect(echo.count > 6 && echo[4] == "3" && echo[5] == "2", "the counters went on (accepted 3, refused 2): \(status.output)")
    }

    /// A wait service's back-off is handed over: a handler that leaves its
    /// socket unread is not started again at once by the new image.
    @Test func aWaitServiceInBackOffIsStillBackedOffAfterAnUpgrade() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              spin:
                listen: 127.0.0.1:\(p[0])
                protocol: udp
                wait: true
                exec: /bin/true
            """ })
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        _ = withSockaddr("127.0.0.1", ports[0]) { sa, len in "x".withCString { sendto(fd, $0, 1, 0, sa, len) } }
        try d.waitForLog("spin: backoff address=127.0.0.1:\(ports[0])/udp delay=4.000s", timeout: 20)
        let r = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        #expect(r.status == 0, "\(r.output)")
        try d.waitForLog("upgrade: applied")
        // The next step of the back-off comes after the upgrade's line: a
        // new image that forgot it would start the handler at once and log
        // the first delay again.
        try waitUntil(30, "a back-off after the upgrade:\n\(d.log.suffix(3000))") {
            let log = d.log
            guard let applied = log.range(of: "upgrade: applied") else { return false }
            return log[applied.upperBound...].contains("spin: backoff")
        }
        let log = d.log
        let after = String(log[log.range(of: "upgrade: applied")!.upperBound...])
        let delay = after.range(of: "spin: backoff").map { after[$0.upperBound...].prefix { $0 != "\n" } } ?? ""
        #expect(delay.contains("delay=8.000s") || delay.contains("delay=16.000s"), "the back-off went on: \(delay)\n\(log)")
    }

    /// A connection held for a handler (RLIMIT_NPROC) goes over with the
    /// upgrade, which does not wait for it, and is served by the new image:
    /// the handlers run 10 s, far longer than the upgrade takes, so the old
    /// image cannot have served it first, and its `resumed` line is the new
    /// image's (after `upgrade: applied`).
    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"),
                   "needs root (user: nobody) and prlimit"))
    func aHeldConnectionIsHandedOverNotWaitedFor() throws {
        let (d, ports) = try startDaemon(launcher: ["/usr/bin/prlimit", "--nproc=2"], { p in """
            services:
              limited:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "echo served; exec sleep 10"]
                user: nobody
                stderr: null
            """ })
        let replies = Failures()
        let clients = DispatchGroup()
        clients.enter()
        let port = ports[0]
        Thread {
            concurrently(4) { _ in replies.add((try? exchange(port, timeout: 50)) ?? "failed") }
            clients.leave()
        }.start()
        // Upgrades while a client's connection is held.
        try d.waitForLog("limited: paused reason=nproc", timeout: 20)
        let r = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        replies.add("upgrade \(r.status)")
        #expect(clients.wait(timeout: .now() + 55) == .success)
        #expect(replies.list.sorted() == Array(repeating: "served\n", count: 4) + ["upgrade 0"], "\(replies.list)\n\(d.log.suffix(3000))")
        let log = d.log
        let applied = try #require(log.range(of: "upgrade: applied"), "\(log.suffix(3000))")
        #expect(!log[..<applied.lowerBound].contains("limited: resumed"), "the old image served it: \(log.suffix(3000))")
        #expect(log[applied.upperBound...].contains("limited: resumed"), "\(log.suffix(3000))")
    }

    @Test func sigusr1WritesTheStatusToTheLog() throws {
        let (d, p) = try startDaemon({ p in "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n" })
        #expect(try exchange(p[0], "x\n") == "x\n")
        try d.waitForLog("echo: exited")
        d.signal(SIGUSR1)
        try d.waitForLog("echo: status ")
        #expect(d.log.contains("swinetd: status pid=\(d.pid) "), "\(d.log)")
        #expect(d.log.contains("echo: status state=listening running=0 max=64 queued=0 accepted=1 refused=0 exits=1/0/0 exec-failed=0"), "\(d.log)")
        // The rest of the signals: logged once, and swinetd goes on.
        d.signal(SIGALRM); d.signal(SIGALRM)
        try d.waitForLog("swinetd: signal-ignored signal=SIGALRM")
        #expect(d.isRunning)
    }
}

/// A counter shared by the client threads.
final class ManagedAtomicCounter: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var count = 0
    init() { pthread_mutex_init(&lock, nil) }
    func increment() { pthread_mutex_lock(&lock); count += 1; pthread_mutex_unlock(&lock) }
    var value: Int { pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }; return count }
}

/// What a thread's command returned.
final class ManagedResult: @unchecked Sendable {
    private var lock = pthread_mutex_t()
    private var result: (status: Int32, output: String)?
    init() { pthread_mutex_init(&lock, nil) }
    func set(_ r: (status: Int32, output: String)?) { pthread_mutex_lock(&lock); result = r; pthread_mutex_unlock(&lock) }
    var value: (status: Int32, output: String)? { pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }; return result }
}
