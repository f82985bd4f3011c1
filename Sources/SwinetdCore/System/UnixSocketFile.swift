#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A listening UNIX stream socket and its file, for the control socket and
/// for services: a leftover socket that nobody answers on is replaced; one
/// that answers (someone else serves there), a socket of another user, or a
/// path that is not a socket, is an error that says so.
///
/// swinetd runs as root and the socket's folder may be writable by others
/// (an app's own runtime folder, /tmp): whatever stands at the path can be
/// swapped for a symlink to /etc/shadow between any two calls. So nothing
/// here changes a file by its path. The mode and owner are set on the very
/// file the socket was bound to, through the O_PATH descriptor the kernel
/// hands out for it (SIOCUNIXFILE); only without that (not root) is the file
/// opened by name, relative to its folder, without following a symlink, and
/// checked to be a socket of ours. Removing a file unlinks only a socket of
/// ours, never what another user put in its place.
enum UnixSocketFile {
    struct OpenError: Error {
        var step: String
        var errno: Errno
        var message: String
    }

    /// Binds and listens on `path`, created with `mode` (never more open
    /// than that, not even for a moment) and given to `owner`/`group` when
    /// set. A leftover socket is removed only when it is swinetd's user's or
    /// `owner`'s (a socket file the previous swinetd gave to `owner`).
    static func listen(_ path: String, mode: mode_t, owner: uid_t? = nil, group: gid_t? = nil, backlog: Int32, nonBlocking: Bool = true) -> Result<Int32, OpenError> {
        guard path.utf8.count <= ListenAddress.longestPath else {
            return .failure(OpenError(step: "bind", errno: .fileNameTooLong, message: "the socket path \(path) is too long"))
        }
        let (folder, name) = PathName.split(path)
        let opened: OpenedFolder
        switch openFolder(folder) {
        case .success(let o): opened = o
        case .failure(.untrusted(let why)):
            return .failure(OpenError(step: "bind", errno: .permissionDenied, message: "the folder \(folder) of the socket \(path)\(why)"))
        case .failure(.system(let e)):
            return .failure(OpenError(step: "bind", errno: e, message: "bind \(path): \(e.text)"))
        }
        let folderFD = opened.fd
        defer { closeDescriptor(folderFD) }
        // Bound by its own path (the name getsockname, getpeername,
        // /proc/net/unix and ss show) unless someone else could rename or
        // swap a folder on the way meanwhile: then bound and connected
        // through the folder that was opened, never by the path again, so
        // it cannot be sent into another folder. That name holds the
        // descriptor's number; the limit is the same whatever it is.
        let bindPath: String
        if opened.exposed {
            guard procFolderPrefixLongest + name.utf8.count <= ListenAddress.longestPath else {
                return .failure(OpenError(step: "bind", errno: .fileNameTooLong, message:
                    "the socket name \(name) is too long to bind through its opened folder (at most \(ListenAddress.longestPath - procFolderPrefixLongest) bytes, as \(folder) is not root's alone)"))
            }
            bindPath = "/proc/self/fd/\(folderFD)/\(name)"
        } else {
            bindPath = path
        }
        if let refused = removeLeftover(path, via: bindPath, folder: folderFD, name: name, owner: owner) { return .failure(refused) }

        let flags = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        let fd = socket(AF_UNIX, flags, 0)
        guard fd >= 0 else { let e = Errno.current; return .failure(OpenError(step: "socket", errno: e, message: "socket: \(e.text)")) }
        // Created 0600 first: no moment when others could connect; then the
        // owner and mode wanted. bind never follows a symlink at the path
        // (it fails with EADDRINUSE on anything there).
        let old = umask(0o177)
        let bound = withAddress(bindPath) { bind(fd, $0, $1) }
        let bindError = Errno.current
        umask(old)
        guard bound == 0 else {
            closeDescriptor(fd)
            return .failure(OpenError(step: "bind", errno: bindError, message: "bind \(path): \(bindError.text)"))
        }
        func fail(_ step: String, _ e: Errno) -> Result<Int32, OpenError> {
            remove(socket: fd, path: path, owner: nil)
            closeDescriptor(fd)
            return .failure(OpenError(step: step, errno: e, message: "\(step) \(path): \(e.text)"))
        }
        if owner != nil || group != nil || mode != 0o600 {
            switch setOwnerAndMode(socket: fd, path: path, mode: mode, owner: owner, group: group, previousOwner: nil) {
            case .success: break
            case .failure(let e): return fail(e.step, e.errno)
            }
        }
        if Glibc.listen(fd, backlog) != 0 { return fail("listen", .current) }
        return .success(fd)
    }

