#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Everything validation asks of the host, and the only place that asks:
/// stat, access, the first bytes of a handler, and NSS (users and groups,
/// resolved once at load time so the spawn path never calls into NSS, which
/// may lock, allocate or open files).
///
/// As root, swinetd trusts only what only root can change, as OpenSSH's
/// StrictModes and cron do: the table, each handler, and every directory
/// above them must be owned by root and writable by nobody else (a
/// directory with the sticky bit, such as /tmp, may be writable by all).
/// Files that swinetd reads are judged here but reached by TrustedPath,
/// which walks the path a descriptor at a time so the file read is the
/// file judged.
enum HostChecks {
    // MARK: Files

    /// Why `path` cannot be a handler, as text to follow the path
    /// (": No such file or directory", " is not executable"), or nil.
    static func executable(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return ": \(Errno.current.text)" }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return " is not a regular file" }
        // Judged on the path as written before anything opens it: as root,
        // a file reached through another user's folder could be swapped
        // for a device between the stat above and the open below.
        if let unsafe = unsafeForRoot(path) { return unsafe }
        guard access(path, X_OK) == 0 else { return " is not executable" }
        return formatProblem(path)
    }

    /// Why `path`, looked up inside `root` as a chrooted handler would
    /// (absolute symlinks and ".." stay inside), cannot be a handler
    /// (`executable`) or a working directory, as text to follow the path; nil when it can.
    static func insideRoot(_ root: String, _ path: String, executable: Bool) -> String? {
        let rootFD = clinux_open_no_symlinks(root)
        guard rootFD >= 0 else { return ": \(Errno.current.text) (root_directory \(root))" }
        defer { closeDescriptor(rootFD) }
        let fd = clinux_open_in_root(rootFD, path)
        guard fd >= 0 else { return ": \(Errno.current.text) (inside root_directory \(root))" }
        defer { closeDescriptor(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return ": \(Errno.current.text)" }
        if executable {
            guard st.st_mode & S_IFMT == S_IFREG else { return " is not a regular file (inside root_directory \(root))" }
            guard st.st_mode & 0o111 != 0 else { return " is not executable (inside root_directory \(root))" }
        } else {
            guard st.st_mode & S_IFMT == S_IFDIR else { return " is not a directory (inside root_directory \(root))" }
        }
        guard executable else { return nil }
        // As root, the handler and every folder on the way to it, the root
        // itself included, must be root's alone, as outside a root: the
        // same walk from the host's "/", which must reach the very file
        // found inside (a symlink inside the root is refused for exec:
        // the walk would follow it on the host).
        let onHost = (root == "/" ? "" : root) + path
        if let unsafe = unsafeForRoot(onHost) { return unsafe + " (inside root_directory \(root))" }
        var hostSt = stat()
        guard lstat(onHost, &hostSt) == 0, hostSt.st_dev == st.st_dev, hostSt.st_ino == st.st_ino else {
            return " is reached through a symlink inside root_directory \(root): name the file itself"
        }
        return formatProblem(onHost)
    }

    /// `path` with every symlink followed, or nil.
    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    /// Why `path` cannot be a working directory (": errno" or " is not a directory"), or nil.
    static func directory(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return ": \(Errno.current.text)" }
        guard (st.st_mode & S_IFMT) == S_IFDIR else { return " is not a directory" }
        return nil
    }

    /// execve runs an ELF binary or a script that starts with `#!`; anything
    /// else fails every connection with ENOEXEC, so say so now. A file root
    /// may run but not read (mode 0111 for others) is not second-guessed.
    private static func formatProblem(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { return nil }
        defer { closeDescriptor(fd) }
        var magic = [UInt8](repeating: 0, count: 4)
        let n = magic.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4) }
        if n >= 2 && magic[0] == 0x23 && magic[1] == 0x21 { return nil }           // #!
        if n == 4 && magic == [0x7f, 0x45, 0x4c, 0x46] { return nil }             // \x7fELF
        return " is neither an ELF binary nor a script starting with '#!' (execve would fail with 'Exec format error')"
    }

    /// When swinetd runs as root: why `path` could be changed by someone
    /// else, as text to follow its name (" is writable by others (mode
    /// 0666)", " is in /srv, which is owned by uid 1000, not root", " is a
    /// symlink owned by uid 1000, not root"), or nil. Judged on the path as
    /// written, by the same walk and rules as the table: a folder or a
    /// symlink of another user on the way could be repointed to their own
    /// program after the check, so where the path leads today says nothing.
    static func unsafeForRoot(_ path: String) -> String? {
        // A path that cannot be walked or looked at is not trusted: it may
        // be missing only for the moment someone renames it away.
        guard geteuid() == 0 else { return nil }
        switch TrustedPath.walk(path, trustedOwners: [0], judgeFolder: { st, _, holdsLast in folderProblem(st, holdsFile: holdsLast) }) {
        case .success(let walked):
            defer { walked.close() }
            if let why = untrusted(walked.st, isDirectory: false) { return " \(why)" }
            return nil
        case .failure(.untrusted(let why)): return why
        case .failure(.system(let e)): return ": \(e.text)"
        }
    }

    /// How a folder on the way to the table, an included file or a handler could be
    /// another user's choice, as text to follow "which" (TrustedPath.walk
    /// asks it of each folder it passes through), or nil. Folders are
    /// root's and writable by no one else, except that a sticky folder such
    /// as /tmp may be passed through; the folder that holds the file (or a
    /// symlink to it) may not be writable by group or others even when
    /// sticky, since anyone could then drop a FIFO or a link of theirs there.
    static func folderProblem(_ st: stat, holdsFile: Bool) -> String? {
        if let why = untrusted(st, isDirectory: true) { return why }
        if holdsFile && (st.st_mode & 0o022) != 0 { return "others can write (mode \(octal(st.st_mode & 0o7777)))" }
        return nil
    }

    /// Who besides root and swinetd's own user can change what is in a
    /// folder on the way to a UNIX socket ("every user can write it (mode
    /// 1777)", "uid 1000 owns it"), or nil. A sticky folder passed through
    /// (/tmp) is fine: no one else can replace root's folder in it; the
    /// socket's own folder is not, as others can put a file at its name first.
    static func socketFolderExposure(_ st: stat, holdsSocket: Bool) -> String? {
        let mode = st.st_mode & 0o7777
        let sticky = !holdsSocket && (mode & S_ISVTX) != 0
        if mode & 0o002 != 0 && !sticky { return "every user can write it (mode \(octal(mode)))" }
        if st.st_uid != 0 && st.st_uid != geteuid() { return "uid \(st.st_uid) owns it" }
        if mode & 0o020 != 0 && !sticky && st.st_gid != 0 && st.st_gid != getegid() {
            return "group \(st.st_gid) can write it (mode \(octal(mode)))"
        }
        return nil
    }

    static func untrusted(_ st: stat, isDirectory: Bool) -> String? {
        if st.st_uid != 0 { return "is owned by uid \(st.st_uid), not root" }
        let mode = st.st_mode & 0o7777
        let sticky = isDirectory && (mode & S_ISVTX) != 0
        if (mode & 0o022) != 0 && !sticky { return "is writable by others (mode \(octal(mode)))" }
        return nil
    }

    static func octal(_ mode: mode_t) -> String {
        let digits = String(mode, radix: 8)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    // MARK: Users and groups

    struct User {
        var name: String
        var uid: uid_t
        var gid: gid_t
    }

    /// A user by name, or by number when no user has that name.
    static func user(_ name: String) -> User? {
        func found(_ pw: passwd) -> User { User(name: String(cString: pw.pw_name), uid: pw.pw_uid, gid: pw.pw_gid) }
        if let u = lookup({ getpwnam_r(name, $0, $1, $2, $3) }, found) { return u }
        if let uid = UInt32(name), let u = lookup({ getpwuid_r(uid, $0, $1, $2, $3) }, found) { return u }
        return nil
    }

    /// A group's id by name, or by number when no group has that name.
    static func group(_ name: String) -> gid_t? {
        if let g = lookup({ getgrnam_r(name, $0, $1, $2, $3) }, { $0.gr_gid }) { return g }
        if let gid = UInt32(name), let g = lookup({ getgrgid_r(gid, $0, $1, $2, $3) }, { $0.gr_gid }) { return g }
        return nil
    }

    /// One `get*_r` call, again with a buffer twice as large while it says
    /// ERANGE (a group with thousands of members needs more than 64 KiB),
    /// up to 64 MiB. `extract` reads the record while its buffer lives.
    private static func lookup<Record, T>(_ call: (UnsafeMutablePointer<Record>, UnsafeMutablePointer<CChar>, Int,
                                                   UnsafeMutablePointer<UnsafeMutablePointer<Record>?>) -> Int32,
                                          _ extract: (Record) -> T) -> T? {
        var size = 16384
        while size <= 64 << 20 {
            let record = UnsafeMutablePointer<Record>.allocate(capacity: 1)
            defer { record.deallocate() }
            var buffer = [CChar](repeating: 0, count: size)
            var result: UnsafeMutablePointer<Record>?
            let found: T?? = buffer.withUnsafeMutableBufferPointer { buf in
                let rc = call(record, buf.baseAddress!, size, &result)
                if rc == ERANGE || rc == EINTR { return .none }
                return .some(rc == 0 && result != nil ? extract(record.pointee) : nil)
            }
            if case .some(let value) = found { return value }
            if size < 64 << 20 { size *= 2 } else { break }
        }
        return nil
    }

    /// The supplementary groups `user` belongs to, with `gid` first.
    static func groups(of user: String, gid: gid_t) -> [gid_t] {
        var count: Int32 = 64
        while true {
            var list = [gid_t](repeating: 0, count: Int(count))
            var n = count
            if getgrouplist(user, gid, &list, &n) >= 0 {
                return Array(list.prefix(Int(n)))
            }
            count = max(n, count * 2)
            if count > 65536 { return [gid] }
        }
    }
}

