import ArgumentParser
import SwinetdCore

/// What a running master runs of a new binary before an upgrade execs it
/// (see UpgradePreflight): `upgrade-preflight -- <the master's arguments>`.
struct UpgradePreflightCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: UpgradePreflight.command,
        abstract: "Check that this binary can take over a running swinetd (what an upgrade runs first).",
        shouldDisplay: false)

    @Argument(parsing: .captureForPassthrough, help: "The running master's arguments.")
    var serving: [String] = []

    func run() throws {
        MasterSignals.unblock()
        var args = serving
        if args.first == "--" { args.removeFirst() }
        if args.first == "run" { args.removeFirst() }
        // The master's command line must mean the same to this binary.
        let options = try ServeOptions.parse(args)
        let status = UpgradePreflight.run(configPath: options.table.config)
        if status != 0 { throw ExitCode(status) }
    }
}
