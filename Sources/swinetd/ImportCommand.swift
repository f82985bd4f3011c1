import ArgumentParser
import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

/// `swinetd import inetd|xinetd`: another super-server's configuration as a
/// checked services.yaml on stdout (or -o FILE), and on stderr every
/// construct that has no exact equivalent.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Convert an inetd.conf, an xinetd configuration or a tcpserver service with its tcprules into a checked services.yaml (exit 0: exact, 1: something approximated or left out, 2: unreadable).",
        subcommands: [ImportInetd.self, ImportXinetd.self, ImportTcpRules.self])
}

struct ImportOptions: ParsableArguments {
    @Option(name: [.customShort("o"), .long], help: "Write the table here instead of stdout (a new file renamed over it; a symbolic link there is refused).")
    var output: String?

    @Flag(help: "Also carry over disabled and commented-out entries, as enabled: false.")
    var includeDisabled = false

    /// Writes the table and the notes; exits 0, 1 or 2 as the result says.
    func finish(_ result: ImportResult, source: String) throws {
        MasterSignals.unblock()
        var result = result
        if let unreadable = result.unreadable {
            printError("swinetd import: \(PrintableText.escaped(unreadable, keepingBackslashes: true))")
            throw ExitCode(2)
        }
        if result.services.isEmpty {
            // A table needs a service: say so rather than write one check refuses.
            result.notes.append(ImportNote(file: source, line: nil, kind: .leftOut, message: nothingToServe(includeDisabled)))
            for note in result.notes { printError(note.description) }
            throw ExitCode(1)
        }
        let (yaml, served, mismatch) = ImportWriter.render(&result, source: source)
        if let mismatch {
            // Never write what would serve something other than what was read.
            printError("swinetd import: \(mismatch): nothing written")
            throw ExitCode(2)
        }
        if served == 0 {
            result.notes.append(ImportNote(file: source, line: nil, kind: .leftOut,
                message: "nothing can be served on this host: every service is commented out, so check refuses the table until one is uncommented"))
        }
        if let output {
            if let failure = ReplacingWrite.write(Array(yaml.utf8), to: output) {
                printError("swinetd import: cannot write \(PrintableText.escaped(output)): \(failure)")
                throw ExitCode(2)
            }
        } else {
            _ = writeAll(1, Array(yaml.utf8))
        }
        for note in result.notes { printError(note.description) }
        if !result.notes.isEmpty { throw ExitCode(1) }
    }

    private func nothingToServe(_ all: Bool) -> String {
        "nothing to serve: no table written" + (all ? "" : " (disabled entries are carried over with --include-disabled)")
    }
}

struct ImportInetd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inetd",
        abstract: "Read an inetd.conf (FreeBSD, OpenBSD, NetBSD, Debian's openbsd-inetd, busybox).")

    @OptionGroup var options: ImportOptions

    @Flag(help: "Plain tcp and udp listen on IPv4 and IPv6, as Debian's openbsd-inetd reads them (default: IPv4 only, as the BSDs and busybox).")
    var dualStack = false

    @Argument(help: "The inetd.conf to read.")
    var file: String

    func run() throws {
        let result = InetdConf(includeDisabled: options.includeDisabled, dualStack: dualStack).read(path: file)
        try options.finish(result, source: file)
    }
}

struct ImportXinetd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xinetd",
        abstract: "Read xinetd.conf (with defaults, include and includedir) or a directory such as /etc/xinetd.d.")

    @OptionGroup var options: ImportOptions

    @Argument(help: "xinetd.conf, or a directory of service files.")
    var path: String

    func run() throws {
        let result = XinetdConf(includeDisabled: options.includeDisabled).read(path: path)
        try options.finish(result, source: path)
    }
}

struct ImportTcpRules: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcprules",
        abstract: "Read a tcprules source file (tcpserver -x) as one service's allow, deny and env_by_source.")

    @OptionGroup var options: ImportOptions

    @Option(help: "The service's address, as tcpserver's HOST PORT would be written in the table (such as 0.0.0.0:25, or 25 for both families).")
    var listen: String

    @Option(help: "The service's name (default: the program's file name).")
    var name: String?

    @Option(help: "The user the handler runs as (tcpserver -u, by name; default swinetd's own).")
    var user: String?

    @Option(help: "The group the handler runs as (tcpserver -g, by name; default the user's).")
    var group: String?

    @Option(help: "The most handlers at once (tcpserver -c).")
    var maxConnections: Int = 40

    @Argument(help: "The tcprules source file (not the .cdb tcprules makes from it).")
    var rules: String

    @Argument(parsing: .postTerminator, help: "After --: the program tcpserver starts and its arguments.")
    var program: [String] = []

    func run() throws {
        guard let exec = program.first else {
            printError("swinetd import tcprules: give the program after --, as tcpserver's command line has it")
            throw ExitCode(64)
        }
        let serviceName = name ?? String(exec.split(separator: "/").last ?? "service")
        var service = ImportedService(name: serviceName, file: rules, line: 1)
        service.listen = [listen]
        service.exec = exec
        service.args = Array(program.dropFirst())
        service.user = user
        service.group = group
        service.maxConnections = maxConnections
        // tcpserver hands its own stderr, its log, to the program.
        service.stderr = .log
        var result = ImportResult()
        TcpRules().apply(path: rules, to: &service, result: &result)
        if result.unreadable == nil { result.services = [service] }
        try options.finish(result, source: rules)
    }
}
