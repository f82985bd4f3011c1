#if canImport(Glibc)
import Glibc
#endif

/// A listening UNIX stream socket and its file, for the control socket and
/// for services: a leftover file that nobody answers on is replaced; one
/// that answers (someone else serves there), or a path that is not a
/// socket, is an error that says so.
enum UnixSocketFile {
    struct OpenError: Error {
        var step: String
        var errno: Errno
        var message: String
    }

    /// Binds and listens on `path`, created with `mode` (never more open
    /// than that, not even for a moment) and given to `owner`/`group` when set.
    static func listen(_ path: String, mode: mode_t, owner: uid_t? = nil, group: gid_t? = nil, backlog: Int32, nonBlocking: Bool = true) -> Result<Int32, OpenError> {
        guard path.utf8.count <= ListenAddress.longestPath else {
            return .failure(OpenError(step: "bind", errno: .fileNameTooLong, message: "the socket path \(path) is too long"))
        }
        var st = stat()
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFSOCK else {
                return .failure(OpenError(step: "lstat", errno: .fileExists, message: "\(path) exists and is not a socket"))
            }
            switch connect(path) {
            case .success(let fd):
                closeDescriptor(fd)
                return .failure(OpenError(step: "connect", errno: .addressInUse, message: "something already answers on \(path)"))
            case .failure(let e) where e == .connectionRefused:
                unlink(path)   // stale: nobody listens
            case .failure(let e):
                return .failure(OpenError(step: "connect", errno: e, message: "\(path): \(e.text)"))
            }
        }
        let flags = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        let fd = socket(AF_UNIX, flags, 0)
        guard fd >= 0 else { let e = Errno.current; return .failure(OpenError(step: "socket", errno: e, message: "socket: \(e.text)")) }
        // Created 0600 first: no moment when others could connect; then the mode wanted.
        let old = umask(0o177)
        let bound = withAddress(path) { bind(fd, $0, $1) }
        let bindError = Errno.current
        umask(old)
        guard bound == 0 else {
            closeDescriptor(fd)
            return .failure(OpenError(step: "bind", errno: bindError, message: "bind \(path): \(bindError.text)"))
        }
        func fail(_ step: String) -> Result<Int32, OpenError> {
            let e = Errno.current
            closeDescriptor(fd)
            unlink(path)
            return .failure(OpenError(step: step, errno: e, message: "\(step) \(path): \(e.text)"))
        }
        if (owner != nil || group != nil) && chown(path, owner ?? uid_t.max, group ?? gid_t.max) != 0 { return fail("chown") }
        if mode != 0o600 && chmod(path, mode) != 0 { return fail("chmod") }
        if Glibc.listen(fd, backlog) != 0 { return fail("listen") }
        return .success(fd)
    }

    /// A blocking connection to `path` (close-on-exec).
    static func connect(_ path: String) -> Result<Int32, Errno> {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(Errno.current) }
        while withAddress(path, { Glibc.connect(fd, $0, $1) }) != 0 {
            let e = Errno.current
            if e == .interrupted { continue }
            closeDescriptor(fd)
            return .failure(e)
        }
        return .success(fd)
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
