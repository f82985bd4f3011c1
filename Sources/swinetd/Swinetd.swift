import ArgumentParser
import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

@main
enum Main {
    static func main() {
        // First of all: descriptors 0-2 exist (on /dev/null if they were
        // closed), so nothing opened later takes one of their numbers.
        StandardDescriptors.ensureOpen()
        // Then the signals: an early HUP, TERM or stray USR1 waits for the
        // event loop instead of killing the master.
        MasterSignals.block()
        // Sockets handed over (systemd's LISTEN_FDS, an upgrade's state) are
        // taken off 3 and 4 first, then those two become the spawn's slots.
        InheritedDescriptors.take()
        do { try SpawnPlan.reserveSlots() } catch { fatalError("cannot reserve descriptors 3 and 4: \(error)") }
        // A builtin's handler runs once per connection: it skips the
        // command-line parser, whose first protocol-conformance lookup scans
        // every conformance record of this static binary (most of the 20
        // million instructions such a handler took to start).
        let args = CommandLine.arguments
        if args.count >= 3, args[1] == "builtin", args.dropFirst(3).allSatisfy({ $0 == "--udp" }) {
            exit(BuiltinCommand.serve(args[2], udp: args.count > 3))
        }
        // Which binary this is, before a package update can rename another over it.
        SelfExecutable.capture()
        guard InheritedDescriptors.upgradeState != nil else { Swinetd.main(); return }
        // The new image of an upgrade: a command line it rejects (a flag
        // this version dropped) sends it back to the old image.
        var command: ParsableCommand
        do {
            command = try Swinetd.parseAsRoot()
        } catch {
            UpgradeFallback.reexecOld(reason: "the new image rejected the command line: " + Swinetd.message(for: error), log: nil)
            Swinetd.exit(withError: error)
        }
        do { try command.run() } catch { Swinetd.exit(withError: error) }
    }
}

/// `swinetd [serving options]` serves, as `swinetd run` does. The serving
/// flags stay `run`'s own (as root options they would take `-c` and `-f`
/// from every subcommand), and the top-level `--help` lists them.
struct Swinetd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swinetd",
        abstract: "An inetd-style super-server: one handler process per connection.",
        usage: "swinetd [run] [<serving options>]\nswinetd <subcommand> [<options>]",
        discussion: "With no subcommand, swinetd serves the table (the same as 'swinetd run')."
            + (helpAsked ? "\n\n" + servingOptions() : ""),
        version: SwinetdVersion.current,
        subcommands: [Run.self, Check.self, Status.self, Reload.self, Upgrade.self, Stop.self, ImportCommand.self, BuiltinCommand.self,
                      UpgradePreflightCommand.self],
        defaultSubcommand: Run.self
    )

    /// Whether this invocation prints help: only then is `run`'s help
    /// rendered into the root's (rendering it costs a few milliseconds,
    /// which every start of the master and of a builtin handler would pay).
    static var helpAsked: Bool {
        CommandLine.arguments.dropFirst().contains { $0 == "-h" || $0 == "--help" || $0 == "help" || $0 == "--help-hidden" }
    }

    /// The OPTIONS part of `swinetd run --help`, headed as serving options.
    static func servingOptions() -> String {
        var lines = Run.helpMessage(columns: 80).split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(of: "OPTIONS:") else { return "" }
        lines.removeSubrange(...start)
        // `--version` and `-h` are the root's own, listed under its OPTIONS.
        lines.removeAll { $0.hasPrefix("  --version") || $0.hasPrefix("  -h, --help") }
        return "SERVING OPTIONS:\n" + lines.joined(separator: "\n").trimmingTrailingNewlines()
    }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var s = self
        while s.last == "\n" { s.removeLast() }
        return s
    }
}

struct ConfigOption: ParsableArguments {
    @Option(name: [.customShort("f"), .long], help: "The service table.")
    var config: String = Defaults.configPath
}

extension Log.Format: ExpressibleByArgument {}

extension LogTimestamps: ExpressibleByArgument {}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Listen on every address of the table and serve (the default command).")

    /// The longest `--grace`: a day.
    static let maxGrace = 86_400.0

    @OptionGroup var serving: ServeOptions

    func run() throws { try serving.serve() }
}

/// The flags of serving, shared by `swinetd` and `swinetd run`.
struct ServeOptions: ParsableArguments {
    @OptionGroup var table: ConfigOption

    @Option(help: "Seconds handlers get between SIGTERM and SIGKILL when swinetd stops (0 to 86400).")
    var grace: Double = 10

    @Option(help: "Log lines as text or json.")
    var logFormat: Log.Format = .text

    @Option(help: "Text lines start with an RFC 3339 UTC time: auto (on a terminal or file, not on a pipe or under journald), always or never.")
    var logTimestamps: LogTimestamps = .auto

    @Option(help: "Write the master's pid to this file and hold a lock on it (removed on exit).")
    var pidFile: String?

    @Flag(help: "Detach and log to syslog; returns once the daemon listens.")
    var daemon = false

    @Option(help: "The syslog socket, for --daemon or a closed stderr.")
    var syslogSocket: String = SyslogClient.defaultPath

