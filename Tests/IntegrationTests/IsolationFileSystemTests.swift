import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The ISOLATION keys that change what a handler sees of the file system
/// (protect_system, protect_home, the path lists, private_tmp,
/// root_directory): each attempt succeeds without the key and fails with it.
extension IsolationTests {
    /// A shell line that tries to create (and at once removes) each file,
    /// printing "PATH:w" or "PATH:ro".
    /// (Without `remove`, the file stays: for a root with no rm(1) and no
    /// /dev/null in it.)
    static func tryWriting(_ paths: [String], remove: Bool = true) -> String {
        paths.map { "(: > \($0)\(remove ? " && rm -f \($0)" : "") && echo \($0):w) \(remove ? "2>/dev/null" : "2>&-") || echo \($0):ro" }.joined(separator: "; ")
    }

    /// Writing under /etc and /usr and into a test folder: plain, all
    /// succeed; protect_system: true keeps /usr, full /etc too, strict
    /// everything but read_write_paths; read_only_paths makes one folder
    /// read-only under no other protection.
    /// Whether the host's /etc and /usr take writes (not on an image-based
    /// system, where the plain handler's writes would fail too).
    static var systemFoldersWritable: Bool {
        ["/etc", "/usr"].allSatisfy { path in
            var vfs = statvfs()
            return access(path, W_OK) == 0 && statvfs(path, &vfs) == 0 && vfs.f_flag & UInt(ST_RDONLY) == 0
        }
    }

