import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

let hasSetsid = FileManager.default.isExecutableFile(atPath: "/usr/bin/setsid")

/// What a handler leaves behind: a background child (`&`), or one that left
/// the handler's session (setsid), still holding the connection after the
/// handler exits or runs out of `timeout`. The client must get its end of
/// file all the same: the master keeps its copy of the connection and
/// shuts it down.
@Suite(.timeLimit(.minutes(2))) struct LeftoversTests {
    /// Reads `fd` until end of file or `seconds` without data; `eof` says
    /// which. The bound is what makes "the client never gets EOF" a failure
    /// rather than a hang.
    /// A client that connects, sends nothing (ends its side at once) and
    /// reads until end of file or `seconds`.
    func askingNothing(_ port: UInt16, seconds: Int) throws -> (bytes: [UInt8], eof: Bool) {
        let fd = try connectOnly(port)
        defer { close(fd) }
        shutdown(fd, Int32(SHUT_WR))
        return readToEnd(fd, seconds: seconds)
    }

    func readToEnd(_ fd: Int32, seconds: Int, slowly: Bool = false) -> (bytes: [UInt8], eof: Bool) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: slowly ? 8192 : 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { return (out, true) }
            if n < 0 {
                if errno == EINTR { continue }
                return (out, false)
            }
            out.append(contentsOf: buffer[0..<n])
            if slowly { usleep(2000) }
        }
    }

    /// The pid a handler wrote to `path`, once it is there.
    func pidFrom(_ path: String) throws -> Int32 {
        var pid: Int32?
        try waitUntil(10, "a pid in \(path)") {
            pid = readText(path).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            return pid != nil
        }
        return pid!
    }

    /// Ends a leftover the test learnt about, whatever swinetd did with it.
    func killLeftover(_ path: String) {
        if let text = readText(path), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 {
            kill(pid, SIGKILL)
        }
    }

    @Test func aBackgroundChildDoesNotKeepTheClientWaitingAndIsEnded() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/leftover.pid"
        defer { killLeftover(pidFile) }
        let (d, p) = try startDaemon { p in
            """
            services:
              bg:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "sleep 302 & echo $! > \(pidFile); echo hi; exit 0"]
            """
        }
        let r = try askingNothing(p[0], seconds: 5)
        #expect(r.eof, "the client got no EOF within 5 s after the handler exited:\n\(d.log)")
        #expect(String(decoding: r.bytes, as: UTF8.self) == "hi\n")
        let leftover = try pidFrom(pidFile)
        #expect(throws: Never.self, "the handler's background child still runs") {
            try waitUntil(5, "pid \(leftover) to end") { !isAlive(leftover) }
        }
    }

    @Test func aBackgroundChildOfAUnixServiceHandlerDoesNotKeepTheClientWaiting() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/leftover.pid"
        let path = dir + "/bg.sock"
        defer { killLeftover(pidFile) }
        let d = try Daemon(table: """
            services:
              bg:
                listen: \(path)
                exec: /bin/sh
                args: ["-c", "sleep 302 & echo $! > \(pidFile); echo hi; exit 0"]
            """)
        #expect(d.started, "\(d.log)")
        let fd = try connectUnix(path)
        defer { close(fd) }
        shutdown(fd, Int32(SHUT_WR))
        let r = readToEnd(fd, seconds: 5)
        #expect(r.eof, "the client got no EOF within 5 s after the handler exited:\n\(d.log)")
        #expect(String(decoding: r.bytes, as: UTF8.self) == "hi\n")
    }

    @Test(.enabled(if: hasSetsid, "needs setsid(1) (util-linux)"))
    func aChildThatLeftTheSessionDoesNotKeepTheClientWaiting() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/leftover.pid"
        defer { killLeftover(pidFile) }
        let (d, p) = try startDaemon { p in
            """
            services:
              escaper:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "setsid sleep 303 & echo $! > \(pidFile); echo hi; exit 0"]
            """
        }
        let r = try askingNothing(p[0], seconds: 5)
        #expect(r.eof, "the client got no EOF within 5 s after the handler exited:\n\(d.log)")
        #expect(String(decoding: r.bytes, as: UTF8.self) == "hi\n")
        _ = try pidFrom(pidFile)   // for the clean-up
    }

    @Test(.enabled(if: hasSetsid, "needs setsid(1) (util-linux)"))
    func timeoutEndsTheConnectionEvenWhenAChildLeftTheSession() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/leftover.pid"
        defer { killLeftover(pidFile) }
        let (d, p) = try startDaemon { p in
            """
            services:
              stuck:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "setsid sleep 304 & echo $! > \(pidFile); echo hi; exec sleep 305"]
                timeout: 2
            """
        }
        let r = try askingNothing(p[0], seconds: 8)
        #expect(r.eof, "the client got no EOF within 8 s of a 2 s timeout:\n\(d.log)")
        #expect(String(decoding: r.bytes, as: UTF8.self) == "hi\n")
        #expect(d.log.contains("stuck: timeout pid="), "\(d.log)")
        _ = try pidFrom(pidFile)
    }

    /// `timeout`'s SIGTERM is the handler's notice, not the end of its
    /// connection: a handler that traps it may still say goodbye (an FTP or
    /// SMTP server's "421"), which the client must receive.
    @Test func aHandlerThatTrapsTheTimeoutsTermCanStillSayGoodbye() throws {
        let (d, p) = try startDaemon { p in
            """
            services:
              polite:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "trap 'echo 421 timeout; exit 0' TERM; echo 220 hello; sleep 311 & wait"]
                timeout: 1
            """
        }
        let r = try askingNothing(p[0], seconds: 10)
        #expect(r.eof, "the client got no EOF within 10 s of a 1 s timeout:\n\(d.log)")
        #expect(String(decoding: r.bytes, as: UTF8.self) == "220 hello\n421 timeout\n", "\(d.log)")
    }

    /// A handler that ignores SIGTERM keeps its connection through the
    /// 5 s grace (what it writes then still arrives), and loses it at the
    /// SIGKILL step.
    @Test func aHandlerThatIgnoresTheTimeoutsTermIsCutAtTheKill() throws {
        let (d, p) = try startDaemon { p in
            """
            services:
              deaf:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "trap '' TERM; echo hi; sleep 2; echo still-here; exec sleep 312"]
                timeout: 1
            """
        }
        let r = try askingNothing(p[0], seconds: 15)
        #expect(r.eof, "the client got no EOF within 15 s of a 1 s timeout (SIGKILL at 6 s):\n\(d.log)")
        #expect(String(decoding: r.bytes, as: UTF8.self) == "hi\nstill-here\n", "\(d.log)")
        try d.waitForLog("deaf: timeout pid=", count: 2)
        #expect(d.log.contains("signal=SIGKILL"), "\(d.log)")
    }

    /// Documented (swinetd.yaml(5), What a handler leaves behind): the
    /// master's copy of the connection means a handler that closes it and
    /// keeps running gives its client end of file when it exits, not when
    /// it closes. This pins that, so that changing it is a decision: the
    /// client gets all the data and its EOF, and the handler has been
    /// reaped by then.
    @Test func aHandlerThatClosesItsConnectionAndGoesOnGivesEOFWhenItExits() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/handler.pid"   // not killed at the end: it exits, and its pid may be another's by then
        let (d, p) = try startDaemon { p in
            """
            services:
              closer:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "echo $$ > \(pidFile); echo hi; exec >&- 2>&- <&-; sleep 2"]
            """
        }
        let r = try askingNothing(p[0], seconds: 10)
        let handler = try pidFrom(pidFile)
        let runningAtEOF = isAlive(handler)
        #expect(r.eof, "the client got no EOF within 10 s of a handler that exits after 2 s:\n\(d.log)")
        #expect(String(decoding: r.bytes, as: UTF8.self) == "hi\n")
        #expect(!runningAtEOF, "the client got EOF while the handler still ran: the master no longer holds the connection until the handler exits (update swinetd.yaml(5) if that is meant)")
    }

    @Test(.enabled(if: hasSetsid, "needs setsid(1) (util-linux)"))
    func anUpgradeHandsOverWhatEndsALeftoversConnection() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pidFile = dir + "/leftover.pid"
        defer { killLeftover(pidFile) }
        let (d, p) = try startDaemon { p in
            """
            services:
              escaper:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "setsid sleep 306 & echo $! > \(pidFile); read x; echo bye-$x; exit 0"]
            """
        }
        let fd = try connectOnly(p[0])
        defer { close(fd) }
        _ = try pidFrom(pidFile)
        let up = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        #expect(up.status == 0, "\(up.output)")
        // The handler, started by the image before, exits under the new one.
        #expect(write(fd, "now\n", 4) == 4)
        shutdown(fd, Int32(SHUT_WR))
        let r = readToEnd(fd, seconds: 5)
        #expect(r.eof, "the client got no EOF within 5 s after the handler exited:\n\(d.log)")
        #expect(String(decoding: r.bytes, as: UTF8.self) == "bye-now\n")
    }

    /// Shutting the connection down when the handler exits must not cut a
    /// reply still queued in the socket: the whole of it, read slowly,
    /// arrives before the EOF.
    @Test func aLargeReplyStillQueuedWhenTheHandlerExitsArrivesWhole() throws {
        let size = 1 << 20
        let (d, p) = try startDaemon { p in
            """
            services:
              big:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "head -c \(size) /dev/zero"]
            """
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        // A small window, so most of the reply waits on the handler's side.
        var small: Int32 = 4096
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        #expect(withSockaddr("127.0.0.1", p[0]) { connect(fd, $0, $1) } == 0)
        shutdown(fd, Int32(SHUT_WR))
        var first = [UInt8](repeating: 0, count: 1)
        #expect(recv(fd, &first, 1, 0) == 1)
        // Read the rest only once the handler has ended: what is left is in
        // the kernel's buffers when the master ends the connection.
        let exited = (try? d.waitForLog("big: exited", timeout: 20)) != nil
        let r = readToEnd(fd, seconds: 10, slowly: true)
        let eof = r.eof   // not r itself in the message: a megabyte of it
        #expect(eof, "no EOF after the reply:\n\(d.log)")
        #expect(r.bytes.count + 1 == size && r.bytes.allSatisfy { $0 == 0 },
                "\(r.bytes.count + 1) of \(size) bytes arrived (handler exited before the reading: \(exited))")
    }

    /// The soft limit in /proc/PID/limits for "Max open files".
    func softNofile(_ pid: Int32) -> String? {
        guard let limits = readText("/proc/\(pid)/limits") else { return nil }
        let line = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") }
        return line?.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first.map(String.init)
    }

    /// Two descriptors per running handler: the master raises its soft
    /// RLIMIT_NOFILE to the hard limit, and its handlers keep the soft
    /// limit swinetd was started with (or the table's `nofile`).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"), "needs prlimit(1) (util-linux)"))
    func theMasterRaisesItsDescriptorLimitAndHandlersKeepTheirs() throws {
        let (d, p) = try startDaemon(launcher: ["/usr/bin/prlimit", "--nofile=256:4096", "--"], { p in
            """
            services:
              plain:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "ulimit -Sn; ulimit -Hn"]
              limited:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/sh
                args: ["-c", "ulimit -Sn; ulimit -Hn"]
                limits: {nofile: 100}
            """
        }, ports: 2)
        #expect(softNofile(d.pid) == "4096", "\(readText("/proc/\(d.pid)/limits") ?? "")")
        #expect(try exchange(p[0], timeout: 10) == "256\n4096\n")
        #expect(try exchange(p[1], timeout: 10) == "100\n100\n")
        // The image an upgrade starts finds the raised limit; its handlers
        // still get the one swinetd was started with.
        let up = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        #expect(up.status == 0, "\(up.output)")
        #expect(softNofile(d.pid) == "4096")
        #expect(try exchange(p[0], timeout: 10) == "256\n4096\n")
    }
}
