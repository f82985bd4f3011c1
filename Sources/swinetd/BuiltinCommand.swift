import ArgumentParser
import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

/// What a `builtin:` service's handler runs: swinetd's own binary again.
struct BuiltinCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "builtin",
        abstract: "Serve one internal service on descriptors 0 and 1 (what a builtin: service's handler runs).",
        shouldDisplay: false)

    @Argument(help: "echo, discard, daytime, time, chargen or auth.")
    var name: String

    @Flag(help: "Descriptor 0 is a UDP socket: answer datagrams until a second passes without one.")
    var udp = false

    func run() throws {
        let status = Self.serve(name, udp: udp)
        if status != 0 { throw ExitCode(status) }
    }

    /// Serves builtin `name`; returns the exit status (64: no such builtin).
    static func serve(_ name: String, udp: Bool) -> Int32 {
        // A handler, not the master: TERM and the timeout's signals end it.
        MasterSignals.unblock()
        guard let b = Builtin(rawValue: name) else {
            printError("swinetd builtin: unknown service '\(name)'")
            return 64
        }
        return BuiltinServices.serve(b, udp: udp)
    }
}
