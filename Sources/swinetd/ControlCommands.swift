import ArgumentParser
import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

// The commands that talk to a running swinetd over its control socket.

/// `-c/--control PATH` for the commands that talk to a running swinetd.
struct ControlOption: ParsableArguments {
    @Option(name: [.customShort("c"), .long], help: "The control socket (default: /run/swinetd/control as root, else $XDG_RUNTIME_DIR/swinetd/control).")
    var control: String?

    /// Sends `request`, prints what the reply says to print, and exits as it
    /// says when that is not 0 (2: no swinetd answers); returns the reply.
    @discardableResult
    func ask(_ request: JSON, timeout: Double, untilClosed: Bool = false) throws -> ControlClient.Reply {
        MasterSignals.unblock()
        guard let path = control ?? ControlSocket.defaultPath() else {
            printError("swinetd: no control socket: not root and no XDG_RUNTIME_DIR; use --control PATH")
            throw ExitCode(2)
        }
        switch ControlClient.send(request, to: path, timeout: timeout, untilClosed: untilClosed) {
        case .success(let reply):
            let out = Array(reply.output.utf8)
            _ = out.withUnsafeBytes { write(reply.exit == 0 ? 1 : 2, $0.baseAddress, $0.count) }
            if reply.exit != 0 { throw ExitCode(reply.exit) }
            return reply
        case .failure(let f):
            printError(f.description)
            throw ExitCode(2)
        }
    }
}


enum StatusFormat: String, ExpressibleByArgument {
    case text, json, prometheus
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the running swinetd is doing: each service's state, handlers, queue and counters.")

    @OptionGroup var connection: ControlOption

    @Argument(help: "Only these services.")
    var services: [String] = []

    @Flag(help: "The same as --format json.")
    var json = false

    @Option(help: "text, json or prometheus.")
    var format: StatusFormat = .text

    @Flag(name: .shortAndLong, help: "Also every running handler: pid, peer, age.")
    var verbose = false

    func run() throws {
        let chosen = json ? StatusFormat.json : format
        try connection.ask(.object([
            ("command", .string("status")), ("format", .string(chosen.rawValue)), ("verbose", .bool(verbose)),
            ("services", .array(services.map(JSON.string))),
        ]), timeout: 10)
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-read the table and wait for the outcome: exit 0 when applied, 1 with every diagnostic when not, 2 when no swinetd answers.")

    @OptionGroup var connection: ControlOption

    func run() throws {
        try connection.ask(.object([("command", .string("reload"))]), timeout: 150)
    }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop the running swinetd gracefully and wait until it has exited.")

    @OptionGroup var connection: ControlOption

    @Option(help: "Seconds handlers get between SIGTERM and SIGKILL (0 to 86400; default: the one swinetd was started with).")
    var grace: Double?

    func validate() throws {
        if let grace, !(grace >= 0 && grace <= Run.maxGrace) {
            throw ValidationError("--grace must be a number of seconds from 0 to \(Int(Run.maxGrace)), not \(grace)")
        }
    }

    func run() throws {
        var request: [(String, JSON)] = [("command", .string("stop"))]
        if let grace { request.append(("grace", .number(grace))) }
        // The master closes the socket as it exits: that close is the answer.
        let reply = try connection.ask(.object(request), timeout: (grace ?? Run.maxGrace) + 30, untilClosed: true)
        if let pid = reply.body["pid"]?.number.map({ pid_t($0) }) {
            // The socket closes just before the process ends: wait for that too.
            for _ in 0..<500 where kill(pid, 0) == 0 { usleep(10_000) }
        }
    }
}

struct Upgrade: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replace the running swinetd with the binary now on disk, keeping every socket and handler: exit 0 when applied, 1 with the reason when not (the running image serves on) or when an address did not open, 2 when no swinetd answers.")

    @OptionGroup var connection: ControlOption

    func run() throws {
        try connection.ask(.object([("command", .string("upgrade"))]), timeout: 60)
    }
}
