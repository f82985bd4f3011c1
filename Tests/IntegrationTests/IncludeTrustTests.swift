import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// As root, `include:` reads only what root chose: never through another
/// user's symlink, never from a folder others can write, and nothing of a
/// refused file reaches a diagnostic.
@Suite(.timeLimit(.minutes(2))) struct IncludeTrustTests {
    /// A folder with a table that includes `services.d/*.yaml`, a root-only
    /// file whose content must never be shown, and the drop-in folder.
    private func setUp() throws -> (dir: String, table: String, secret: String, dropIns: String) {
        let dir = makeTempDir()
        chmod(dir, 0o755)
        let secret = dir + "/shadow"
        try "root-secret-9f2c: x\n".write(toFile: secret, atomically: false, encoding: .utf8)
        chmod(secret, 0o600)
        let dropIns = dir + "/services.d"
        mkdir(dropIns, 0o755)
        let table = dir + "/services.yaml"
        try "include: [services.d/*.yaml]\nservices:\n  s:\n    listen: \(dir)/s.sock\n    exec: /bin/echo\n"
            .write(toFile: table, atomically: false, encoding: .utf8)
        chmod(table, 0o644)
        return (dir, table, secret, dropIns)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: a symlink owned by nobody, and StrictModes apply to root only"))
    func anotherUsersSymlinkIsRefusedUnread() throws {
        let t = try setUp()
        defer { try? FileManager.default.removeItem(atPath: t.dir) }
        let link = t.dropIns + "/a.yaml"
        symlink(t.secret, link)
        lchown(link, 65534, 65534)
        let check = try runToEnd([swinetdBinary, "check", "-f", t.table])
        #expect(check.status == 1)
        #expect(!check.output.contains("root-secret-9f2c"), "the file's content is never shown:\n\(check.output)")
        #expect(check.output.contains("\(link): error: the included file \(link) is a symlink owned by uid 65534, not root"), "\(check.output)")
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: files owned by nobody, and StrictModes apply to root only"))
    func aStickyFolderEveryoneCanWriteIsRefusedWithoutReadingWhatIsInIt() throws {
        let t = try setUp()
        defer { try? FileManager.default.removeItem(atPath: t.dir) }
        chmod(t.dropIns, 0o1777)
        let fifo = t.dropIns + "/b.yaml"
        mkfifo(fifo, 0o644)
        chown(fifo, 65534, 65534)
        let root = t.dropIns + "/c.yaml"
        symlink(t.secret, root)        // even root's own symlink: the folder is not root's alone
        let check = try runToEnd([swinetdBinary, "check", "-f", t.table])
        #expect(check.status == 1)
        #expect(!check.output.contains("root-secret-9f2c") && !check.output.contains("FIFO"), "\(check.output)")
        for file in [fifo, root] {
            #expect(check.output.contains("\(file): error: the included file \(file) is in \(t.dropIns), which others can write (mode 1777)"),
                    "\(check.output)")
        }
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: StrictModes apply to root only"))
    func rootsOwnSymlinkInRootsFolderIsFollowed() throws {
        let t = try setUp()
        defer { try? FileManager.default.removeItem(atPath: t.dir) }
        let real = t.dir + "/real.yaml"
        try "services:\n  r:\n    listen: \(t.dir)/r.sock\n    exec: /bin/echo\n".write(toFile: real, atomically: false, encoding: .utf8)
        chmod(real, 0o644)
        symlink(real, t.dropIns + "/r.yaml")
        let check = try runToEnd([swinetdBinary, "check", "-f", t.table])
        #expect(check.status == 0, "\(check.output)")
    }

    /// F2: root's symlink `drop` leads to another user's symlink, which
    /// leads to a root-only folder. Nothing on the path as written is
    /// theirs; the walk still meets their link and refuses unread.
    @Test(.enabled(if: geteuid() == 0, "needs root: a symlink owned by nobody"))
    func anotherUsersSymlinkBehindRootsSymlinkIsRefusedUnread() throws {
        let t = try setUp()
        defer { try? FileManager.default.removeItem(atPath: t.dir) }
        let secrets = t.dir + "/private"
        mkdir(secrets, 0o700)
        try "root-secret-9f2c: x\n".write(toFile: secrets + "/a.yaml", atomically: false, encoding: .utf8)
        chmod(secrets + "/a.yaml", 0o600)
        let user = t.dir + "/user"
        mkdir(user, 0o755)                               // root's folder: only the link in it is theirs
        symlink(secrets, user + "/link")
        lchown(user + "/link", 65534, 65534)
        symlink(user + "/link", t.dir + "/drop")
        try "include: [\"drop/*\"]\nservices:\n  s:\n    listen: \(t.dir)/s.sock\n    exec: /bin/echo\n"
            .write(toFile: t.table, atomically: false, encoding: .utf8)
        let check = try runToEnd([swinetdBinary, "check", "-f", t.table])
        #expect(check.status == 1, "\(check.output)")
        #expect(!check.output.contains("root-secret-9f2c"), "the file's content is never shown:\n\(check.output)")
        #expect(check.output.contains("is reached through \(user)/link, a symlink owned by uid 65534, not root"), "\(check.output)")
    }

    /// F1: a user who owns a folder on the include path renames it away
    /// and back in a loop; a check that took "missing" for "trusted" then
    /// read the file once it was back. Bounded: a few seconds of checks.
    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
                   && FileManager.default.isExecutableFile(atPath: "/usr/bin/perl"),
                   "needs root, setpriv and perl to rename a folder as nobody"))
    func aFolderRenamedAwayAndBackIsNeverRead() throws {
        let t = try setUp()
        defer { try? FileManager.default.removeItem(atPath: t.dir) }
        let user = t.dir + "/user"
        mkdir(user, 0o755)
        mkdir(user + "/conf.d", 0o755)
        symlink(t.secret, user + "/conf.d/a.yaml")
        for p in [user, user + "/conf.d", user + "/conf.d/a.yaml"] { lchown(p, 65534, 65534) }
        try "include: [\"\(user)/conf.d/a.yaml\"]\nservices:\n  s:\n    listen: \(t.dir)/s.sock\n    exec: /bin/echo\n"
            .write(toFile: t.table, atomically: false, encoding: .utf8)
        let flipper = try spawnProcess(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/perl", "-e",
                                        "alarm 30; chdir $ARGV[0] or die; while (1) { rename 'conf.d', 'conf.h'; rename 'conf.h', 'conf.d' }", user],
                                       output: "/dev/null")
        defer { kill(flipper, SIGKILL); _ = waitpid(flipper, nil, 0) }
        let end = Date().addingTimeInterval(4)
        var runs = 0
        while Date() < end {
            let check = try runToEnd([swinetdBinary, "check", "-f", t.table])
            runs += 1
            #expect(check.status == 1, "run \(runs) accepted a file in another user's folder:\n\(check.output)")
            #expect(!check.output.contains("root-secret-9f2c"), "run \(runs) showed the secret:\n\(check.output)")
            if check.status != 1 || check.output.contains("root-secret-9f2c") { break }
        }
        #expect(isAlive(flipper), "the renaming loop ran throughout")
    }
}
