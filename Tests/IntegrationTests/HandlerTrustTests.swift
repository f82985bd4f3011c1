import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// As root, a handler is judged on the path as written, not only on where
/// it leads: a folder or a symlink of another user on the way lets that
/// user choose what runs as root.
@Suite(.timeLimit(.minutes(2))) struct HandlerTrustTests {
    private func check(_ dir: String, exec: String) throws -> (status: Int32, output: String) {
        let table = dir + "/services.yaml"
        try "services:\n  h:\n    listen: \(dir)/h.sock\n    exec: \(exec)\n".write(toFile: table, atomically: false, encoding: .utf8)
        chmod(table, 0o644)
        return try runToEnd([swinetdBinary, "check", "-f", table])
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: a folder and a symlink owned by nobody, and StrictModes apply to root only"))
    func aHandlerReachedThroughAnotherUsersFolderOrSymlinkIsRefused() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let theirs = dir + "/u"
        mkdir(theirs, 0o755)
        chown(theirs, 65534, 65534)
        symlink("/bin/cat", theirs + "/h")          // root's link, in their folder
        let viaFolder = try check(dir, exec: theirs + "/h")
        #expect(viaFolder.status == 1, "\(viaFolder.output)")
        #expect(viaFolder.output.contains("\(theirs)/h is in \(theirs), which is owned by uid 65534, not root"), "\(viaFolder.output)")

        let link = dir + "/h2"
        symlink("/bin/cat", link)
        lchown(link, 65534, 65534)
        let viaLink = try check(dir, exec: link)
        #expect(viaLink.status == 1, "\(viaLink.output)")
        #expect(viaLink.output.contains("\(link) is a symlink owned by uid 65534, not root"), "\(viaLink.output)")
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: StrictModes apply to root only"))
    func rootsOwnSymlinksAreFollowed() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let link = dir + "/cat"
        symlink("/bin/cat", link)
        let viaLink = try check(dir, exec: link)
        #expect(viaLink.status == 0, "\(viaLink.output)")
        // /bin/sh is a chain of root's symlinks on many systems (/bin -> usr/bin, sh -> dash).
        let sh = try check(dir, exec: "/bin/sh")
        #expect(sh.status == 0, "\(sh.output)")
    }
}
