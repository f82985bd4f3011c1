#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// The control socket's file: where it is by default, opening it (a stale
/// file replaced, a live one refused), and connecting to it as a client.
public enum ControlSocket {
    /// `/run/swinetd/control` for root; `$XDG_RUNTIME_DIR/swinetd/control`
    /// for anyone else; nil when neither can be used.
    public static func defaultPath() -> String? {
        if geteuid() == 0 { return "/run/swinetd/control" }
        if let dir = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }), dir.hasPrefix("/") {
            return dir + "/swinetd/control"
        }
        return nil
    }

    public struct OpenError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Binds and listens on `path` (mode 0600), making its directory if it
    /// is missing. A socket file nobody answers on is replaced; one that
    /// answers (another swinetd), or a file that is not a socket, is an error.
    static func listen(_ path: String) -> Result<Int32, OpenError> {
        guard path.utf8.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            return .failure(OpenError(description: "the control socket path \(path) is too long"))
        }
        let dir = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if !dir.isEmpty { mkdir(dir, 0o755) }
        var st = stat()
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFSOCK else {
                return .failure(OpenError(description: "\(path) exists and is not a socket"))
            }
            switch connect(path) {
            case .success(let fd):
                closeDescriptor(fd)
                return .failure(OpenError(description: "another swinetd answers on the control socket \(path) (use --control to pick another)"))
            case .failure(let e) where e == .connectionRefused:
                unlink(path)   // stale: nobody listens
            case .failure(let e):
                return .failure(OpenError(description: "\(path): \(e.text)"))
            }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return .failure(OpenError(description: "socket: \(Errno.current.text)")) }
        // Created 0600 from the start: no moment when others could connect.
        let old = umask(0o177)
        let bound = withAddress(path) { bind(fd, $0, $1) }
        let bindError = Errno.current
        umask(old)
        guard bound == 0 else {
            closeDescriptor(fd)
            return .failure(OpenError(description: "bind \(path): \(bindError.text)"))
        }
        guard Glibc.listen(fd, 16) == 0 else {
            let e = Errno.current
            closeDescriptor(fd)
            unlink(path)
            return .failure(OpenError(description: "listen \(path): \(e.text)"))
        }
        return .success(fd)
    }

    /// A blocking connection to `path` (close-on-exec).
    public static func connect(_ path: String) -> Result<Int32, Errno> {
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

    /// The uid of the process at the other end of a UNIX socket.
    static func peerUID(_ fd: Int32) -> uid_t? {
        var uid: UInt32 = 0
        guard clinux_peer_uid(fd, &uid) == 0 else { return nil }
        return uid_t(uid)
    }

    private static func withAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
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
