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
        // Then descriptors 3 and 4, before anything else opens one.
        do { try SpawnPlan.reserveSlots() } catch { fatalError("cannot reserve descriptors 3 and 4: \(error)") }
        Swinetd.main()
    }
}

struct Swinetd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swinetd",
        abstract: "An inetd-style super-server: one handler process per TCP connection.",
        subcommands: [Run.self, Check.self],
        defaultSubcommand: Run.self
    )
}

struct ConfigOption: ParsableArguments {
    @Option(name: [.customShort("f"), .long], help: "The service table.")
    var config: String = Defaults.configPath
}

extension Log.Format: ExpressibleByArgument {}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Listen on every address of the table and serve (the default command).")

    /// The longest `--grace`: a day.
    static let maxGrace = 86_400.0

    @OptionGroup var table: ConfigOption

    @Option(help: "Seconds handlers get between SIGTERM and SIGKILL when swinetd stops (0 to 86400).")
    var grace: Double = 10

    @Option(help: "Log lines as text or json.")
    var logFormat: Log.Format = .text

    @Option(help: "Write the master's pid to this file and hold a lock on it (removed on exit).")
    var pidFile: String?

    @Flag(help: "Detach and log to syslog; returns once the daemon listens.")
    var daemon = false

    @Option(help: "The syslog socket, for --daemon or a closed stderr.")
    var syslogSocket: String = SyslogClient.defaultPath

    func validate() throws {
        guard grace >= 0, grace <= Self.maxGrace else {
            throw ValidationError("--grace must be a number of seconds from 0 to \(Int(Self.maxGrace)), not \(grace)")
        }
    }

    func run() throws {
        var configPath = table.config
        var pidFile = self.pidFile
        var readyFD: Int32 = -1
        if daemon {
            // The daemon leaves the working directory: keep paths absolute so
            // that SIGHUP re-reads the same file.
            configPath = absolute(configPath)
            pidFile = pidFile.map(absolute)
            switch Daemon.detach() {
            case .exit(let status): throw ExitCode(status)
            case .daemon(let ready): readyFD = ready
            }
        }
        let log: Log
        if daemon {
            log = Log(format: logFormat, sink: .descriptor(readyFD))
        } else if StandardDescriptors.closedAtStart.contains(2) {
            // stderr was closed: the log would go nowhere, so it goes to syslog.
            log = Log(format: logFormat, sink: .syslog(path: syslogSocket))
            log.event("swinetd", "log-to-syslog", ["reason": .string("stderr was closed at start")])
        } else {
            log = Log(format: logFormat)
        }
        let supervisor: Supervisor
        do {
            supervisor = try Supervisor(options: .init(configPath: configPath, grace: grace, pidFile: pidFile), log: log)
        } catch {
            log.event("swinetd", "error", ["op": .string("setup"), "error": .string(error.text)])
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

    private func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        guard let cwd = getcwd(nil, 0) else { return path }
        defer { free(cwd) }
        return String(cString: cwd) + "/" + path
    }
}

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Validate the table: print every error (exit 1), or a summary of each service (exit 0).")

    @OptionGroup var table: ConfigOption

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
            print(TableSummary.render(t, file: table.config), terminator: "")
        }
    }
}
