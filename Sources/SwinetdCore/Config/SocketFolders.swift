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
    /// The way to the folder goes through another user's symlink, which the
    /// master as root does not follow: the address will not open at all.
    public var refused: Bool
}

public enum SocketFolders {
    /// Who else could change what `path` leads to, or nil when only root
    /// and swinetd's own user can (or the folder cannot be reached: opening
    /// the socket will say why). Every folder on the way is looked at, the
    /// deepest exposed one reported; a symlink on the way owned by someone
    /// else is reported as such (as root, `run` refuses to follow it).
    public static func exposure(of path: String) -> (folder: String, reason: String, refused: Bool)? {
        var found: (folder: String, reason: String, refused: Bool)?
        let folder = PathName.split(path).folder
        let walked = TrustedPath.walk(folder, trustedOwners: [0, geteuid()]) { st, shown, _ in
            if let why = HostChecks.socketFolderExposure(st, holdsSocket: false) { found = (shown, why, false) }
            return nil
        }
        switch walked {
        case .success(let w):
            defer { w.close() }
            if let why = HostChecks.socketFolderExposure(w.st, holdsSocket: true) { return (w.shown, why, false) }
            return found
        case .failure(.untrusted(let why)):
            // " is reached through /srv/app/run, a symlink owned by uid 1000, not root"
            return (folder, "it" + why, geteuid() == 0)
        case .failure(.system):
            return found
        }
    }

    /// Every UNIX socket of `table` whose folder others can write, in table order.
    public static func exposed(in table: ServiceTable) -> [ExposedSocket] {
        table.services.flatMap { s in
            s.addresses.compactMap { a in
                a.path.flatMap { p in exposure(of: p).map { ExposedSocket(service: s.name, path: p, folder: $0.folder, reason: $0.reason, refused: $0.refused) } }
            }
        }
    }
}
