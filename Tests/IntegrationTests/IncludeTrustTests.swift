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
}
