import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Sends `text` on a UNIX stream socket, half-closes, reads to EOF.
func unixExchange(_ path: String, _ text: String = "") throws -> String {
    let fd = try connectUnix(path)
    defer { close(fd) }
    return finishExchange(fd, text)
}

/// On a connected stream socket: sends `text`, half-closes, reads to EOF
/// (at most 10 s between reads).
func finishExchange(_ fd: Int32, _ text: String) -> String {
    var tv = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let bytes = Array(text.utf8)
    if !bytes.isEmpty { _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
    shutdown(fd, Int32(SHUT_WR))
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        out.append(contentsOf: buffer[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}

func fileInode(_ path: String) -> UInt64? {
    var st = stat()
    return lstat(path, &st) == 0 ? UInt64(st.st_ino) : nil
}

/// UNIX stream socket services: the file, its mode and owner, the peer's
/// credentials in the handler's environment, and the file's life.
@Suite(.timeLimit(.minutes(2))) struct UnixSocketTests {
    @Test func aUnixServiceTellsItsHandlerWhoConnected() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/hello.sock"
        let d = try Daemon(table: """
            services:
              hello:
                listen: \(path)
                socket_mode: "0600"
                exec: /bin/sh
                args: ["-c", "env | grep -E '^(UNIX|PROTO|TCP)' | sort; cat"]
            """)
        #expect(d.started, "\(d.log)")
        var st = stat()
        #expect(lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK && st.st_mode & 0o777 == 0o600 && st.st_uid == geteuid())
        let out = try unixExchange(path, "ping\n")
        #expect(out == """
            PROTO=UNIX
            UNIXLOCALPATH=\(path)
            UNIXREMOTEEGID=\(getegid())
            UNIXREMOTEEUID=\(geteuid())
            UNIXREMOTEPID=\(getpid())
            ping

            """, "\(out)")
        try d.waitForLog("hello: exited")
        #expect(d.log.contains("hello: accepted pid="), "\(d.log)")
        d.signal(SIGTERM)
        #expect(try d.waitForExit() == 0)
        #expect(fileInode(path) == nil, "the file is removed when swinetd stops")
    }

    /// A socket in folders only root (or swinetd's user) can change is
    /// bound by its own path: that is the name a client's getpeername, a
    /// handler's getsockname, /proc/net/unix and ss show.
    @Test func aSocketInAFolderOnlyItsOwnerCanWriteShowsItsRealPath() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let path = dir + "/peer.sock"
        let d = try Daemon(table: """
            services:
              peer:
                listen: \(path)
                exec: /bin/cat
            """)
        #expect(d.started, "\(d.log)")
        let fd = try connectUnix(path)
        defer { close(fd) }
        var a = sockaddr_un()
        var len = socklen_t(MemoryLayout<sockaddr_un>.size)
        let rc = withUnsafeMutablePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &len) } }
        #expect(rc == 0)
        let shown = withUnsafeBytes(of: a.sun_path) { raw in String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self) }
        #expect(shown == path, "the peer's name is \(shown)")
        d.signal(SIGTERM)
        #expect(try d.waitForExit() == 0)
    }

    @Test func aReloadKeepsAKeptSocketAndRemovesARemovedOne() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = dir + "/a.sock", b = dir + "/b.sock"
        let table = { (paths: [String]) in "services:\n" + paths.enumerated().map { i, p in
            "  s\(i):\n    listen: \(p)\n    exec: /bin/echo\n    args: [\"s\(i)\"]\n" }.joined() }
        let d = try Daemon(table: table([a, b]))
        #expect(d.started, "\(d.log)")
        let inode = fileInode(a)
        try d.rewrite(table([a]))
        #expect(try runToEnd([swinetdBinary, "reload", "-c", d.controlPath]).status == 0)
        #expect(fileInode(a) == inode, "a kept address keeps its socket and file")
        #expect(fileInode(b) == nil, "a removed address takes its file along")
        #expect(try unixExchange(a) == "s0\n")
    }

    @Test func aStaleFileIsReplacedAndALiveOneOrAFileIsAnError() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stale = dir + "/stale.sock"
        makeStaleSocket(stale)
        let table = "services:\n  s:\n    listen: \(stale)\n    exec: /bin/echo\n    args: [\"fresh\"]\n"
        let first = try Daemon(table: table)
        #expect(first.started, "\(first.log)")
        #expect(try unixExchange(stale) == "fresh\n")
        // A second swinetd on the same path: it answers, so that is an error.
        let second = try Daemon(table: table, args: ["--control", "none"], waitForStart: false)
        #expect(try second.waitForExit() == 1)
        #expect(second.log.contains("error address=\(stale) op=connect error=\"something already answers on \(stale)\""), "\(second.log)")
        #expect(try unixExchange(stale) == "fresh\n", "the first keeps serving")
        let plain = dir + "/plain"
        try "x".write(toFile: plain, atomically: true, encoding: .utf8)
        let third = try Daemon(table: "services:\n  s:\n    listen: \(plain)\n    exec: /bin/echo\n", args: ["--control", "none"], waitForStart: false)
        #expect(try third.waitForExit() == 1)
        #expect(third.log.contains("\(plain) exists and is not a socket"), "\(third.log)")
        #expect(try readFile(plain) == "x", "a file that is not a socket is left alone")
    }

    /// The look at a leftover socket never blocks the master: a listener
    /// whose backlog is full (here backlog 0 with one connection queued; a
    /// `socket_user` can set one up at the path at will) would keep a
    /// blocking connect asleep, and signals cannot end it (the master reads
    /// them from a signalfd), so nothing else would be served. It answers,
    /// so it is in use.
    @Test func aLeftoverSocketWithAFullBacklogIsInUseNotAWait() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/full.sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        #expect(withUnixAddress(path) { bind(listener, $0, $1) } == 0 && listen(listener, 0) == 0)
        let queued = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        defer { close(queued) }
        #expect(withUnixAddress(path) { connect(queued, $0, $1) } == 0, "one connection fills backlog 0")
        let d = try Daemon(table: "services:\n  s:\n    listen: \(path)\n    exec: /bin/echo\n", args: ["--control", "none"], waitForStart: false)
        #expect(try d.waitForExit(timeout: 20) == 1, "\(d.log)")
        #expect(d.log.contains("something already answers on \(path)"), "\(d.log)")
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: a socket file owned by nobody"))
    func socketUserAndGroupOwnTheFile() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/owned.sock"
        let d = try Daemon(table: "services:\n  s:\n    listen: \(path)\n    exec: /bin/echo\n    socket_user: nobody\n    socket_group: nogroup\n    socket_mode: \"0660\"\n")
        #expect(d.started, "\(d.log)")
        var st = stat()
        #expect(lstat(path, &st) == 0 && st.st_uid == 65534 && st.st_gid == 65534 && st.st_mode & 0o777 == 0o660)
    }
}
