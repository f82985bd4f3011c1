#if canImport(Glibc)
import Glibc
#endif

/// Turns a table file into a validated `ServiceTable`, or into every
/// diagnostic the file deserves (not only the first), in file order.
///
/// What bounds the work, so that no file can make swinetd hang or bloat:
/// the file must be a regular file (opened without blocking, so a FIFO put
/// in its place is refused at once) of at most `maxFileSize` bytes; with
/// every YAML alias expanded it may hold at most `maxExpandedNodes` nodes;
/// and at most `maxDiagnostics` diagnostics are kept, followed by "and N
/// more errors".
public struct TableLoader {
    /// When true, a `user` or `group` other than swinetd's own is an error
    /// unless swinetd runs as root (what `run` needs; `check` does not ask it).
    public var checkPrivileges: Bool
    /// Whether `include` reads the files it names (the fuzzer reads none).
    public var followIncludes = true

    public static let maxFileSize = 4 << 20
    public static let maxExpandedNodes = 250_000
    public static let maxDiagnostics = 100
    /// How many diagnostics are kept (`swinetd import` wants them all, to
    /// comment out every service this host cannot serve in one round).
    public var diagnosticLimit = TableLoader.maxDiagnostics

    public init(checkPrivileges: Bool = false) {
        self.checkPrivileges = checkPrivileges
    }

    /// Reads and validates the table at `path`. A file that cannot be read
    /// is one diagnostic without a position; as root, so is a table that
    /// others could change, which is then not read at all (see `TrustedPath`).
    public func load(path: String) -> Result<ServiceTable, TableErrors> {
        let bytes: [UInt8]
        switch TrustedPath.read(path, limit: Self.maxFileSize) {
        case .success(let b): bytes = b
        case .failure(.untrusted(let why)):
            return .failure(TableErrors([Diagnostic(file: path, mark: nil, message:
                "the table \(path)\(why); as root, swinetd reads only a table that only root can change")]))
        case .failure(.unreadable(let f)):
            return .failure(TableErrors([Diagnostic(file: path, mark: nil, message: "cannot read the table: \(f.text)")]))
        }
        return load(bytes: bytes, file: path)
    }

    public func load(bytes: [UInt8], file: String) -> Result<ServiceTable, TableErrors> {
        let document: YAMLDocument
        switch Self.parse(bytes, file: file) {
        case .failure(let d): return .failure(TableErrors([d]))
        case .success(let d): document = d
        }
        var validation = Validation(document: document, file: file, checkPrivileges: checkPrivileges, followIncludes: followIncludes)
        let table = validation.table()
        if validation.diagnostics.isEmpty, let table { return .success(table) }
        // File by file (main table first), each in line order.
        let zero = Mark(line: 0, column: 0)
        let rank = Dictionary(validation.files.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        let sorted = validation.diagnostics.enumerated().sorted { a, b in
            let ra = rank[a.element.file] ?? 0, rb = rank[b.element.file] ?? 0
            if ra != rb { return ra < rb }
            let ma = a.element.mark ?? zero, mb = b.element.mark ?? zero
            return ma != mb ? ma < mb : a.offset < b.offset
        }.map(\.element)
        return .failure(TableErrors(Array(sorted.prefix(diagnosticLimit)), omitted: max(0, sorted.count - diagnosticLimit)))
    }

    /// One file's YAML, within the bounds on its size once aliases expand.
    static func parse(_ bytes: [UInt8], file: String) -> Result<YAMLDocument, Diagnostic> {
        let document: YAMLDocument
        switch YAMLDocument.parse(bytes) {
        case .failure(let error):
            return .failure(Diagnostic(file: file, mark: error.mark, message: error.message))
        case .success(let d): document = d
        }
        switch document.expandedSize(limit: Self.maxExpandedNodes) {
        case .cycle(let mark):
            return .failure(Diagnostic(file: file, mark: mark, message: "an alias inside the node it names: the table would be infinite"))
        case .size(let n) where n > Self.maxExpandedNodes:
            return .failure(Diagnostic(file: file, mark: nil, message:
                "the table is too large: with its aliases expanded it has more than \(Self.maxExpandedNodes) nodes (aliases that repeat large parts multiply its size)"))
        case .size:
            return .success(document)
        }
    }
}

/// Every diagnostic of a table that did not load, in file order: the first
/// `TableLoader.maxDiagnostics`, and how many more there were.
public struct TableErrors: Error, Equatable, Codable {
    public var diagnostics: [Diagnostic]
    public var omitted: Int

    init(_ diagnostics: [Diagnostic], omitted: Int = 0) {
        self.diagnostics = diagnostics
        self.omitted = omitted
    }

    /// How many mistakes the table has in all.
    public var count: Int { diagnostics.count + omitted }

    /// One line per diagnostic, then "FILE: error: and N more errors".
    public var lines: [String] {
        var out = diagnostics.map(\.description)
        if omitted > 0, let file = diagnostics.first?.file {
            out.append(Diagnostic(file: file, mark: nil, message: "and \(omitted) more error\(omitted == 1 ? "" : "s")").description)
        }
        return out
    }
}
