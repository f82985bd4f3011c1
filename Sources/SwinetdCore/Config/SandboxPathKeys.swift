#if canImport(Glibc)
import Glibc
#endif

/// The readers of the isolation keys that change what the handler sees of
/// the file system (swinetd.yaml(5), ISOLATION): `protect_system`,
/// `protect_home`, the three path lists, `private_tmp`, `root_directory`.
extension Validation {
    /// A list of absolute paths that exist, each resolved (symlinks that
    /// only root can change followed) and, as root, refused when a folder
    /// on the way is another user's or others can write it: the handler's
    /// view is set up by root, who must not be led elsewhere.
    mutating func sandboxPaths(_ node: Int, key: ServiceKey) -> [String]? {
        guard case .sequence(let items) = document[node].kind else {
            error(node, "'\(key.name)' must be a list of absolute paths, such as [/var/lib/example]")
            return nil
        }
        guard items.count <= 64 else {
            error(node, "'\(key.name)' lists \(items.count) paths: at most 64")
            return nil
        }
        var out: [String] = []
        var ok = true
        for item in items {
            guard let path = string(item, key: key.name) else { ok = false; continue }
            guard let resolved = trustedSandboxPath(item, path, key: key) else { ok = false; continue }
            if !out.contains(resolved) { out.append(resolved) }
        }
        return ok ? out : nil
    }

    /// `root_directory`: a folder, resolved as the paths are.
    mutating func rootDirectory(_ node: Int) -> String? {
        let key = ServiceKey.rootDirectory
        guard let path = string(node, key: key.name) else { return nil }
        guard let resolved = trustedSandboxPath(node, path, key: key) else { return nil }
        var st = stat()
        guard stat(resolved, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            error(node, "'\(key.name)' \(path) is not a directory")
            return nil
        }
        return resolved
    }

    /// `path` as the handler's view will be built from it: absolute, with
    /// no "." or ".." and no symlink left; nil after an error.
    private mutating func trustedSandboxPath(_ node: Int, _ path: String, key: ServiceKey) -> String? {
        guard path.hasPrefix("/") else {
            error(node, "'\(key.name)' must \(key == .rootDirectory ? "be an absolute path" : "list absolute paths"), not '\(path)'")
            return nil
        }
        let parts = path.split(separator: "/")
        guard !parts.contains(".."), !parts.contains(".") else {
            error(node, "'\(key.name)': \(path) must not contain '.' or '..'")
            return nil
        }
        let trusted = geteuid() == 0
        switch TrustedPath.walk(path, trustedOwners: trusted ? [0] : [0, geteuid()], judgeFolder: { st, _, holdsLast in
            trusted ? HostChecks.folderProblem(st, holdsFile: holdsLast) : nil
        }) {
        case .success(let walked):
            walked.close()
            return walked.shown
        case .failure(.untrusted(let why)):
            error(node, "'\(key.name)' \(path)\(why): swinetd as root does not set a handler's view up through it")
        case .failure(.system(let e)):
            error(node, "'\(key.name)' \(path): \(e.text)")
        }
        return nil
    }
}
