#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Reaching a file or folder by a path without letting another user choose
/// what it leads to, for root: the table, every included file, and the
/// folder of a UNIX socket.
///
/// Checking a path and then opening it by name again leaves a gap another
/// user can use (rename their folder away and back, swap a symlink), and a
/// check that fails when a name is missing for a moment must not count as
/// "trusted". So the path is walked one component at a time from a
/// descriptor of "/" with openat(O_PATH | O_NOFOLLOW), each opened
/// descriptor is fstat'ed and judged, and whatever is read is read from the
/// descriptor that was judged. A symlink is followed only when one of
/// `trustedOwners` owns it and its folder (a hard link keeps its owner:
/// see the walk), and no one else can write that folder (its target is spliced into what is left to
/// walk; at most `maxLinks` links); a missing component or any error ends
/// the walk: nothing is trusted that could not be looked at.
public enum TrustedPath {
    static let maxLinks = 40

    enum Failure: Error, Equatable {
        /// Text to follow the path's name: " is reached through /srv/x, a symlink owned by uid 1000, not root".
        case untrusted(String)
        case system(Errno)
    }

    /// The end of a walk: an O_PATH descriptor of what the path leads to,
    /// and of the folder it is in (nil when the path leads to "/").
    struct Walked {
        var fd: Int32
        var st: stat
        var folder: Int32?
        var name: String
        /// The path the walk resolved to.
        var shown: String

        func close() {
            closeDescriptor(fd)
            if let folder { closeDescriptor(folder) }
        }
    }

