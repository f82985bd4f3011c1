import Testing
@testable import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

/// TrustedPath's verdicts on trees of folders and symlinks with various
/// owners, built in a private folder. The owner-dependent cases need root
/// (to give files to nobody) and the rules apply to root only.
@Suite(.timeLimit(.minutes(3))) struct TrustedPathTests {
    /// A fresh root-owned 0755 folder with a root-only secret in it.
    private final class Tree {
        let dir: String
        init() {
            var template = Array("/tmp/swinetd-trust-XXXXXX".utf8CString)
            guard let p = mkdtemp(&template) else { fatalError("mkdtemp failed") }
            dir = String(cString: p)
            chmod(dir, 0o755)
            file("secret", "root-secret-5e1d: x\n", mode: 0o600)
        }
        func file(_ name: String, _ text: String, mode: mode_t = 0o644) {
            let path = dir + "/" + name
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
            precondition(fd >= 0)
            _ = text.withCString { write(fd, $0, strlen($0)) }
            fchmod(fd, mode)
            close(fd)
        }
        func folder(_ name: String, mode: mode_t = 0o755, owner: uid_t = 0) {
            mkdir(dir + "/" + name, mode)
            chmod(dir + "/" + name, mode)
            chown(dir + "/" + name, owner, owner)
        }
        func link(_ name: String, to target: String, owner: uid_t = 0) {
            symlink(target, dir + "/" + name)
            lchown(dir + "/" + name, owner, owner)
        }
        func read(_ name: String) -> Result<[UInt8], TrustedPath.ReadFailure> {
            TrustedPath.read(dir + "/" + name, limit: 1 << 20)
        }
        deinit {
            _ = try? runRemove(dir)
        }
    }

    private static func runRemove(_ dir: String) throws {
        // A test tree holds only what the test made: remove it depth first.
        func remove(_ path: String) {
            var st = stat()
            guard lstat(path, &st) == 0 else { return }
            if st.st_mode & S_IFMT == S_IFDIR, let d = opendir(path) {
                var names: [String] = []
                while let e = readdir(d) {
                    let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                    if name != "." && name != ".." { names.append(name) }
                }
                closedir(d)
                for n in names { remove(path + "/" + n) }
                rmdir(path)
            } else {
                unlink(path)
            }
        }
        remove(dir)
    }

    private static func untrusted(_ r: Result<[UInt8], TrustedPath.ReadFailure>) -> String? {
        if case .failure(.untrusted(let why)) = r { return why }
        return nil
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: the rules apply to root only"))
    func rootsFileInRootsFoldersIsRead() throws {
        let t = Tree()
        t.file("t.yaml", "services: {}\n")
        t.folder("etc")
        t.link("etc/t.yaml", to: "../t.yaml")
        t.link("abs.yaml", to: t.dir + "/etc/t.yaml")
        for name in ["t.yaml", "etc/t.yaml", "abs.yaml", "etc/../t.yaml", "./etc/./t.yaml"] {
            #expect((try? t.read(name).get()) == Array("services: {}\n".utf8), "\(name)")
        }
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: the rules apply to root only"))
    func aMissingComponentIsNeverTrusted() throws {
        let t = Tree()
        // Refused by the walk, not taken as "nothing to object to".
        if case .success = t.read("gone/t.yaml") { Issue.record("a missing folder was read") }
        #expect(t.read("gone.yaml") == .failure(.unreadable(.system(.noSuchFileOrDirectory))))
        #expect(t.read("gone/t.yaml") == .failure(.unreadable(.system(.noSuchFileOrDirectory))))
        // The check handlers still use: a path it cannot look at is not safe.
        #expect(HostChecks.unsafeForRoot(t.dir + "/gone/t.yaml") != nil, "a missing path was judged safe")
        #expect(HostChecks.unsafeForRoot(t.dir + "/secret") == nil)
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: files owned by nobody"))
    func anotherUsersFolderFileOrSymlinkIsRefused() throws {
        let t = Tree()
        t.folder("user", owner: 65534)
        t.file("user/t.yaml", "x: 1\n")
        t.file("theirs.yaml", "x: 1\n")
        chown(t.dir + "/theirs.yaml", 65534, 65534)
        t.file("open.yaml", "x: 1\n", mode: 0o666)
        t.link("their-link.yaml", to: "secret", owner: 65534)
        t.folder("user/d")
        t.link("user/d/x", to: t.dir + "/secret", owner: 0)
        #expect(Self.untrusted(t.read("user/t.yaml")) == " is in \(t.dir)/user, which is owned by uid 65534, not root")
        #expect(Self.untrusted(t.read("theirs.yaml")) == " is owned by uid 65534, not root")
        #expect(Self.untrusted(t.read("open.yaml")) == " is writable by others (mode 0666)")
        #expect(Self.untrusted(t.read("their-link.yaml")) == " is a symlink owned by uid 65534, not root")
        #expect(Self.untrusted(t.read("user/d/x")) != nil, "a folder on the way is another user's")
    }

    /// F2: root's symlink leads into another user's folder, where their
    /// symlink leads to a root-only folder. The path as written holds no
    /// symlink of theirs; the walk still meets it.
    @Test(.enabled(if: geteuid() == 0, "needs root: a symlink owned by nobody"))
    func anotherUsersSymlinkBehindRootsSymlinkIsRefused() throws {
        let t = Tree()
        t.folder("private", mode: 0o700)
        t.file("private/x.yaml", "root-secret-5e1d: x\n", mode: 0o600)
        t.folder("pub")                                  // root's, so only the link is theirs
        t.link("pub/link", to: t.dir + "/private", owner: 65534)
        t.link("drop", to: t.dir + "/pub/link")
        #expect(Self.untrusted(t.read("drop/x.yaml")) == " is reached through \(t.dir)/pub/link, a symlink owned by uid 65534, not root")
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: the rules apply to root only"))
    func stickyFoldersMayBePassedButNotHoldTheFile() throws {
        let t = Tree()
        t.folder("tmp", mode: 0o1777)
        t.folder("tmp/root")
        t.file("tmp/root/t.yaml", "services: {}\n")
        t.file("tmp/t.yaml", "services: {}\n")
        t.folder("group", mode: 0o775)
        t.file("group/t.yaml", "services: {}\n")
        #expect(t.read("tmp/root/t.yaml") == .success(Array("services: {}\n".utf8)))
        #expect(Self.untrusted(t.read("tmp/t.yaml")) == " is in \(t.dir)/tmp, which others can write (mode 1777)")
        #expect(Self.untrusted(t.read("group/t.yaml")) == " is in \(t.dir)/group, which is writable by others (mode 0775)")
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: the rules apply to root only"))
    func aLoopOfRootsSymlinksEnds() throws {
        let t = Tree()
        t.link("a", to: "b")
        t.link("b", to: "a")
        #expect(t.read("a") == .failure(.unreadable(.system(.tooManySymbolicLinkLevels))))
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: a FIFO and a folder owned by nobody"))
    func notRegularFilesAreRefusedWithoutBlocking() throws {
        let t = Tree()
        mkfifo(t.dir + "/fifo", 0o644)
        t.folder("d")
        #expect(t.read("fifo") == .failure(.unreadable(.notRegular("a FIFO"))))
        #expect(t.read("d") == .failure(.unreadable(.system(.isDirectory))))
    }

    /// The socket folder's walk: others' folders are passed (and reported
    /// by `exposure`), others' symlinks are not followed.
    @Test(.enabled(if: geteuid() == 0, "needs root: a folder and a symlink owned by nobody"))
    func aSocketFolderIsReachedOnlyThroughRootsSymlinks() throws {
        let t = Tree()
        t.folder("app", owner: 65534)
        t.folder("app/sub", owner: 65534)
        t.folder("private", mode: 0o700)
        t.link("app/run", to: t.dir + "/private", owner: 65534)
        let ok = TrustedPath.walk(t.dir + "/app/sub", trustedOwners: [0]) { _, _, _ in nil }
        if case .success(let w) = ok { #expect(w.shown == t.dir + "/app/sub"); w.close() } else { Issue.record("\(ok)") }
        let refused = TrustedPath.walk(t.dir + "/app/run", trustedOwners: [0]) { _, _, _ in nil }
        if case .success(let w) = refused { w.close() }
        #expect(untrustedWhy(refused)?.contains("symlink owned by uid 65534") == true, "refused as another user's symlink: \(refused)")
        let exposed = SocketFolders.exposure(of: t.dir + "/app/sub/x.sock")
        #expect(exposed?.folder == t.dir + "/app/sub" && exposed?.reason == "uid 65534 owns it", "\(String(describing: exposed))")
        let viaLink = SocketFolders.exposure(of: t.dir + "/app/run/x.sock")
        #expect(viaLink?.reason == "it is a symlink owned by uid 65534, not root", "\(String(describing: viaLink))")
    }

    /// A symlink root owns is no safer than the folder it sits in: with
    /// fs.protected_hardlinks=0 a user can hard-link a system symlink
    /// (/var/run -> /run) into a folder of theirs and keep root as its
    /// owner. A symlink is followed only from a folder only trusted owners
    /// can write.
    @Test(.enabled(if: geteuid() == 0, "needs root: a folder owned by nobody"))
    func rootsSymlinkInAnotherUsersFolderIsNotFollowed() throws {
        let t = Tree()
        t.folder("app", owner: 65534)
        t.folder("private", mode: 0o700)
        t.link("app/run", to: t.dir + "/private")   // root's, as a hard link of a system symlink would be
        let walked = TrustedPath.walk(t.dir + "/app/run", trustedOwners: [0]) { _, _, _ in nil }
        if case .success(let w) = walked { w.close() }
        #expect(untrustedWhy(walked)?.contains("a symlink in a folder others can write") == true, "\(walked)")
        t.folder("open", mode: 0o1777)
        t.link("open/run", to: t.dir + "/private")
        let sticky = TrustedPath.walk(t.dir + "/open/run", trustedOwners: [0]) { _, _, _ in nil }
        if case .success(let w) = sticky { w.close() }
        #expect(untrustedWhy(sticky)?.contains("a symlink in a folder others can write") == true, "\(sticky)")
        t.link("mine", to: t.dir + "/private")
        let rootsOwn = TrustedPath.walk(t.dir + "/mine", trustedOwners: [0]) { _, _, _ in nil }
        if case .success(let w) = rootsOwn { w.close() } else { Issue.record("root's symlink in root's folder: \(rootsOwn)") }
    }
}

/// Why a walk refused its path as untrusted, or nil (success or a system error).
private func untrustedWhy(_ r: Result<TrustedPath.Walked, TrustedPath.Failure>) -> String? {
    if case .failure(.untrusted(let why)) = r { return why }
    return nil
}
