import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What swinetd does with what it finds at start: a pid file, closed
/// standard descriptors, inherited ones, a host without IPv6.
@Suite(.timeLimit(.minutes(2))) struct StartupTests {
    func echoTable(_ p: [UInt16]) -> String {
        "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n"
    }

    @Test func thePidFileIsALockAgainstASecondInstance() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/swinetd.pid"
        let (first, _) = try startDaemon(args: ["--pid-file", pidFile], echoTable)
        let (second, status) = try {
            for _ in 0..<5 {
                let d = try Daemon(table: echoTable([freePort()]), args: ["--pid-file", pidFile], waitForStart: false)
                let status = try d.waitForExit()
                if !d.log.contains("Address already in use") { return (d, status) }
            }
            throw TestFailure("no free port")
        }()
        #expect(status == 1)
        #expect(second.log.contains("swinetd: error pid-file=\(pidFile) error=\"already running as PID \(first.pid)\""), "\(second.log)")
        #expect(try readFile(pidFile) == "\(first.pid)\n")
        #expect(first.isRunning)
        first.signal(SIGTERM)
        #expect(try first.waitForExit() == 0)
        #expect(!FileManager.default.fileExists(atPath: pidFile))
    }

    @Test func aStalePidFileIsReplaced() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/swinetd.pid"
        try "999999\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        let (d, _) = try startDaemon(args: ["--pid-file", pidFile], echoTable)
        #expect(try readFile(pidFile) == "\(d.pid)\n")
    }

    @Test func aPidFileThatIsASymlinkIsNotFollowed() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let target = dir + "/precious"
        try "precious\n".write(toFile: target, atomically: true, encoding: .utf8)
        let pidFile = dir + "/swinetd.pid"
        symlink(target, pidFile)
        let d = try Daemon(table: echoTable([freePort()]), args: ["--pid-file", pidFile], waitForStart: false)
        #expect(try d.waitForExit() == 1)
        #expect(d.log.contains("swinetd: error pid-file=\(pidFile) error=\"a symbolic link: not followed\""), "\(d.log)")
        #expect(try readFile(target) == "precious\n")
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: pidFile)) == target, "the link is left alone")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"), "needs prlimit (util-linux)"),
          .disabled(if: underThreadSanitizer, "ThreadSanitizer's runtime cannot run under RLIMIT_FSIZE 0"))
    func aPidFileThatCannotBeWrittenFailsStartup() throws {
        // RLIMIT_FSIZE 0: the write raises SIGXFSZ and fails with EFBIG.
        // (The log goes to a pipe: a log file could not be written either.)
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/swinetd.pid"
        let d = try Daemon(table: echoTable([freePort()]), args: ["--pid-file", pidFile],
                           launcher: ["/usr/bin/prlimit", "--fsize=0"], waitForStart: false, logToPipe: true)
        #expect(try d.waitForExit() == 1)
        #expect(d.log.contains("swinetd: error pid-file=\(pidFile) error=\"File too large\""), "\(d.log)")
        #expect(!d.log.contains("swinetd: started"))
    }

    /// Runs swinetd with some of its standard descriptors closed; the log
    /// goes to a syslog socket of the test's own.
    func startWithClosed(_ shell: String) throws -> (Daemon, UInt16, SyslogCollector) {
        let logDir = makeTempDir()
        let sink = try SyslogCollector(path: logDir + "/log")
        let port = freePort()
        let d = try Daemon(table: echoTable([port]), args: ["--syslog-socket", sink.path],
                           launcher: ["/bin/sh", "-c", "\(shell); exec \"$@\"", "sh"], waitForStart: false)
        try waitUntil(10, "started in syslog") { sink.drain().contains { $0.contains("swinetd: started") } || !d.isRunning }
        return (d, port, sink)
    }

    func descriptorTarget(_ pid: Int32, _ fd: Int) -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) ?? "closed"
    }

    @Test func aClosedStderrGetsDevNullAndTheLogGoesToSyslog() throws {
        let (d, port, sink) = try startWithClosed("exec 2>&-")
        #expect(d.isRunning)
        #expect(descriptorTarget(d.pid, 2) == "/dev/null")
        #expect(sink.drain().contains { $0.contains("swinetd: log-to-syslog reason=\"stderr was closed at start\"") }, "\(sink.drain())")
        #expect(try exchange(port, "hi\n") == "hi\n")
        try waitUntil(5, "the exit in syslog") { sink.drain().contains { $0.contains("echo: exited") } }
    }

    @Test func allThreeStandardDescriptorsClosed() throws {
        let (d, port, _) = try startWithClosed("exec 0<&- 1>&- 2>&-")
        #expect(d.isRunning)
        for fd in 0...2 { #expect(descriptorTarget(d.pid, fd) == "/dev/null", "fd \(fd)") }
        #expect(try exchange(port, "hi\n") == "hi\n")
    }

    @Test func theDaemonKeepsNoInheritedDescriptor() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/swinetd.pid"
        let table = dir + "/services.yaml"
        let inherited = dir + "/inherited"
        var daemonPid: Int32 = 0
        defer { if daemonPid > 0 { kill(daemonPid, SIGKILL) } }
        for attempt in 0..<5 {
            try echoTable([freePort()]).write(toFile: table, atomically: true, encoding: .utf8)
            let (status, text) = try runToEnd(["/bin/sh", "-c", "exec 7>\"$0\" 9>&7; exec \"$@\"", inherited,
                                               swinetdBinary, "--daemon", "-f", table, "--pid-file", pidFile, "--control", "none"])
            if status != 0 && text.contains("Address already in use") && attempt < 4 { continue }
            #expect(status == 0, "\(text)")
            daemonPid = try #require(Int32(readFile(pidFile).dropLast()))
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(daemonPid)/fd")) ?? []
            #expect(!fds.contains { descriptorTarget(daemonPid, Int($0)!) == inherited }, "\(fds.map { "\($0)→\(descriptorTarget(daemonPid, Int($0)!))" })")
            break
        }
    }

    @Test(.enabled(if: canUnshareNetwork, "needs root, a network namespace of its own (unshare -n), sysctl, ip and nsenter"))
    func aHostWithoutIPv6ServesTheIPv4HalfOfLocalhost() throws {
        // The namespace is the test's own: its fixed ports cannot collide.
        let noIPv6 = ["/usr/bin/unshare", "-n", "/bin/sh", "-c",
                      "PATH=/usr/sbin:/sbin:$PATH; sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.lo.disable_ipv6=1"
                      + " && ip link set lo up && exec \"$@\"", "sh"]
        let d = try Daemon(table: """
            services:
              daytime:
                listen: localhost:7013
                exec: /bin/echo
                args: [served]
              every:
                listen: "7014"
                exec: /bin/echo
                args: [every]
            """, launcher: noIPv6)
        #expect(d.started, "\(d.log)")
        #expect(d.log.contains("daytime: skipped address=[::1]:7013"), "\(d.log)")
        let (status, text) = try runToEnd(["/usr/bin/nsenter", "-t", "\(d.pid)", "-n", "/bin/bash", "-c",
                                           "exec 3<>/dev/tcp/127.0.0.1/7013 && cat <&3"])
        #expect(status == 0 && text == "served\n", "\(text)")
        // An IPv6 address written out is not optional: it fails the start.
        let explicit = try Daemon(table: "services:\n  six:\n    listen: \"[::1]:7015\"\n    exec: /bin/cat\n",
                                  launcher: noIPv6, waitForStart: false)
        #expect(try explicit.waitForExit() == 1)
        #expect(explicit.log.contains("six: error address=[::1]:7015 op=bind"), "\(explicit.log)")
    }
}
