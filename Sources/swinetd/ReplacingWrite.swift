#if canImport(Glibc)
import Glibc
#endif
import SwinetdCore

/// `swinetd import -o FILE`: the table written to a new file beside FILE,
/// then renamed over it. Run as root in a folder others can write (/tmp),
/// opening FILE itself would follow a symbolic link someone planted there
/// and truncate whatever it names; a rename replaces the name, never what a
/// link points to, and a reader never sees half a table. FILE that is a
/// symbolic link, a device or a directory is refused instead (replacing
/// /dev/stdout or an administrator's link would surprise more than help).
enum ReplacingWrite {
    /// Why `path` was not written, or nil once it holds `bytes`.
    static func write(_ bytes: [UInt8], to path: String) -> String? {
        let (folder, name) = PathName.split(path)
        guard !name.isEmpty, name != ".", name != ".." else { return "not a file name" }
        // As root, never through another user's symlink on the way.
        let dir: Int32
        switch TrustedPath.openFolder(folder) {
        case .success(let fd): dir = fd
        case .failure(let f): return f.text
        }
        defer { close(dir) }
        // An existing table keeps its permissions (it may hold env values
        // that are secret), but never write access for group or others; a
        // new one is 0644 less the umask. A file of another user (planted
        // at the name in a shared folder, say) is not replaced: keeping its
        // owner would hand them the table.
        var mode: mode_t = 0o644
        var replacing = false
        var st = stat()
        if fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFREG:
                guard st.st_uid == geteuid() || st.st_uid == 0 else { return "it belongs to uid \(st.st_uid), and is not replaced" }
                mode = st.st_mode & 0o755
                replacing = true
            case S_IFLNK: return "it is a symbolic link, which is not followed (name the file it points to)"
            default: return "not a regular file"
            }
        } else if errno != ENOENT {
            return String(cString: strerror(errno))
        }
        for _ in 0..<16 {
            let temporary = ".\(name.utf8.count > 200 ? "table" : name).\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
            let fd = openat(dir, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd < 0 && errno == EEXIST { continue }
            guard fd >= 0 else { return String(cString: strerror(errno)) }
            var failure: String?
            // A replaced table keeps its owner and group too (root:swinetd
            // 0640, say), then its mode (fchown may clear set-id bits).
            if case .failure(let e) = writeAll(fd, bytes) { failure = e.text }
            else if replacing && ((geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) != 0) || fchmod(fd, mode) != 0) { failure = String(cString: strerror(errno)) }
            else if fsync(fd) != 0 { failure = String(cString: strerror(errno)) }
            close(fd)
            if failure == nil && renameat(dir, temporary, dir, name) != 0 { failure = String(cString: strerror(errno)) }
            if failure != nil { unlinkat(dir, temporary, 0) }
            // The rename itself survives a crash once the folder is on disk.
            else { _ = fsync(dir) }
            return failure
        }
        return "no free temporary name beside it"
    }
}
