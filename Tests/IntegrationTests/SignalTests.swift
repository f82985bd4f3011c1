import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// No signal kills the master silently, and no flag or inherited signal
/// state turns it into a crash or a hang.
@Suite(.timeLimit(.minutes(2))) struct SignalTests {
    @Test func anUnboundedGraceIsRefusedAtParseTime() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let table = dir + "/services.yaml"
        try "services:\n  echo: {listen: \"127.0.0.1:\(freePort())\", exec: /bin/cat}\n".write(toFile: table, atomically: true, encoding: .utf8)
        for bad in ["1e11", "-1", "nan", "inf"] {
            let (status, text) = try runToEnd([swinetdBinary, "-f", table, "--grace=\(bad)"], timeout: 5)
            #expect(status == 64, "--grace \(bad): \(text)")
            #expect(text.contains("--grace must be a number of seconds from 0 to 86400"), "\(text)")
        }
    }

    @Test func theLongestGraceStillStops() throws {
        let (d, _) = try startDaemon(args: ["--grace", "86400"], { p in "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n" })
        d.signal(SIGTERM)
        #expect(try d.waitForExit() == 0)
        #expect(d.log.contains("swinetd: stopping signal=SIGTERM handlers=0 grace=86400.000s"), "\(d.log)")
    }

    @Test func straySignalsAreLoggedAndIgnored() throws {
        let pidFile = makeTempDir() + "/swinetd.pid"
        defer { unlink(pidFile); rmdir(String(pidFile.dropLast("/swinetd.pid".count))) }
        let (d, p) = try startDaemon(args: ["--pid-file", pidFile], { p in "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n" })
        // (SIGUSR1 and SIGUSR2 have a meaning: status and upgrade, see UpgradeTests.)
        let stray: [Int32] = [SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU, SIGXFSZ, SIGPWR, SIGSYS, SIGSTKFLT, SIGIO, SIGTRAP]
            + Array(32...64)
        for s in stray {
            kill(d.pid, s)
            kill(d.pid, s)
        }
        #expect(try exchange(p[0], "alive\n", timeout: 5) == "alive\n", "\(d.log)")
        #expect(d.isRunning)
        try d.waitForLog("swinetd: signal-ignored signal=SIGALRM")
        try d.waitForLog("swinetd: signal-ignored signal=SIGRTMAX")
        #expect(d.logLines.filter { $0 == "swinetd: signal-ignored signal=SIGALRM" }.count == 1, "logged once per signal")
        // QUIT is a graceful stop, as TERM.
        d.signal(SIGQUIT)
        #expect(try d.waitForExit() == 0)
        #expect(d.log.contains("swinetd: stopping signal=SIGQUIT"), "\(d.log)")
        #expect(!FileManager.default.fileExists(atPath: pidFile))
    }

    @Test func signalsTheParentLeftIgnoredAreReset() throws {
        // With SIGCHLD ignored the kernel reaps handlers itself and sends no
        // signal: a master that kept that disposition would never see a
        // handler exit, and a service at its limit would stay there.
        let ignoring = ["/usr/bin/perl", "-e", #"$SIG{CHLD} = $SIG{HUP} = $SIG{TERM} = "IGNORE"; exec @ARGV or die"#]
        let (d, p) = try startDaemon(launcher: ignoring, { p in """
            services:
              one:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/echo
                args: [served]
                max_connections: 1
            """ })
        for _ in 0..<3 { #expect(try exchange(p[0], timeout: 5) == "served\n", "\(d.log)") }
        try d.waitForLog("one: exited", count: 3)
        d.signal(SIGHUP)
        try d.waitForLog("reload: applied")
        d.signal(SIGTERM)
        #expect(try d.waitForExit() == 0)
    }
}
