import ArgumentParser
import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

@main
enum Main {
    static func main() {
        // Before anything else: a HUP, CHLD, TERM or INT that arrives early
        // waits for the event loop instead of killing the master.
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

    @OptionGroup var table: ConfigOption

    @Option(help: "Seconds handlers get between SIGTERM and SIGKILL when swinetd stops.")
    var grace: Double = 10

    @Option(help: "Log lines as text or json.")
    var logFormat: Log.Format = .text

    @Option(help: "Write the master's pid to this file (removed on exit).")
    var pidFile: String?

    @Flag(help: "Detach and log to syslog; returns once the daemon listens.")
    var daemon = false

    func validate() throws {
        guard grace >= 0, grace.isFinite else { throw ValidationError("--grace must be a number of seconds, 0 or more") }
    }

    func run() throws {
        var configPath = table.config
        var pidFile = self.pidFile
        let log = Log(format: logFormat)
        var readyFD: Int32 = -1
        if daemon {
            // The daemon leaves the working directory: keep paths absolute so
            // that SIGHUP re-reads the same file.
            configPath = absolute(configPath)
            pidFile = pidFile.map(absolute)
            readyFD = Daemon.detach()
            log.sink = .descriptor(readyFD)
        }
        let supervisor: Supervisor
        do {
            supervisor = try Supervisor(options: .init(configPath: configPath, grace: grace, pidFile: pidFile), log: log)
        } catch {
            log.event("swinetd", "error", ["op": .string("setup"), "error": .string(error.text)])
            throw ExitCode(1)
        }
        guard supervisor.start() else { throw ExitCode(1) }
        if daemon {
            openlog("swinetd", LOG_PID, LOG_DAEMON)
            log.sink = .syslog
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
        switch TableLoader().load(path: table.config) {
        case .failure(let errors):
            let log = Log()
            for d in errors.diagnostics { log.raw(d.description) }
            throw ExitCode(1)
        case .success(let t):
            print(TableSummary.render(t, file: table.config), terminator: "")
        }
    }
}