    /// The longest "/proc/self/fd/N/" (N up to Int32.max) a socket in an
    /// exposed folder is bound through.
    static let procFolderPrefixLongest = "/proc/self/fd/\(Int32.max)/".utf8.count

    /// The socket's folder, opened, and whether another user could rename
    /// or swap a folder on the way to it (see `openFolder`).
    struct OpenedFolder {
        var fd: Int32
        var exposed: Bool
    }

    /// An O_PATH descriptor of the socket's folder. As root, reached by
    /// TrustedPath: a symlink on the way is followed only when root owns it
    /// (so no other user can send the socket into a folder of root's
    /// choosing); folders may be others' (an app's runtime folder), which
    /// `SocketFolders.exposure` warns about and which make it `exposed`.
    /// As another user, the folder path as the kernel resolves it: nothing
    /// of root's is at stake, so never exposed.
    private static func openFolder(_ folder: String) -> Result<OpenedFolder, TrustedPath.Failure> {
        guard geteuid() == 0 else {
            let fd = clinux_open_folder(folder)
            return fd >= 0 ? .success(OpenedFolder(fd: fd, exposed: false)) : .failure(.system(.current))
        }
        // Only a folder that is root's and that no one else can write
        // (sticky ones such as /tmp aside: no one else can rename root's
        // folder in them) keeps every name on the way root's choice.
        var exposed = false
        switch TrustedPath.walk(folder, trustedOwners: [0], judgeFolder: { st, _, _ in
            if HostChecks.untrusted(st, isDirectory: true) != nil { exposed = true }
            return nil
        }) {
        case .success(let w):
            guard w.st.st_mode & S_IFMT == S_IFDIR else { w.close(); return .failure(.system(.notDirectory)) }
            if let parent = w.folder { closeDescriptor(parent) }
            if HostChecks.untrusted(w.st, isDirectory: true) != nil { exposed = true }
            return .success(OpenedFolder(fd: w.fd, exposed: exposed))
        case .failure(let f): return .failure(f)
        }
    }