    @Test(.enabled(if: geteuid() == 0 && systemFoldersWritable, "needs root (mount namespaces) and a writable /etc and /usr"))
    func protectSystemAndThePathListsStopWrites() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for sub in ["rw", "ro"] { try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: false) }
        let unique = "swinetd-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let etc = "/etc/" + unique, usr = "/usr/" + unique, rw = dir + "/rw/x", ro = dir + "/ro/x"
        let script = Self.tryWriting([etc, usr, rw, ro])
        let (d, ports) = try startDaemon({ p in """
            defaults:
              exec: /bin/sh
              args: ["-c", \(jsonQuote(script))]
            services:
              plain: {listen: "127.0.0.1:\(p[0])"}
              usr: {listen: "127.0.0.1:\(p[1])", protect_system: true}
              full: {listen: "127.0.0.1:\(p[2])", protect_system: full}
              strict: {listen: "127.0.0.1:\(p[3])", protect_system: strict, read_write_paths: [\(dir)/rw]}
              paths: {listen: "127.0.0.1:\(p[4])", read_only_paths: [\(dir)/ro]}
            """ }, ports: 5)
        defer { unlink(etc); unlink(usr) }
        #expect(try exchange(ports[0]) == "\(etc):w\n\(usr):w\n\(rw):w\n\(ro):w\n", "\(d.log)")
        #expect(try exchange(ports[1]) == "\(etc):w\n\(usr):ro\n\(rw):w\n\(ro):w\n", "\(d.log)")
        #expect(try exchange(ports[2]) == "\(etc):ro\n\(usr):ro\n\(rw):w\n\(ro):w\n", "\(d.log)")
        #expect(try exchange(ports[3]) == "\(etc):ro\n\(usr):ro\n\(rw):w\n\(ro):ro\n", "\(d.log)")
        #expect(try exchange(ports[4]) == "\(etc):w\n\(usr):w\n\(rw):w\n\(ro):ro\n", "\(d.log)")
        #expect(access(etc, F_OK) != 0 && access(usr, F_OK) != 0, "nothing left behind on the host")
    }

    /// Read-only is only ever added: under protect_system: strict with
    /// read_write_paths, a read-only mount the host has below a writable
    /// path stays read-only, and /proc/sys is read-only (a root handler
    /// rewrites the host name, with its own value, only without the key).
    @Test(.enabled(if: geteuid() == 0, "needs root: mounts"))
    func readOnlyIsNeverTakenAway() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        for sub in ["rw", "rw/fixed", "source"] { try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: false) }
        try #require(mount(dir + "/source", dir + "/rw/fixed", nil, UInt(MS_BIND), nil) == 0)
        defer { umount2(dir + "/rw/fixed", Int32(MNT_DETACH)) }
        try #require(mount(nil, dir + "/rw/fixed", nil, UInt(MS_BIND | MS_REMOUNT | MS_RDONLY), nil) == 0)
        let rewrite = "(h=$(cat /proc/sys/kernel/hostname); echo \"$h\" > /proc/sys/kernel/hostname && echo sys:w) 2>/dev/null || echo sys:ro; "
        let script = rewrite + Self.tryWriting([dir + "/rw/x", dir + "/rw/fixed/y"])
        let (d, ports) = try startDaemon({ p in """
            defaults:
              exec: /bin/sh
              args: ["-c", \(jsonQuote(script))]
            services:
              plain: {listen: "127.0.0.1:\(p[0])"}
              strict: {listen: "127.0.0.1:\(p[1])", protect_system: strict, read_write_paths: [\(dir)/rw]}
            """ }, ports: 2)
        #expect(try exchange(ports[0]) == "sys:w\n\(dir)/rw/x:w\n\(dir)/rw/fixed/y:ro\n", "\(d.log)")
        #expect(try exchange(ports[1]) == "sys:ro\n\(dir)/rw/x:w\n\(dir)/rw/fixed/y:ro\n", "\(d.log)")
    }

    /// The service's view is made once, but a path the host replaces since
    /// (renamed over, as package managers do) is covered again: the view
    /// is made anew when a listed path is no longer the file it was.
    @Test(.enabled(if: geteuid() == 0, "needs root: mount namespaces"))
    func aPathReplacedOnTheHostStaysHidden() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        try "old-secret".write(toFile: dir + "/secret", atomically: false, encoding: .utf8)
        let (d, ports) = try startDaemon({ p in """
            services:
              s: {listen: "127.0.0.1:\(p[0])", exec: /bin/cat, args: [\(dir)/secret], inaccessible_paths: [\(dir)/secret]}
            """ })
        #expect(try exchange(ports[0]) == "", "hidden: \(d.log)")
        try "new-secret".write(toFile: dir + "/secret.new", atomically: false, encoding: .utf8)
        try #require(rename(dir + "/secret.new", dir + "/secret") == 0)
        #expect(try exchange(ports[0]) == "", "the new file is hidden too: \(d.log)")
    }

    /// A file in /root: read without the key; protect_home: true hides
    /// it (even from a root handler: the folder is an empty mount),
    /// read-only lets it be read but not written; inaccessible_paths hides
    /// a test folder's file the same way.
    @Test(.enabled(if: geteuid() == 0 && FileManager.default.fileExists(atPath: "/root"), "needs root and /root"))
    func protectHomeAndInaccessiblePathsHideFiles() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/secret", withIntermediateDirectories: false)
        try "folder-secret".write(toFile: dir + "/secret/f", atomically: false, encoding: .utf8)
        let home = "/root/.swinetd-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try "home-secret".write(toFile: home, atomically: false, encoding: .utf8)
        defer { unlink(home) }
        let script = "cat \(home) 2>/dev/null || echo hidden; echo; cat \(dir)/secret/f 2>/dev/null || echo hidden; echo; "
            + Self.tryWriting([home + "-w"])
        let (d, ports) = try startDaemon({ p in """
            defaults:
              exec: /bin/sh
              args: ["-c", \(jsonQuote(script))]
            services:
              plain: {listen: "127.0.0.1:\(p[0])"}
              home: {listen: "127.0.0.1:\(p[1])", protect_home: true}
              readonly: {listen: "127.0.0.1:\(p[2])", protect_home: read-only}
              folder: {listen: "127.0.0.1:\(p[3])", inaccessible_paths: [\(dir)/secret]}
            """ }, ports: 4)
        defer { unlink(home + "-w") }
        #expect(try exchange(ports[0]) == "home-secret\nfolder-secret\n\(home)-w:w\n", "\(d.log)")
        #expect(try exchange(ports[1]) == "hidden\n\nfolder-secret\n\(home)-w:ro\n", "\(d.log)")
        #expect(try exchange(ports[2]) == "home-secret\nfolder-secret\n\(home)-w:ro\n", "\(d.log)")
        #expect(try exchange(ports[3]) == "home-secret\nhidden\n\n\(home)-w:w\n", "\(d.log)")
    }

    /// private_tmp: each connection has a /tmp and /var/tmp of its own,
    /// empty: a file one handler makes there is seen by no other handler
    /// of the service, by no other service, and not on the host; without
    /// the key the handler sees the host's /tmp (this test's own folder).
    @Test(.enabled(if: geteuid() == 0, "needs root: mount namespaces"))
    func privateTmpIsEachHandlersOwn() throws {
        // A folder of the host's /tmp itself (wherever TMPDIR points).
        let name = "swinetd-hostmark-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try #require(mkdir("/tmp/" + name, 0o700) == 0)
        defer { rmdir("/tmp/" + name) }
        let mark = "mark-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        // Lists /tmp and /var/tmp (their count of entries), makes a file
        // in each, waits for a line, and lists again.
        let script = "echo $(ls -A /tmp | wc -l) $(ls -A /var/tmp | wc -l) $(ls -d /tmp/\(name) 2>/dev/null | wc -l); "
            + "echo x > /tmp/\(mark)-$$; echo x > /var/tmp/\(mark)-$$; read line; echo $(ls -A /tmp | wc -l) $(ls -A /var/tmp | wc -l)"
        let (d, ports) = try startDaemon({ p in """
            defaults:
              exec: /bin/sh
              args: ["-c", \(jsonQuote(script))]
            services:
              plain: {listen: "127.0.0.1:\(p[0])"}
              a: {listen: "127.0.0.1:\(p[1])", private_tmp: true}
              b: {listen: "127.0.0.1:\(p[2])", private_tmp: true}
            """ }, ports: 3)
        let first = try connectTCP(ports[1])
        defer { close(first) }
        try d.waitForLog("a: accepted")
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(first, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = recv(first, &buffer, buffer.count, 0)
        #expect(n > 0 && String(decoding: buffer[0..<max(n, 0)], as: UTF8.self) == "0 0 0\n", "an empty /tmp and /var/tmp")
        // Meanwhile the first handler's files are there (it is waiting).
        #expect(try exchange(ports[1], "go\n") == "0 0 0\n1 1\n", "another connection of the service sees none of them: \(d.log)")
        #expect(try exchange(ports[2], "go\n") == "0 0 0\n1 1\n", "another service sees none of them")
        #expect(finishExchange(first, "go\n") == "1 1\n", "the first sees only its own")
        let host = try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { $0.hasPrefix(mark) }
        #expect(host.isEmpty, "nothing reached the host's /tmp: \(host)")
        let plain = try exchange(ports[0], "go\n")
        #expect(plain.split(separator: "\n").first?.hasSuffix(" 1") == true, "without the key the host's /tmp: \(plain)")
        for f in try FileManager.default.contentsOfDirectory(atPath: "/tmp") where f.hasPrefix(mark) { unlink("/tmp/" + f) }
        for f in try FileManager.default.contentsOfDirectory(atPath: "/var/tmp") where f.hasPrefix(mark) { unlink("/var/tmp/" + f) }
    }

    /// root_directory: the handler's / is the folder named (a copy of
    /// /bin/sh and its libraries, and a marker file), exec and cwd inside
    /// it; with private_tmp as well, the root's /tmp is the connection's
    /// own tmpfs (the root's own folder stays empty).
    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/ldd"), "needs root (chroot) and ldd"))
    func rootDirectoryIsTheHandlersRoot() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let root = dir + "/root"
        try Self.copyWithLibraries("/bin/sh", into: root)
        try "".write(toFile: root + "/inside-the-root", atomically: false, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: root + "/tmp", withIntermediateDirectories: false)
        let script = "for f in /* /tmp/*; do echo $f; done; " + Self.tryWriting(["/x", "/tmp/y"], remove: false)
        let (d, ports) = try startDaemon({ p in """
            defaults:
              exec: /bin/sh
              args: ["-c", \(jsonQuote(script))]
            services:
              plain: {listen: "127.0.0.1:\(p[0])", args: ["-c", "for f in /*; do echo $f; done"]}
              jailed: {listen: "127.0.0.1:\(p[1])", root_directory: \(root)}
              jailedtmp: {listen: "127.0.0.1:\(p[2])", root_directory: \(root), private_tmp: true}
            """ }, ports: 3)
        let plain = try exchange(ports[0])
        #expect(plain.contains("/proc\n") && !plain.contains("/inside-the-root"), "\(plain)")
        let jailed = try exchange(ports[1])
        #expect(jailed.contains("/inside-the-root\n") && !jailed.contains("/proc\n") && jailed.hasSuffix("/x:w\n/tmp/y:w\n"), "[\(jailed)]\n\(d.log)")
        unlink(root + "/tmp/y")
        let jailedTmp = try exchange(ports[2])
        #expect(jailedTmp.contains("/inside-the-root\n") && jailedTmp.contains("/tmp/*\n") && jailedTmp.hasSuffix("/tmp/y:w\n"), "[\(jailedTmp)]\n\(d.log)")
        #expect(access(root + "/tmp/y", F_OK) != 0, "the connection's /tmp was its own tmpfs, not the root's folder")
    }

    /// Copies `program` and the libraries ldd(1) lists for it to the same
    /// paths under `root`.
    static func copyWithLibraries(_ program: String, into root: String) throws {
        // runToEnd, not Foundation's Process (which leaks a weak reference's
        // side table LeakSanitizer reports).
        let (status, text) = try runToEnd(["/usr/bin/ldd", program])
        guard status == 0 else { throw TestFailure("ldd \(program): \(text)") }
        let libraries = text.split(separator: "\n").compactMap { line in
            line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init).first { $0.hasPrefix("/") }
        }
        for file in [program] + libraries {
            guard let resolved = realpath(file, nil) else { throw TestFailure("realpath \(file)") }
            let real = String(cString: resolved)
            free(resolved)
            let target = root + file
            try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: target) { try FileManager.default.copyItem(atPath: real, toPath: target) }
        }
    }
}