    /// Walks `path` (relative paths from the working directory). Before a
    /// component is looked up in a folder, `judgeFolder` sees that folder's
    /// stat, its resolved path, and whether the component is the last one
    /// (the folder that holds the file or the final symlink); what it
    /// returns ("which is owned by uid 1000, not root") refuses the path.
    static func walk(_ path: String, trustedOwners: [uid_t],
                     judgeFolder: (_ st: stat, _ shown: String, _ holdsLast: Bool) -> String?) -> Result<Walked, Failure> {
        guard let full = PathName.absolute(path) else { return .failure(.system(.current)) }
        var rest = Array(components(full).reversed())
        var dir = clinux_open_folder("/")
        guard dir >= 0 else { return .failure(.system(.current)) }
        var here: [String] = []
        var links = 0
        func shown(_ parts: [String]) -> String { "/" + parts.joined(separator: "/") }
        func fail(_ f: Failure) -> Result<Walked, Failure> { closeDescriptor(dir); return .failure(f) }

        while let name = rest.popLast() {
            if name == "." { continue }
            let last = !rest.contains { $0 != "." }
            var dirSt = stat()
            guard fstat(dir, &dirSt) == 0 else { return fail(.system(.current)) }
            if let why = judgeFolder(dirSt, shown(here), last) {
                return fail(.untrusted(" is in \(shown(here)), which \(why)"))
            }
            if name == ".." {
                let up = clinux_open_handle(dir, "..")
                guard up >= 0 else { return fail(.system(.current)) }
                closeDescriptor(dir)
                dir = up
                _ = here.popLast()
                continue
            }
            let fd = clinux_open_handle(dir, name)
            guard fd >= 0 else { return fail(.system(.current)) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { let e = Errno.current; closeDescriptor(fd); return fail(.system(e)) }
            let at = shown(here + [name])
            if st.st_mode & S_IFMT == S_IFLNK {
                guard trustedOwners.contains(st.st_uid) else {
                    closeDescriptor(fd)
                    return fail(.untrusted(last && links == 0
                        ? " is a symlink owned by uid \(st.st_uid), not root"
                        : " is reached through \(at), a symlink owned by uid \(st.st_uid), not root"))
                }
                // Root's symlink is only as safe as its folder: with
                // fs.protected_hardlinks=0 a user hard-links a system one
                // (/var/run -> /run) into a folder of theirs, root still its owner.
                guard trustedOwners.contains(dirSt.st_uid), dirSt.st_mode & 0o022 == 0 else {
                    closeDescriptor(fd)
                    return fail(.untrusted(" is reached through \(at), a symlink in a folder others can write"))
                }
                links += 1
                guard links <= maxLinks else { closeDescriptor(fd); return fail(.system(.tooManySymbolicLinkLevels)) }
                let target = readLink(fd)
                closeDescriptor(fd)
                guard let target else { return fail(.system(.current)) }
                if target.hasPrefix("/") {
                    let root = clinux_open_folder("/")
                    guard root >= 0 else { return fail(.system(.current)) }
                    closeDescriptor(dir)
                    dir = root
                    here = []
                }
                rest.append(contentsOf: components(target).reversed())
                continue
            }
            if last {
                // Trailing "." components name the same object.
                return .success(Walked(fd: fd, st: st, folder: dir, name: name, shown: at))
            }
            guard st.st_mode & S_IFMT == S_IFDIR else { closeDescriptor(fd); return fail(.system(.notDirectory)) }
            closeDescriptor(dir)
            dir = fd
            here.append(name)
        }
        // The path leads to a folder reached by ".." or to "/" itself.
        var st = stat()
        guard fstat(dir, &st) == 0 else { return fail(.system(.current)) }
        return .success(Walked(fd: dir, st: st, folder: nil, name: ".", shown: shown(here)))
    }

    /// A folder to create a file of one's own in (`import -o`): as root,
    /// reached without following another user's symlink (the folders on the
    /// way may be anyone's, as /tmp is), as another user plainly. An
    /// O_RDONLY descriptor, or why not.
    public static func openFolder(_ path: String) -> Result<Int32, OpenFolderFailure> {
        guard geteuid() == 0 else {
            let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            return fd >= 0 ? .success(fd) : .failure(OpenFolderFailure(text: Errno.current.text))
        }
        switch walk(path, trustedOwners: [0], judgeFolder: { _, _, _ in nil }) {
        case .success(let w):
            defer { w.close() }
            guard w.st.st_mode & S_IFMT == S_IFDIR else { return .failure(OpenFolderFailure(text: Errno.notDirectory.text)) }
            let fd = openat(w.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            return fd >= 0 ? .success(fd) : .failure(OpenFolderFailure(text: Errno.current.text))
        case .failure(.untrusted(let why)): return .failure(OpenFolderFailure(text: "the folder \(path)\(why)"))
        case .failure(.system(let e)): return .failure(OpenFolderFailure(text: e.text))
        }
    }

    public struct OpenFolderFailure: Error {
        public var text: String
    }

    /// The target of the symlink `fd` (an O_PATH descriptor of it), or nil.
    private static func readLink(_ fd: Int32) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(fd, "", &buffer, buffer.count - 1)
        guard n >= 0, n < buffer.count - 1 else {
            if n >= 0 { errno = ENAMETOOLONG }
            return nil
        }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func components(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }

    // MARK: Reading a file root trusts

    enum ReadFailure: Error, Equatable {
        /// Text to follow the path's name; nothing of the file was read.
        case untrusted(String)
        case unreadable(FileBytes.Failure)
    }

    /// The bytes of the file at `path` (at most `limit`). As root, only a
    /// regular file that only root can change, in folders that only root
    /// can change (see `HostChecks.folderProblem`), read from the very
    /// descriptor that was checked. As another user, the file as it is.
    static func read(_ path: String, limit: Int) -> Result<[UInt8], ReadFailure> {
        guard geteuid() == 0 else { return FileBytes.read(path, limit: limit).mapError { .unreadable($0) } }
        let walked: Walked
        switch walk(path, trustedOwners: [0], judgeFolder: { st, _, holdsLast in HostChecks.folderProblem(st, holdsFile: holdsLast) }) {
        case .success(let w): walked = w
        case .failure(.untrusted(let why)): return .failure(.untrusted(why))
        case .failure(.system(let e)): return .failure(.unreadable(.system(e)))
        }
        defer { walked.close() }
        if let kind = FileBytes.kindProblem(walked.st.st_mode) { return .failure(.unreadable(kind)) }
        if let why = HostChecks.untrusted(walked.st, isDirectory: false) { return .failure(.untrusted(" \(why)")) }
        guard let folder = walked.folder else { return .failure(.unreadable(.system(.isDirectory))) }
        let fd: Int32
        switch syscallResult({ openat(folder, walked.name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY) }) {
        case .success(let d): fd = d
        case .failure(let e): return .failure(.unreadable(.system(e)))
        }
        defer { closeDescriptor(fd) }
        // The folder is root's alone, so this is the file judged; say so anyway.
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_dev == walked.st.st_dev, st.st_ino == walked.st.st_ino else {
            return .failure(.untrusted(" changed while it was opened"))
        }
        return FileBytes.read(descriptor: fd, limit: limit).mapError { .unreadable($0) }
    }
}
