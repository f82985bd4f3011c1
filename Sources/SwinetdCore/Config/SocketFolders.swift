#if canImport(Glibc)
import Glibc
#endif

/// A UNIX socket in a folder that someone other than root and swinetd's
/// own user can write (/tmp, an app's runtime folder): that someone can put
/// a file, a symlink or a live socket at the path first, and the service
/// does not start, or swap the socket's file for another of theirs. swinetd
/// never follows or unlinks what they put there (see UnixSocketFile), but
/// only the folder's owner can make the path theirs alone: `check` says so
/// as a warning, and the master logs it when it opens the socket.
public struct ExposedSocket: Equatable, Sendable {
    public var service: String
    public var path: String
    public var folder: String
    /// "every user can write it (mode 1777)", "uid 1000 owns it", ...
    public var reason: String
}

public enum SocketFolders {
    /// Who else can write the folder of `path`, or nil when only root and
    /// swinetd's own user can (or the folder cannot be read: opening the
    /// socket will say why).
    public static func exposure(of path: String) -> (folder: String, reason: String)? {
        let folder = UnixSocketFile.split(path).folder
        var st = stat()
        guard stat(folder, &st) == 0 else { return nil }
        let mode = String(st.st_mode & 0o7777, radix: 8)
        let shown = String(repeating: "0", count: max(0, 4 - mode.count)) + mode
        if st.st_mode & 0o002 != 0 { return (folder, "every user can write it (mode \(shown))") }
        if st.st_uid != 0 && st.st_uid != geteuid() { return (folder, "uid \(st.st_uid) owns it") }
        if st.st_mode & 0o020 != 0 && st.st_gid != 0 && st.st_gid != getegid() {
            return (folder, "group \(st.st_gid) can write it (mode \(shown))")
        }
        return nil
    }

    /// Every UNIX socket of `table` whose folder others can write, in table order.
    public static func exposed(in table: ServiceTable) -> [ExposedSocket] {
        table.services.flatMap { s in
            s.addresses.compactMap { a in
                a.path.flatMap { p in exposure(of: p).map { ExposedSocket(service: s.name, path: p, folder: $0.folder, reason: $0.reason) } }
            }
        }
    }
}
