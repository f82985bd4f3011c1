#if canImport(Glibc)
import Glibc
#endif
import CLinux
import CSpawn

/// What a service's handlers see of the file system: its own mount
/// namespace (protect_system, protect_home, the path lists, and the base
/// that private_tmp copies for each handler) and its root directory.
/// Made when the service's first handler is about to start, entered by
/// each handler's child (setns, then chroot by descriptor), closed with the
/// service's plan: a reload that changes the service makes a new plan, so
/// a new view; running handlers keep theirs. One that could not be made is
/// tried again at the next handler, never skipped.
final class FileSystemView {
    private(set) var namespace: Int32 = -1
    private(set) var root: Int32 = -1
    private let sandbox: Sandbox
    /// What each step's path was when the namespace was made (nil: not
    /// there): the namespace is a snapshot, so a path the host replaces
    /// since (a rename over it, as package managers and passwd do) or
    /// creates would not be covered. Checked at each spawn (an lstat each);
    /// on a change the namespace is made again.
    private var made: [(path: String, identity: FileIdentity?)] = []

    /// A file's device and inode, and its change time: a file deleted and
    /// made again may get the same inode back (ext4 does), but not the
    /// same change time, and the delete has already taken the mount on it away.
    struct FileIdentity: Equatable {
        var device: UInt64
        var inode: UInt64
        var changed: Int
        var changedNanoseconds: Int
    }

    static func identity(_ path: String) -> FileIdentity? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino), changed: st.st_ctim.tv_sec, changedNanoseconds: st.st_ctim.tv_nsec)
    }

    init?(_ sandbox: Sandbox) {
        guard sandbox.needsMountNamespace || sandbox.rootDirectory != nil else { return nil }
        self.sandbox = sandbox
    }

    var hasNamespace: Bool { sandbox.needsMountNamespace }

    /// Makes it unless it is made: nil when it is there, else the spawn's
    /// failing stage, the step's text ("read_only_paths /srv/x") and errno.
    func make() -> (stage: cspawn_stage, step: String, error: Errno)? {
        if namespace >= 0 && made.contains(where: { Self.identity($0.path) != $0.identity }) {
            closeDescriptor(namespace)
            namespace = -1
            if root >= 0 { closeDescriptor(root); root = -1 }
        }
        if (!hasNamespace || namespace >= 0) && (sandbox.rootDirectory == nil || root >= 0) { return nil }
        guard hasNamespace else {
            let fd = clinux_open_no_symlinks(sandbox.rootDirectory!)
            guard fd >= 0 else { return (CSPAWN_STAGE_ROOT_DIRECTORY, "root_directory", .current) }
            root = fd
            return nil
        }
        let steps = Self.steps(sandbox)
        let before = steps.filter { $0.kind != .allReadOnly }.map { ($0.path, Self.identity($0.path)) }
        let cPaths = steps.map { strdup($0.path)! }
        defer { for p in cPaths { free(p) } }
        var cSteps = steps.enumerated().map { i, s in
            clinux_mount_step(kind: s.kind.rawValue, path: UnsafePointer(cPaths[i]), optional: s.optional ? 1 : 0)
        }
        var rootFD: Int32 = -1, failed: Int32 = -1
        let ns = sandbox.rootDirectory.withOptionalCString { rootPath in
            cSteps.withUnsafeMutableBufferPointer { clinux_mount_namespace($0.baseAddress, $0.count, rootPath, &rootFD, &failed) }
        }
        guard ns >= 0 else {
            let e = Errno.current
            let step = failed >= 0 && Int(failed) < steps.count ? steps[Int(failed)].key + " " + steps[Int(failed)].path : "mount namespace"
            return (CSPAWN_STAGE_MOUNT, step, e)
        }
        namespace = ns
        root = rootFD
        made = before
        return nil
    }

    deinit {
        if namespace >= 0 { closeDescriptor(namespace) }
        if root >= 0 { closeDescriptor(root) }
    }

    struct Step: Equatable {
        enum Kind: Int32 { case readOnly = 1, readWrite = 2, inaccessible = 3, allReadOnly = 4 }
        var kind: Kind
        var path: String
        var optional = false
        /// The key it comes from, for the log when it fails.
        var key: String
    }

    /// The mount namespace's changes, in the order they are made: the
    /// broad read-only ones first (protect_system, protect_home:
    /// read-only), then read_write_paths put back as the host has them,
    /// then read_only_paths, then what is made inaccessible: where they
    /// nest, inaccessible wins over read-only, and read-only over writable.
    static func steps(_ s: Sandbox) -> [Step] {
        var out: [Step] = []
        func builtIn(_ kind: Step.Kind, _ paths: [String], key: String) {
            for p in paths { out.append(Step(kind: kind, path: resolved(p), optional: true, key: key)) }
        }
        switch s.protectSystem {
        case .off: break
        case .on: builtIn(.readOnly, ["/usr", "/boot", "/efi"], key: "protect_system")
        case .full: builtIn(.readOnly, ["/usr", "/boot", "/efi", "/etc"], key: "protect_system")
        case .strict: out.append(Step(kind: .allReadOnly, path: "/", key: "protect_system"))
        }
        let home = ["/home", "/root", "/run/user"]
        if s.protectHome == .readOnly { builtIn(.readOnly, home, key: "protect_home") }
        out += s.readWritePaths.map { Step(kind: .readWrite, path: $0, key: "read_write_paths") }
        out += s.readOnlyPaths.map { Step(kind: .readOnly, path: $0, key: "read_only_paths") }
        if s.protectHome == .on { builtIn(.inaccessible, home, key: "protect_home") }
        out += s.inaccessiblePaths.map { Step(kind: .inaccessible, path: $0, key: "inaccessible_paths") }
        return out
    }

    /// A built-in path with root's symlinks followed (/home may lead to
    /// /var/home); as it is when it cannot be walked (missing: skipped).
    private static func resolved(_ path: String) -> String {
        switch TrustedPath.walk(path, trustedOwners: [0], judgeFolder: { st, _, holdsLast in
            HostChecks.folderProblem(st, holdsFile: holdsLast)
        }) {
        case .success(let w): w.close(); return w.shown
        case .failure: return path
        }
    }
}

extension Optional where Wrapped == String {
    func withOptionalCString<R>(_ body: (UnsafePointer<CChar>?) -> R) -> R {
        switch self {
        case .some(let s): return s.withCString { body($0) }
        case .none: return body(nil)
        }
    }
}