extension HostChecks {
    /// swinetd's own hard limit for `resource` (nil when it cannot be read).
    static func hardLimit(_ resource: Int32) -> UInt64? {
        var rl = rlimit()
        guard getrlimit(__rlimit_resource_t(UInt32(resource)), &rl) == 0 else { return nil }
        return UInt64(rl.rlim_max)
    }
}

extension HostChecks {
    /// The paths `pattern` matches, sorted (glob(3)); a pattern without
    /// wildcards names its one path whether or not it exists, so that a
    /// missing file is reported by whoever reads it. `.failure` holds why
    /// a folder could not be read.
    static func glob(_ pattern: String) -> Result<[String], Errno> {
        guard pattern.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) else { return .success([pattern]) }
        var g = glob_t()
        defer { globfree(&g) }
        switch Glibc.glob(pattern, GLOB_ERR, nil, &g) {
        case 0: break
        case GLOB_NOMATCH: return .success([])
        case GLOB_NOSPACE: return .failure(Errno(rawValue: ENOMEM))
        default:
            // A folder that does not exist (yet) holds no drop-ins; one that
            // cannot be read is worth saying.
            let e = Errno.current
            if e.rawValue == ENOENT || e.rawValue == ENOTDIR { return .success([]) }
            return .failure(e)
        }
        var out: [String] = []
        for i in 0..<Int(g.gl_pathc) {
            if let p = g.gl_pathv[i] { out.append(String(cString: p)) }
        }
        return .success(out)
    }
}
