import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A UNIX socket's file in a folder someone else can write: whatever stands
/// at its path may be swapped at any moment, so swinetd changes the mode
/// and owner of its own socket only, removes only its own socket, and says
/// when a folder lets others take the path.
@Suite(.timeLimit(.minutes(3))) struct SocketFileSafetyTests {
    private func stat(_ path: String) -> stat? {
        var st = Glibc.stat()
        return lstat(path, &st) == 0 ? st : nil
    }

    private func reload(_ d: Daemon) throws -> Int32 {
        try runToEnd([swinetdBinary, "reload", "-c", d.controlPath]).status
    }

    /// A table of `keep` (a socket in a private folder, so the table is
    /// never empty) and, when `with`, `s` on `path`.
    private func table(keep: String, path: String, with: Bool, extra: String = "") -> String {
        var t = "services:\n  keep:\n    listen: \(keep)\n    exec: /bin/echo\n"
        if with { t += "  s:\n    listen: \(path)\n    exec: /bin/echo\n\(extra)" }
        return t
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: the sockets are given to nobody, the target file is root's"))
    func aSymlinkSwappedInRightAfterBindNeverGetsTheSocketsOwnerOrMode() throws {
        let open = makeTempDir(), mine = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: open); try? FileManager.default.removeItem(atPath: mine) }
        chmod(open, 0o777)          // a folder every user can write
        let target = mine + "/secret"
        try "root only\n".write(toFile: target, atomically: false, encoding: .utf8)
        chmod(target, 0o600)
        let count = 40
        let paths = (0..<count).map { open + "/s\($0).sock" }
        let keep = mine + "/keep.sock"
        let services = paths.enumerated().map { i, p in
            "  s\(i):\n    listen: \(p)\n    exec: /bin/echo\n    socket_user: nobody\n    socket_mode: \"0666\"\n" }.joined()
        let keepOnly = "services:\n  keep:\n    listen: \(keep)\n    exec: /bin/echo\n"
        let d = try Daemon(table: keepOnly)
        #expect(d.started, "\(d.log)")
        // The attacker: as soon as a socket appears (inotify), a symlink to
        // the root file takes its name, in one rename.
        let notify = inotify_init1(Int32(IN_NONBLOCK))
        try #require(notify >= 0)
        defer { close(notify) }
        inotify_add_watch(notify, open, UInt32(IN_CREATE))
        let done = Flag(), swaps = Counter()
        let swapper = Thread {
            var spare = 0
            func makeLink() -> String {
                spare += 1
                let link = open + "/link\(spare)"
                symlink(target, link)
                return link
            }
            var link = makeLink()
            var buffer = [UInt8](repeating: 0, count: 65536)
            while !done.isSet {
                var p = pollfd(fd: notify, events: Int16(POLLIN), revents: 0)
                guard poll(&p, 1, 100) > 0 else { continue }
                let n = buffer.withUnsafeMutableBytes { read(notify, $0.baseAddress, $0.count) }
                var at = 0
                while n > 0 && at + 16 <= n {
                    let length = Int(buffer[at + 12]) | Int(buffer[at + 13]) << 8 | Int(buffer[at + 14]) << 16 | Int(buffer[at + 15]) << 24
                    let name = String(decoding: buffer[(at + 16)..<(at + 16 + length)].prefix { $0 != 0 }, as: UTF8.self)
                    at += 16 + length
                    guard name.hasSuffix(".sock") else { continue }
                    if rename(link, open + "/" + name) == 0 { swaps.increment(); link = makeLink() }
                }
            }
        }
        swapper.start()
        defer { done.set() }
        var rounds = 0
        while rounds < 30 {
            rounds += 1
            try d.rewrite(keepOnly + services)
            _ = try reload(d)
            try d.rewrite(keepOnly)
            #expect(try reload(d) == 0, "the loop must really reload:\n\(d.log.suffix(2000))")
            for p in paths { if let st = stat(p), st.st_mode & S_IFMT != S_IFSOCK { unlink(p) } }
            let st = try #require(stat(target))
            if st.st_uid != 0 || st.st_mode & 0o7777 != 0o600 { break }
        }
        done.set()
        let st = try #require(stat(target))
        #expect(st.st_uid == 0 && st.st_mode & 0o7777 == 0o600,
                "the root file became uid \(st.st_uid) mode \(String(st.st_mode & 0o7777, radix: 8)) after \(rounds) rounds")
        #expect(swaps.value > 0, "the swapper never caught a socket: the test proved nothing")
        #expect(d.isRunning)
    }

    @Test func aChangedSocketModeIsAppliedOnReload() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/m.sock", keep = dir + "/keep.sock"
        let d = try Daemon(table: table(keep: keep, path: path, with: true, extra: "    socket_mode: \"0666\"\n"))
        #expect(d.started, "\(d.log)")
        let inode = fileInode(path)
        #expect(stat(path).map { $0.st_mode & 0o777 } == 0o666)
        try d.rewrite(table(keep: keep, path: path, with: true, extra: "    socket_mode: \"0600\"\n"))
        #expect(try reload(d) == 0, "\(d.log)")
        #expect(fileInode(path) == inode, "the socket is kept")
        #expect(stat(path).map { $0.st_mode & 0o777 } == 0o600, "\(d.log)")
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: socket files owned by nobody and daemon"))
    func aChangedSocketUserIsAppliedOnReloadToTheSocketOnly() throws {
        let dir = makeTempDir(), mine = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: mine) }
        let path = dir + "/u.sock", keep = dir + "/keep.sock"
        let d = try Daemon(table: table(keep: keep, path: path, with: true, extra: "    socket_user: nobody\n    socket_mode: \"0666\"\n"))
        #expect(d.started, "\(d.log)")
        #expect(stat(path).map { $0.st_uid } == uid(of: "nobody"))
        try d.rewrite(table(keep: keep, path: path, with: true, extra: "    socket_user: daemon\n    socket_mode: \"0600\"\n"))
        #expect(try reload(d) == 0, "\(d.log)")
        let st = try #require(stat(path))
        #expect(st.st_uid == uid(of: "daemon") && st.st_mode & 0o777 == 0o600, "uid \(st.st_uid) mode \(String(st.st_mode & 0o777, radix: 8))")
        // The socket's path now names a root file (swapped in by whoever can
        // write the folder): the next change must not reach it.
        let target = mine + "/secret"
        try "root only\n".write(toFile: target, atomically: false, encoding: .utf8)
        chmod(target, 0o600)
        symlink(target, dir + "/link.tmp")
        rename(dir + "/link.tmp", path)
        try d.rewrite(table(keep: keep, path: path, with: true, extra: "    socket_user: nobody\n    socket_mode: \"0666\"\n"))
        let applied = d.log.components(separatedBy: "reload: applied").count
        #expect(try reload(d) != 2, "the reload was answered")
        #expect(d.log.components(separatedBy: "reload: applied").count == applied + 1, "the change was applied:\n\(d.log.suffix(2000))")
        let t = try #require(stat(target))
        #expect(t.st_uid == 0 && t.st_mode & 0o7777 == 0o600, "the root file became uid \(t.st_uid) mode \(String(t.st_mode & 0o7777, radix: 8))")
    }

    @Test func aFileAtARetiredSocketsPathIsNotRemoved() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/gone.sock", keep = dir + "/keep.sock"
        let d = try Daemon(table: table(keep: keep, path: path, with: true))
        #expect(d.started, "\(d.log)")
        // Someone replaced the socket's file with their own.
        try "theirs\n".write(toFile: dir + "/theirs.tmp", atomically: false, encoding: .utf8)
        rename(dir + "/theirs.tmp", path)
        try d.rewrite(table(keep: keep, path: path, with: false))
        #expect(try reload(d) == 0, "\(d.log)")
        #expect(try readFile(path) == "theirs\n", "only swinetd's own socket is removed")
        d.signal(SIGTERM)
        #expect(try d.waitForExit() == 0)
        #expect(fileInode(keep) == nil, "its own socket is removed at stop")
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: a socket owned by nobody"))
    func anotherUsersLeftoverSocketIsLeftAlone() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/planted.sock"
        makeStaleSocket(path)
        lchown(path, 65534, 65534)
        let inode = fileInode(path)
        let d = try Daemon(table: "services:\n  s:\n    listen: \(path)\n    exec: /bin/echo\n", args: ["--control", "none"], waitForStart: false)
        try waitUntil(20, "swinetd to start or give up:\n\(d.log)") { d.started || !d.isRunning }
        #expect(d.log.contains("\(path) is a socket of uid 65534, left alone"), "\(d.log)")
        #expect(fileInode(path) == inode, "another user's socket is never unlinked")
    }

    @Test func checkAndStartWarnOfASocketInAFolderOthersCanWrite() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o1777)
        let path = dir + "/shared.sock"
        // The table itself in a folder of its own: as root, one in a folder
        // others can write is refused.
        let tableDir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: tableDir) }
        let tablePath = tableDir + "/t.yaml"
        try "services:\n  s:\n    listen: \(path)\n    exec: /bin/echo\n".write(toFile: tablePath, atomically: false, encoding: .utf8)
        chmod(tablePath, 0o644)
        let check = try runToEnd([swinetdBinary, "check", "-f", tablePath])
        let warning = "warning: service 's': the socket \(path) is in \(dir), and every user can write it (mode 1777)"
        #expect(check.status == 0 && check.output.contains(warning), "\(check.output)")
        let d = try Daemon(table: "services:\n  s:\n    listen: \(path)\n    exec: /bin/echo\n")
        #expect(d.started, "\(d.log)")
        #expect(d.log.contains("s: exposed address=\(path) folder=\(dir) reason=\"every user can write it (mode 1777)\""), "\(d.log)")
    }

    /// F3: the socket's path runs through a folder another user owns; they
    /// replace a folder below it by a symlink to a root-only folder. The
    /// socket is not created there, and `check` warns of the folder.
    @Test(.enabled(if: geteuid() == 0, "needs root: folders and a symlink owned by nobody"))
    func anotherUsersSymlinkNeverSendsTheSocketIntoRootsFolder() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let app = dir + "/app"
        mkdir(app, 0o755)
        chown(app, 65534, 65534)
        let secrets = dir + "/private"
        mkdir(secrets, 0o700)
        symlink(secrets, app + "/sub")                   // what nobody put in place of their folder
        lchown(app + "/sub", 65534, 65534)
        let path = app + "/sub/x.sock"
        let table = "services:\n  s:\n    listen: \(path)\n    exec: /bin/echo\n"
        let tableDir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: tableDir) }
        try table.write(toFile: tableDir + "/t.yaml", atomically: false, encoding: .utf8)
        chmod(tableDir + "/t.yaml", 0o644)
        let check = try runToEnd([swinetdBinary, "check", "-f", tableDir + "/t.yaml"])
        #expect(check.output.contains("warning: service 's': the socket \(path) is in"), "check warns:\n\(check.output)")
        // And says what will happen: as root the master does not follow the link at all.
        #expect(check.output.contains("swinetd as root does not follow it: the service will not open this address"), "check:\n\(check.output)")
        let d = try Daemon(table: table, waitForStart: false)
        try waitUntil(20, "swinetd to start or give up:\n\(d.log)") { d.started || !d.isRunning || d.log.contains("x.sock") }
        Thread.sleep(forTimeInterval: 0.3)
        #expect(fileInode(secrets + "/x.sock") == nil, "the socket was created in the root-only folder:\n\(d.log)")
        #expect(d.log.contains("a symlink owned by uid 65534, not root"), "\(d.log)")
    }
}

/// A user's uid as this host's passwd has it (daemon is 1 on Debian, 2 on
/// Alpine; nobody is 65534 on most but not all).
func uid(of user: String) -> uid_t? {
    getpwnam(user).map { $0.pointee.pw_uid }
}
