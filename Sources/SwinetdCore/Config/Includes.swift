#if canImport(Glibc)
import Glibc
#endif

/// A file that the table's `include` names, parsed.
struct IncludedFile {
    var path: String
    var document: YAMLDocument
}

/// `include: [services.d/*.yaml, /etc/other.yaml]`: drop-in files of more
/// services, so a package adds its service by adding one file. Patterns are
/// globs, relative to the table's folder unless absolute; the matches of
/// each pattern are read in sorted order, patterns in the order written. A
/// file named twice (two patterns matching it) is read once. A pattern with
/// no wildcard names a file that must exist; a glob may match nothing.
///
/// What bounds the work: at most `maxFiles` files, each with the main
/// table's limits on size and nodes, and at most `maxTotalSize` bytes in all.
extension Validation {
    static let maxFiles = 1024
    static let maxTotalSize = 16 << 20

    mutating func included(from node: Int) -> [IncludedFile] {
        var items: [(pattern: String, node: Int)] = []
        switch document[node].kind {
        case .sequence(let nodes):
            for n in nodes { if let s = string(n, key: "include") { items.append((s, n)) } }
        case .scalar where !isNull(node):
            if let s = string(node, key: "include") { items.append((s, node)) }
        default:
            error(node, "'include' must be a list of paths or globs, such as [\"services.d/*.yaml\"]")
            return []
        }
        guard followIncludes else { return [] }
        // The table's folder as the table's path names it ("" for a bare name: the working directory).
        let folder = file.lastIndex(of: "/").map { String(file[...$0]) } ?? ""
        var out: [IncludedFile] = []
        var taken: Set<String> = [file]
        var total = 0
        for (pattern, n) in items {
            if pattern.isEmpty { error(n, "an 'include' path cannot be empty"); continue }
            let full = pattern.hasPrefix("/") ? pattern : folder + pattern
            let paths: [String]
            switch HostChecks.glob(full) {
            case .success(let p): paths = p
            case .failure(let e): error(n, "cannot expand '\(pattern)': \(e.text)"); continue
            }
            for path in paths where taken.insert(path).inserted {
                guard out.count < Self.maxFiles else {
                    error(n, "'include' names more than \(Self.maxFiles) files")
                    return out
                }
                // Opened by TrustedPath, which judges each step before a
                // byte is read and reads from what it judged: a glob's list
                // names only candidates, so nothing of a file root would not
                // have chosen reaches a diagnostic.
                let bytes: [UInt8]
                switch TrustedPath.read(path, limit: TableLoader.maxFileSize) {
                case .success(let b): bytes = b
                case .failure(.untrusted(let why)):
                    diagnostics.append(Diagnostic(file: path, mark: nil, message:
                        "the included file \(path)\(why); as root, swinetd reads only files that only root can change"))
                    continue
                case .failure(.unreadable(let f)):
                    error(n, "cannot read the included file \(path): \(f.text)")
                    continue
                }
                total += bytes.count
                guard total <= Self.maxTotalSize else {
                    error(n, "the included files hold more than \(Self.maxTotalSize >> 20) MiB in all")
                    return out
                }
                switch TableLoader.parse(bytes, file: path) {
                case .success(let d): out.append(IncludedFile(path: path, document: d))
                case .failure(let d): diagnostics.append(d)
                }
            }
        }
        return out
    }
}