    /// A leftover at the path: a socket of ours (or of `owner`) that nobody
    /// answers on is unlinked; anything else is refused and left alone.
    private static func removeLeftover(_ path: String, via bindPath: String, folder: Int32, name: String, owner: uid_t?) -> OpenError? {
        var st = stat()
        guard fstatat(folder, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        guard st.st_mode & S_IFMT == S_IFSOCK else {
            let what = st.st_mode & S_IFMT == S_IFLNK ? "a symlink" : "not a socket"
            return OpenError(step: "lstat", errno: .fileExists, message: "\(path) exists and is \(what)")
        }
        guard st.st_uid == geteuid() || st.st_uid == owner else {
            return OpenError(step: "lstat", errno: .fileExists, message: "\(path) is a socket of uid \(st.st_uid), left alone")
        }
        switch answers(bindPath) {
        case .success:
            return OpenError(step: "connect", errno: .addressInUse, message: "something already answers on \(path)")
        case .failure(let e) where e == .connectionRefused:
            // Stale: nobody listens. unlinkat removes the name, never a link's target.
            var now = stat()
            if fstatat(folder, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev {
                unlinkat(folder, name, 0)
            }
            return nil
        case .failure(let e):
            return OpenError(step: "connect", errno: e, message: "\(path): \(e.text)")
        }
    }

    /// Gives the file of the bound socket `socket` the `mode`, `owner` and
    /// `group` (nil: left as is), acting on that file only. When the owner
    /// changes, the file is closed to all (mode 0) meanwhile, so the old
    /// owner never connects once the new table says otherwise.
    /// `previousOwner` is whom the file may belong to now besides swinetd.
    static func setOwnerAndMode(socket: Int32, path: String, mode: mode_t, owner: uid_t?, group: gid_t?, previousOwner: uid_t?) -> Result<Void, OpenError> {
        let handle: Int32
        switch fileHandle(socket: socket, path: path, owners: [geteuid(), previousOwner, owner].compactMap { $0 }) {
        case .success(let h): handle = h
        case .failure(let e): return .failure(OpenError(step: "open", errno: e, message: "open \(path): \(e.text)"))
        }
        defer { closeDescriptor(handle) }
        func failed(_ step: String) -> Result<Void, OpenError> {
            let e = Errno.current
            return .failure(OpenError(step: step, errno: e, message: "\(step) \(path): \(e.text)"))
        }
        if owner != nil || group != nil {
            var st = stat()
            let changes = fstat(handle, &st) != 0 || (owner.map { $0 != st.st_uid } ?? false) || (group.map { $0 != st.st_gid } ?? false)
            if changes {
                if clinux_chmod_handle(handle, 0) != 0 { return failed("chmod") }
                if clinux_chown_handle(handle, owner ?? uid_t.max, group ?? gid_t.max) != 0 { return failed("chown") }
            }
        }
        if clinux_chmod_handle(handle, UInt32(mode)) != 0 { return failed("chmod") }
        return .success(())
    }

    /// Unlinks the file of `socket` at `path`, if it is still there: not
    /// whatever someone put at the path since. Call before closing `socket`.
    static func remove(socket: Int32, path: String, owner: uid_t?) {
        let (folder, name) = PathName.split(path)
        // The folder as the socket was opened: as root never through
        // another user's symlink (without SIOCUNIXFILE, "ours" below is
        // judged by owner, and a swapped folder could hold root's socket
        // of another daemon).
        guard case .success(let opened) = openFolder(folder) else { return }
        let dir = opened.fd
        defer { closeDescriptor(dir) }
        var there = stat()
        guard fstatat(dir, name, &there, AT_SYMLINK_NOFOLLOW) == 0, there.st_mode & S_IFMT == S_IFSOCK else { return }
        let ours: Bool
        let handle = clinux_unix_socket_file(socket)
        if handle >= 0 {
            var st = stat()
            ours = fstat(handle, &st) == 0 && st.st_ino == there.st_ino && st.st_dev == there.st_dev
            closeDescriptor(handle)
        } else {
            ours = there.st_uid == geteuid() || there.st_uid == owner
        }
        if ours { unlinkat(dir, name, 0) }
    }

    /// An O_PATH descriptor of the file `socket` is bound to: from the
    /// kernel (needs CAP_NET_ADMIN), else the socket at `path` opened
    /// without following a symlink and owned by one of `owners`.
    private static func fileHandle(socket: Int32, path: String, owners: [uid_t]) -> Result<Int32, Errno> {
        let handle = clinux_unix_socket_file(socket)
        if handle >= 0 { return .success(handle) }
        let (folder, name) = PathName.split(path)
        let dir: Int32
        switch openFolder(folder) {
        case .success(let opened): dir = opened.fd
        case .failure(.system(let e)): return .failure(e)
        case .failure(.untrusted): return .failure(.permissionDenied)
        }
        defer { closeDescriptor(dir) }
        let fd = clinux_open_handle(dir, name)
        guard fd >= 0 else { return .failure(.current) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFSOCK, owners.contains(st.st_uid) else {
            closeDescriptor(fd)
            return .failure(.fileExists)
        }
        return .success(fd)
    }

    /// A blocking connection to `path` (close-on-exec).
    ///
    /// A connect interrupted by a signal (it waits while the listener's
    /// backlog is full) is made again, and that is right for a UNIX socket
    /// only: a TCP connect goes on in the background after EINTR (a second
    /// call says EALREADY; its outcome is read with poll and SO_ERROR),
    /// whereas Linux gives a UNIX connect up before it changes anything:
    /// the socket stays unconnected, polls writable at once and has no
    /// SO_ERROR, so only another connect makes the connection
    /// (UnixSocketConnectTests interrupts a real one).
    static func connect(_ path: String) -> Result<Int32, Errno> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(Errno.current) }
        if case .failure(let e) = syscallResult({ withAddress(path) { Glibc.connect(fd, $0, $1) } }) {
            closeDescriptor(fd)
            return .failure(e)
        }
        return .success(fd)
    }

    /// Whether something listens on `path`, without ever waiting: a
    /// blocking connect sleeps while the listener's backlog is full, for as
    /// long as whoever owns that listener likes, and the master's signals
    /// (read from a signalfd) would not wake it. Success: something
    /// listens (a full backlog, EAGAIN, counts: it is there); ECONNREFUSED:
    /// nobody does.
    static func answers(_ path: String) -> Result<Void, Errno> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return .failure(Errno.current) }
        defer { closeDescriptor(fd) }
        switch syscallResult({ withAddress(path) { Glibc.connect(fd, $0, $1) } }) {
        case .success: return .success(())
        case .failure(let e) where e == .resourceTemporarilyUnavailable: return .success(())
        case .failure(let e): return .failure(e)
        }
    }

    static func withAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &a.sun_path) { raw in
            for (i, b) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        return withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
