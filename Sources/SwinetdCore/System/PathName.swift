#if canImport(Glibc)
import Glibc
#endif

/// A path as text: its folder and its name, and the same path from "/".
/// Nothing here looks at the file system but getcwd (TrustedPath reaches
/// what a path leads to).
public enum PathName {
    /// The folder ("/" for a file at the root, "." for a bare name) and the
    /// name of `path`.
    public static func split(_ path: String) -> (folder: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let folder = String(path[..<slash])
        return (folder.isEmpty ? "/" : folder, String(path[path.index(after: slash)...]))
    }

    /// `path` from "/": as it is when it starts with "/", else after the
    /// working directory ("." is the working directory itself). Nil when
    /// the working directory cannot be known (errno says why).
    public static func absolute(_ path: String) -> String? {
        if path.hasPrefix("/") { return path }
        guard let buffer = getcwd(nil, 0) else { return nil }
        let cwd = String(cString: buffer)
        free(buffer)
        if path == "." { return cwd }
        return cwd == "/" ? "/" + path : cwd + "/" + path
    }
}
