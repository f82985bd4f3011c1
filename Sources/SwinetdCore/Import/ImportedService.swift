/// One service read from another super-server's configuration, in
/// swinetd's terms, before it is written as YAML. Both importers (inetd.conf
/// and xinetd) fill it; `ImportWriter` renders and checks it.
public struct ImportedService: Equatable {
    /// Where it came from, for the `# from FILE:LINE` comment and every note.
    public struct Origin: Equatable {
        public var file: String
        public var lines: [Int]
        public var text: String { "\(file):" + lines.map(String.init).joined(separator: ",") }
    }

    public var name: String
    public var origin: Origin
    public var enabled = true
    public var transport: Transport = .tcp
    /// Entries of `listen`, as the table writes them ("21", "0.0.0.0:21", "[::]:21", "/path").
    public var listen: [String] = []
    public var wait = false
    public var user: String?
    public var group: String?
    public var exec: String?
    public var argv0: String?
    public var args: [String] = []
    public var builtin: Builtin?
    public var maxConnections: Int?
    public var perSource: Int?
    /// Set with per_source or source_rate: the peers (inetd, xinetd) count one address, not a /64.
    public var groupByAddress = false
    public var rate: String?
    public var sourceRate: String?
    public var allow: [String] = []
    public var deny: [String] = []
    public var env: [(String, String)] = []
    /// Where the handler's stderr goes, when not the table's default (the socket, as inetd gives it).
    public var stderr: StderrMode?
    /// `env_by_source` rules, in order: networks and their variables.
    public var envBySource: [(from: [String], env: [(String, String)])] = []
    public var nice: Int?
    public var umask: String?
    public var limits: [(String, String)] = []

    public init(name: String, file: String, line: Int) {
        self.name = name
        self.origin = Origin(file: file, lines: [line])
    }

    public static func == (a: ImportedService, b: ImportedService) -> Bool {
        a.rendered(includeOrigin: false) == b.rendered(includeOrigin: false) && a.origin == b.origin
    }

    /// Everything but the addresses and the origin: two services with the
    /// same key are one service on two address families (inetd's tcp and tcp6 lines).
    var twinKey: String {
        var a = self
        a.listen = []
        return a.rendered(includeOrigin: false)
    }
}

/// Something the importer could not carry over exactly, with where it stood.
public struct ImportNote: Equatable, CustomStringConvertible {
    public enum Kind: String {
        /// Carried over with a different meaning or without a part.
        case approximated
        /// Not in the table at all.
        case leftOut = "left out"
        /// In the table as a comment: this host lacks what it needs (a
        /// handler, a user) or another service has its address.
        case commentedOut = "commented out"
    }
    public var file: String
    public var line: Int?
    public var kind: Kind
    public var message: String

    public init(file: String, line: Int?, kind: Kind, message: String) {
        self.file = file
        self.line = line
        self.kind = kind
        self.message = message
    }

    public var description: String {
        // The file's name is as the directory had it (a newline or an ESC in
        // it would forge a line or drive the terminal): escaped, like the message.
        "\(PrintableText.escaped(file))\(line.map { ":\($0)" } ?? ""): \(kind.rawValue): \(PrintableText.escaped(message, keepingBackslashes: true))"
    }
}

/// What an importer read: the services in file order and every note.
public struct ImportResult {
    public var services: [ImportedService] = []
    public var notes: [ImportNote] = []
    /// Set when the input could not be read at all (exit 2).
    public var unreadable: String?

    public init() {}

    mutating func note(_ file: String, _ line: Int?, _ kind: ImportNote.Kind, _ message: String) {
        notes.append(ImportNote(file: file, line: line, kind: kind, message: message))
    }
}