    @Option(name: [.customShort("c"), .long], help: "The control socket, or none (default: /run/swinetd/control as root, else $XDG_RUNTIME_DIR/swinetd/control).")
    var control: String?

    func validate() throws {
        guard grace >= 0, grace <= Run.maxGrace else {
            throw ValidationError("--grace must be a number of seconds from 0 to \(Int(Run.maxGrace)), not \(grace)")
        }
    }

    func serve() throws {
        var configPath = table.config
        var pidFile = self.pidFile
        var control = self.control
        var readyFD: Int32 = -1
        // An upgraded image is already the daemon (same pid, detached, its
        // start-up reported long ago): it only logs to syslog again.
        let upgraded = InheritedDescriptors.upgradeState != nil
        let daemon = self.daemon && !upgraded
        if daemon {
            // The daemon leaves the working directory: keep paths absolute so
            // that SIGHUP re-reads the same file.
            configPath = absolute(configPath)
            pidFile = pidFile.map(absolute)
            if control != "none" { control = control.map(absolute) }
            SelfExecutable.resolvedForDaemon(config: configPath, pidFile: pidFile, control: control == "none" ? nil : control)
            switch Daemon.detach() {
            case .exit(let status): throw ExitCode(status)
            case .daemon(let ready): readyFD = ready
            }
        }
        let log: Log
        if upgraded && self.daemon {
            log = Log(format: logFormat, sink: .syslog(path: syslogSocket))
        } else if daemon {
            log = Log(format: logFormat, sink: .descriptor(readyFD), prefix: .choose(for: readyFD, timestamps: logTimestamps))
        } else if StandardDescriptors.closedAtStart.contains(2) {
            // stderr was closed: the log would go nowhere, so it goes to syslog.
            log = Log(format: logFormat, sink: .syslog(path: syslogSocket))
            log.event(.notice, "swinetd", "log-to-syslog", ["reason": .string("stderr was closed at start")])
        } else {
            log = Log(format: logFormat, prefix: .choose(for: 2, timestamps: logTimestamps))
        }
        let supervisor: Supervisor
        do {
            let controlPath = control == "none" ? nil : (control.map(absolute) ?? ControlSocket.defaultPath())
            supervisor = try Supervisor(options: .init(configPath: configPath, grace: grace, pidFile: pidFile,
                                                       controlPath: controlPath, controlWanted: control != "none"), log: log)
        } catch {
            log.event(.error, "swinetd", "error", ["op": .string("setup"), "error": .string(error.text)])
            if upgraded { UpgradeFallback.reexecOld(reason: "the new image did not start: \(error.text)", log: log) }
            log.flush(waitingAtMost: 1000)
            throw ExitCode(1)
        }
        guard supervisor.start() else {
            log.flush(waitingAtMost: 1000)
            throw ExitCode(1)
        }
        if daemon {
            log.flush(waitingAtMost: 1000)
            log.sink = .syslog(path: syslogSocket)
            Daemon.ready(readyFD)
        }
        let status = supervisor.run()
        if status != 0 { throw ExitCode(status) }
    }

    private func absolute(_ path: String) -> String { PathName.absolute(path) ?? path }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the table: print every error (exit 1), or a summary of each service (exit 0).")

    @OptionGroup var table: ConfigOption

    @Flag(help: "Instead of the summary: per service, each isolation protection on or off and an exposure score from 0 (all on) to 10 (none).")
    var security = false

    @Argument(help: "With --security: only these services (default: all).")
    var services: [String] = []

    func run() throws {
        // Not the master: Ctrl-C and TERM end a check at once.
        MasterSignals.unblock()
        switch TableLoader().load(path: table.config) {
        case .failure(let errors):
            // Diagnostics on stderr, as compilers print them.
            for line in errors.lines {
                let bytes = Array((line + "\n").utf8)
                _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            }
            throw ExitCode(1)
        case .success(let t):
            // Not errors (the table is valid), but worth a look before serving it.
            for e in SocketFolders.exposed(in: t) {
                printError("\(table.config): warning: service '\(e.service)': the socket \(e.path) is in \(e.folder), and \(e.reason): "
                           + (e.refused ? "swinetd as root does not follow it: the service will not open this address"
                                        : "another user can take the path first (the service does not start) or swap its file"))
            }
            for b in ProxyProtocol.broadTrust(in: t) {
                printError("\(table.config): warning: service '\(b.service)': 'proxy_protocol.from' \(b.prefix) is wider than /8: every host in it may send a PROXY header naming any client")
            }
            if security {
                let unknown = services.filter { t[$0] == nil }
                if !unknown.isEmpty {
                    printError("\(table.config): no service \(unknown.map { "'\($0)'" }.joined(separator: ", ")) in the table")
                    throw ExitCode(1)
                }
                for s in t.services where services.isEmpty || services.contains(s.name) {
                    print(SecurityExposure(s, masterUID: 0).text(service: s.name), terminator: "")
                }
                return
            }
            guard services.isEmpty else {
                printError("service names are taken only with --security")
                throw ExitCode(64)
            }
            print(TableSummary.render(t, file: table.config), terminator: "")
        }
    }
}

func printError(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}
