import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Admission control through the real binary: loopback gives many source
/// addresses (127.0.0.2, 127.0.0.3 …), so each client group is a real one.
@Suite(.timeLimit(.minutes(2))) struct RestrictingClientsTests {
    @Test func allowServesOnlyTheAllowedPeers() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              echo:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/cat
                allow: [127.0.0.2]
                refuse_message: "never written for deny"
            """ })
        #expect(try exchange(ports[0], "hello\n", from: "127.0.0.2") == "hello\n")
        #expect(try exchange(ports[0], from: "127.0.0.3") == "", "a denied peer gets nothing, not even refuse_message")
        try d.waitForLog("reason=denied")
        #expect(d.log.range(of: #"echo: refused peer=127\.0\.0\.3:\d+ reason=denied\n"#, options: .regularExpression) != nil, "\(d.log)")
        #expect(d.handlerPids.count == 1, "no handler for the denied peer:\n\(d.log)")
    }

    @Test func denyWinsOverAllowAndIPv6IsMatchedToo() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              echo:
                listen: [127.0.0.1:\(p[0]), "[::1]:\(p[0])"]
                exec: /bin/cat
                allow: [127.0.0.0/8, "::1"]
                deny: [127.0.0.3, "::ffff:127.0.0.4/128"]
            """ })
        #expect(try exchange(ports[0], "v4\n", from: "127.0.0.2") == "v4\n")
        #expect(try exchange(ports[0], "v6\n", host: "::1") == "v6\n")
        #expect(try exchange(ports[0], "x\n", from: "127.0.0.3") == "")
        #expect(try exchange(ports[0], "x\n", from: "127.0.0.4") == "", "a mapped-form entry matches the IPv4 peer")
        try d.waitForLog("reason=denied", count: 2, timeout: 5)
        #expect(d.handlerPids.count == 2, "\(d.log)")
    }

    @Test func perSourceRefusesTheThirdFromOneClientOnly() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              idle:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sleep
                args: ["30"]
                per_source: 2
                refuse_message: "busy: two at a time"
            """ })
        let held = try (0..<2).map { _ in try connectOnly(ports[0], from: "127.0.0.2") }
        defer { held.forEach { close($0) } }
        try d.waitForLog("idle: accepted", count: 2)
        #expect(try exchange(ports[0], from: "127.0.0.2") == "busy: two at a time\n")
        try d.waitForLog("reason=per-source")
        #expect(d.log.range(of: #"idle: refused peer=127\.0\.0\.2:\d+ reason=per-source limit=2\n"#, options: .regularExpression) != nil, "\(d.log)")
        let other = try connectOnly(ports[0], from: "127.0.0.3")
        defer { close(other) }
        try d.waitForLog("idle: accepted", count: 3)
        #expect(d.handlerPids.count == 3)
    }

    @Test func aLoweredPerSourceCountsTheHandlersThatKeepRunning() throws {
        let table = { (port: UInt16, limit: Int) in """
            services:
              idle:
                listen: 127.0.0.1:\(port)
                exec: /bin/sleep
                args: ["30"]
                per_source: \(limit)
            """ }
        let (d, ports) = try startDaemon({ p in table(p[0], 3) })
        let held = try (0..<2).map { _ in try connectOnly(ports[0], from: "127.0.0.2") }
        defer { held.forEach { close($0) } }
        try d.waitForLog("idle: accepted", count: 2)
        try d.rewrite(table(ports[0], 2))
        d.signal(SIGHUP)
        try d.waitForLog("reload: applied")
        #expect(try exchange(ports[0], from: "127.0.0.2") == "")
        try d.waitForLog("reason=per-source limit=2")
        #expect(d.handlerPids.count == 2, "the two kept handlers still count under their group:\n\(d.log)")
    }

    @Test func sourcePrefixGroupsNeighboursAsOneClient() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              idle:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sleep
                args: ["30"]
                per_source: 1
                source_prefix: {ipv4: 24}
            """ })
        let held = try connectOnly(ports[0], from: "127.0.0.2")
        defer { close(held) }
        try d.waitForLog("idle: accepted")
        #expect(try exchange(ports[0], from: "127.0.0.3") == "", "127.0.0.3 is in 127.0.0.2's /24")
        try d.waitForLog("reason=per-source limit=1")
        #expect(d.handlerPids.count == 1)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: running swinetd as nobody with a lowered hard limit"))
    func withoutPrivilegeALimitAboveTheHardOneOrANegativeNiceIsAnError() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let table = dir + "/services.yaml"
        try """
            services:
              greedy:
                listen: 127.0.0.1:\(freePort())
                exec: /bin/cat
                limits: {nofile: 4096, core: 0}
                nice: -5
            """.write(toFile: table, atomically: true, encoding: .utf8)
        chmod(table, 0o644)
        let (status, text) = try runToEnd(["/usr/bin/prlimit", "--nofile=1024:1024", "/usr/bin/setpriv", "--reuid=65534", "--regid=65534",
                                           "--clear-groups", swinetdBinary, "run", "-f", table, "--control", "none"])
        #expect(status == 1)
        #expect(text.contains("services.yaml:5:22: error: 'limits.nofile' 4096 is above swinetd's own hard limit 1024; raising it needs swinetd to run as root"), "\(text)")
        #expect(text.contains("services.yaml:6:11: error: 'nice' -5 raises the handler's priority, which needs swinetd to run as root"), "\(text)")
    }

    @Test func sourceRateRefusesOverItsRate() throws {
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
        #expect(try exchange(ports[0], "4\n", from: "127.0.0.3") == "4\n", "another client group has its own budget")
        try d.waitForLog("reason=source-rate limit=2/min")
        #expect(d.handlerPids.count == 3)
    }

    @Test func rateMakesABurstWaitInTheQueueAndServesItAll() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              echo:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/cat
                rate: 5/s
                rate_burst: 10
            """ })
        let failures = Failures()
        let start = Date()
        concurrently(50) { client in
            do {
                let got = try exchange(ports[0], "client \(client)\n", timeout: 60)
                if got != "client \(client)\n" { failures.add("client \(client): \(got.debugDescription)") }
            } catch {
                failures.add("client \(client): \(error)")
            }
        }
        let elapsed = Date().timeIntervalSince(start)
        #expect(failures.list.isEmpty, "\(failures.list.prefix(5))")
        // 10 at once, then one every 200 ms: at least 8 s for the other 40.
        #expect(elapsed >= 7.5, "50 connections at 5/s after a burst of 10 took only \(elapsed)s")
        try d.waitForLog("echo: resumed reason=rate")
        let log = d.log
        #expect(log.components(separatedBy: "echo: paused reason=rate").count - 1 == 1, "\(log)")
        #expect(log.components(separatedBy: "echo: resumed reason=rate").count - 1 == 1, "\(log)")
        #expect(!log.contains("refused"))
        #expect(d.handlerPids.count == 50)
    }

    @Test func aTimeoutStopsTheHandlerAndKillsOneThatIgnoresTerm() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              sleepy:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sleep
                args: ["30"]
                timeout: 1
              stubborn:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/sh
                args: ["-c", "trap '' TERM; sleep 30"]
                timeout: 0.5
            """ }, ports: 2)
        let a = try connectOnly(ports[0])
        let b = try connectOnly(ports[1])
        defer { close(a); close(b) }
        try d.waitForLog("sleepy: exited", timeout: 10)
        #expect(d.log.range(of: #"sleepy: exited pid=\d+ peer=\S+ signal=SIGTERM duration=(0\.9|1\.)\d+s reason=timeout"#, options: .regularExpression) != nil, "\(d.log)")
        try d.waitForLog("stubborn: exited", timeout: 15)
        #expect(d.log.range(of: #"stubborn: exited pid=\d+ peer=\S+ signal=SIGKILL duration=(5|6)\.\d+s reason=timeout"#, options: .regularExpression) != nil, "\(d.log)")
        #expect(d.log.range(of: #"stubborn: timeout pid=\d+ peer=\S+ signal=SIGTERM\n(.*\n)*stubborn: timeout pid=\d+ peer=\S+ signal=SIGKILL\n"#, options: .regularExpression) != nil, "\(d.log)")
    }

    @Test func limitsNiceAndUmaskAreWhatTheHandlerSees() throws {
        let script = "grep -E '^Max (open files|file size|core file size|cpu time|address space|stack size)' /proc/self/limits; cut -d' ' -f19 /proc/self/stat; umask"
        let (d, ports) = try startDaemon({ p in """
            defaults:
              limits: {nofile: 300, core: 0}
            services:
              probe:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", \(jsonQuote(script))]
                limits: {nofile: 256, as: 1G, fsize: 10M, cpu: 60, stack: 8M}
                nice: 5
                umask: "027"
            """ })
        let out = try exchange(ports[0])
        let lines = out.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        #expect(lines.contains("Max cpu time 60 60 seconds"), "\(out)")
        #expect(lines.contains("Max file size 10485760 10485760 bytes"), "\(out)")
        #expect(lines.contains("Max stack size 8388608 8388608 bytes"), "\(out)")
        #expect(lines.contains("Max core file size 0 0 bytes"), "the default's limit applies beside the service's:\n\(out)")
        #expect(lines.contains("Max open files 256 256 files"), "the service's limit overrides the default's:\n\(out)")
        #expect(lines.contains("Max address space 1073741824 1073741824 bytes"), "\(out)")
        #expect(lines.contains("5"), "nice 5:\n\(out)")
        #expect(lines.contains("0027"), "umask 027:\n\(out)")
        _ = d
    }

    @Test func aFloodOfDeniedConnectionsIsCountedInAFewLinesAndCostsNoMemory() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              guarded:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/cat
                allow: [127.0.0.2]
            """ })
        #expect(try exchange(ports[0], "warm\n", from: "127.0.0.2") == "warm\n")
        let idle = rssKB(d.pid)
        let total = 20_000, clients = 8
        let failures = Failures()
        concurrently(clients) { c in
            for _ in 0..<(total / clients) {
                do { _ = try exchange(ports[0], from: "127.0.0.\(3 + c)") } catch { failures.add("\(error)") }
            }
        }
        #expect(failures.list.isEmpty, "\(failures.list.prefix(3))")
        // Every refusal is in the log, as a line of its own or in a suppressed= sum.
        func accounted() -> Int {
            d.logLines.filter { $0.hasPrefix("guarded: refused ") }.reduce(0) { sum, line in
                let suppressed = line.split(separator: " ").first { $0.hasPrefix("suppressed=") }.flatMap { Int($0.dropFirst(11)) } ?? 0
                return sum + suppressed + (line.contains(" peer=") ? 1 : 0)
            }
        }
        try waitUntil(10, "all \(total) refusals accounted for in the log (\(accounted()))") { accounted() == total }
        let lines = d.logLines.filter { $0.hasPrefix("guarded: refused ") }.count
        #expect(lines < 200, "\(lines) log lines for \(total) refusals")
        if !underAddressSanitizer {
            #expect(rssKB(d.pid) < idle + 4096, "RSS grew from \(idle) kB to \(rssKB(d.pid)) kB")
        }
        #expect(try exchange(ports[0], "still\n", from: "127.0.0.2") == "still\n")
        #expect(d.handlerPids.count == 2)
    }
}
