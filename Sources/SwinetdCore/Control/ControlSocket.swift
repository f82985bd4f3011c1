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
    /// is missing (see UnixSocketFile for a leftover file).
    static func listen(_ path: String) -> Result<Int32, OpenError> {
        let folder = PathName.split(path).folder
        if folder != "." && folder != "/" { mkdir(folder, 0o755) }
        return UnixSocketFile.listen(path, mode: 0o600, backlog: 16).mapError { e in
            OpenError(description: e.step == "connect" && e.errno == .addressInUse
                      ? "another swinetd answers on the control socket \(path) (use --control to pick another)" : e.message)
        }
    }

    /// A blocking connection to `path` (close-on-exec).
    public static func connect(_ path: String) -> Result<Int32, Errno> { UnixSocketFile.connect(path) }

    /// The uid of the process at the other end of a UNIX socket.
    static func peerUID(_ fd: Int32) -> uid_t? {
        var uid: UInt32 = 0, gid: UInt32 = 0, pid: Int32 = 0
        guard clinux_peer_cred(fd, &uid, &gid, &pid) == 0 else { return nil }
        return uid_t(uid)
    }
}
