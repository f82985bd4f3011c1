#if canImport(Glibc)
import Glibc
#endif

/// The control socket in the loop: who may talk to it, its conversations,
/// the `reload` requests waiting for their outcome, and a `stop` asked
/// for. Only its verbs change it; what a request means for the rest of the
/// master the loop carries out (the extension below).
final class ControlServer {
    /// A request line may be at most this long (a longer one is answered
    /// with an error and not acted on). A reply is bounded by the table:
    /// a service named many times is shown once.
    static let maxRequest = 64 * 1024
    static let timeout = 5 * Nanoseconds.perSecond
    /// How long a `reload` may wait for its outcome (the loader's own limit, and then some).
    static let reloadTimeout = TableLoadProcess.timeout + 30 * Nanoseconds.perSecond
    /// Clients served at once; more wait in the socket's queue, so that
    /// clients that connect and never send cannot use up descriptors.
    static let maxClients = 32

    /// The socket's place in the epoll set (out at `maxClients`).
    private(set) var watch: Watch
    let path: String
    let fd: Int32
    var token: EventToken { watch.token }
    let conversations: Conversations
    private let epoll: Epoll
    /// Each waits for the outcome of the load numbered `load` or later.
    private(set) var reloadWaiters: [(conversation: Conversations.Conversation, load: UInt64)] = []
    /// A `stop` came, and the grace it asked for (nil: swinetd's own).
    private(set) var stopRequested = false
    private(set) var stopGrace: Double?

    /// Not watched yet: `watchListener` puts it in the loop.
    init(path: String, fd: Int32, epoll: Epoll) {
        self.path = path
        self.fd = fd
        self.epoll = epoll
        watch = Watch(.next(.control, fd: fd))
        conversations = Conversations(kind: .controlClient, epoll: epoll, maxRequest: Self.maxRequest, timeout: Self.timeout) { input in
            input.firstIndex(of: 10)
        }
    }

    /// Watches the socket while fewer than `maxClients` are served.
    @discardableResult
    func watchListener() -> Result<Void, Errno> {
        watch.set(conversations.count < Self.maxClients, in: epoll)
    }

    /// What one round of accepting did.
    struct Accepted {
        /// Clients taken in.
        var added = 0
        /// The uid of each peer refused (-1: unknown).
        var refused: [Int] = []
    }

    /// New clients, up to `maxClients`: only root and swinetd's own user may ask.
    func acceptClients(now: UInt64) -> Accepted {
        var accepted = Accepted()
        defer { watchListener() }
        while conversations.count < Self.maxClients {
            var peer = sockaddr_storage()
            switch Socket.accept(fd, peer: &peer, nonBlocking: true) {
            case .empty, .failed: return accepted
            case .accepted(let client):
                let uid = ControlSocket.peerUID(client)
                guard let uid, uid == 0 || uid == geteuid() else {
                    accepted.refused.append(Int(uid.map { Int64($0) } ?? -1))
                    closeDescriptor(client)
                    continue
                }
                if conversations.add(client, now: now, peerUID: uid) != nil { accepted.added += 1 }
            }
        }
        return accepted
    }

    /// `conversation` waits for the outcome of the load numbered `load` or later.
    func addReloadWaiter(_ conversation: Conversations.Conversation, load: UInt64, now: UInt64) {
        conversation.awaitLaterReply(until: Nanoseconds.adding(now, Self.reloadTimeout))
        reloadWaiters.append((conversation, load))
    }

    /// Answers the `reload` requests that the loads up to `loadsBegun`
    /// cover (`all`: every one).
    func answerReloadWaiters(upTo loadsBegun: UInt64, all: Bool, exit: Int, output: String, now: UInt64) {
        let done = reloadWaiters.filter { all || $0.load <= loadsBegun }
        reloadWaiters.removeAll { all || $0.load <= loadsBegun }
        for w in done { conversations.reply(w.conversation, Self.reply(exit: exit, output: output), now: now) }
    }

    /// The `reload` requests still waiting whose clients are still there.
    var openReloadWaiters: [Conversations.Conversation] {
        reloadWaiters.map(\.conversation).filter { conversations.isOpen($0) }
    }

    /// Drops the clients that overstayed (and their waits).
    func sweep(now: UInt64) {
        conversations.sweep(now: now)
        reloadWaiters.removeAll { !conversations.isOpen($0.conversation) }
        watchListener()
    }

    func requestStop(grace: Double?) {
        if let grace { stopGrace = grace }
        stopRequested = true
    }

    /// Answers what still waits, drops every client, and closes the socket
    /// and removes its file.
    func close(now: UInt64) {
        answerReloadWaiters(upTo: 0, all: true, exit: 1, output: "swinetd is stopping; the reload was not done\n", now: now)
        conversations.closeAll()
        watch.set(false, in: epoll)
        UnixSocketFile.remove(socket: fd, path: path, owner: nil)
        closeDescriptor(fd)
    }

    /// The reply to a request: what the client prints and how it exits.
    static func reply(exit: Int, output: String, extra: [(String, JSON)] = []) -> [UInt8] {
        var bytes: [UInt8] = []
        JSON.object([("exit", .number(Double(exit))), ("output", .string(output))] + extra).write(to: &bytes)
        bytes.append(10)
        return bytes
    }
}

extension Supervisor {
    /// Opens the control socket, if there is to be one.
    func openControl(adopting adopted: Int32? = nil) -> Bool {
        if let adopted, let path = options.controlPath {
            // An upgrade: the very socket the replaced image listened on.
            let server = ControlServer(path: path, fd: adopted, epoll: epoll)
            guard case .success = server.watchListener() else { closeDescriptor(adopted); return false }
            control = server
            log.event(.notice, "swinetd", "control", ["socket": .string(path), "from": .string("upgrade")])
            return true
        }
        if let adopted { closeDescriptor(adopted) }
        guard let path = options.controlPath else {
            if options.controlWanted {
                log.event(.notice, "swinetd", "control", ["socket": .string("none"),
                                                 "reason": .string("not root and no XDG_RUNTIME_DIR; use --control PATH")])
            }
            return true
        }
        switch ControlSocket.listen(path) {
        case .success(let fd):
            let server = ControlServer(path: path, fd: fd, epoll: epoll)
            guard case .success = server.watchListener() else {
                UnixSocketFile.remove(socket: fd, path: path, owner: nil)
                closeDescriptor(fd)
                return false
            }
            control = server
            log.event(.notice, "swinetd", "control", ["socket": .string(path)])
            return true
        case .failure(let e):
            log.event(.error, "swinetd", "error", ["control": .string(path), "error": .string(e.description)])
            return false
        }
    }

    func closeControl() {
        control?.close(now: now)
        control = nil
    }

    /// New clients: only root and swinetd's own user may ask.
    func controlAcceptable() {
        guard let c = control else { return }
        let accepted = c.acceptClients(now: now)
        for uid in accepted.refused { log.event(.warning, "swinetd", "control-refused", ["uid": .int(uid)]) }
        if accepted.added > 0 { scheduleConversationSweep(of: c.conversations) }
    }

    func controlReady(_ token: EventToken, bits: UInt32) {
        defer { control?.watchListener() }
        guard let c = control else { return }
        let conversation: Conversations.Conversation, line: [UInt8]
        switch c.conversations.ready(token, bits: bits) {
        case .none: return
        case .tooLong(let tooLong):
            c.conversations.reply(tooLong, ControlServer.reply(exit: 2, output: "swinetd: request too long: at most \(ControlServer.maxRequest) bytes\n"), now: now)
            return
        case .request(let asked, let bytes):
            conversation = asked
            line = bytes
        }
        let reply: [UInt8]
        switch JSON.parse(line) {
        case .failure(let e):
            reply = ControlServer.reply(exit: 2, output: "swinetd: bad request at byte \(e.offset): \(e.message)\n")
        case .success(let request):
            guard let r = controlCommand(request, conversation) else { return }   // answered later
            reply = r
        }
        c.conversations.reply(conversation, reply, now: now)
    }

    /// The reply to one request, or nil when it comes later (`reload`).
    private func controlCommand(_ request: JSON, _ conversation: Conversations.Conversation) -> [UInt8]? {
        switch request["command"]?.string {
        case "status":
            // Each name once, in the order first asked: the reply is bounded
            // by the table, not by how often a request repeats a name.
            var seen = Set<String>()
            let names = (request["services"]?.array?.compactMap(\.string) ?? []).filter { seen.insert($0).inserted }
            let unknown = names.filter { services[$0] == nil }
            guard unknown.isEmpty else {
                return ControlServer.reply(exit: 1, output: "swinetd: no service named \(unknown.joined(separator: ", "))\n")
            }
            let report = statusReport(only: names, verbose: request["verbose"]?.bool ?? false)
            switch request["format"]?.string ?? "text" {
            case "json": return ControlServer.reply(exit: 0, output: report.json(verbose: request["verbose"]?.bool ?? false).text + "\n")
            case "prometheus": return ControlServer.reply(exit: 0, output: report.prometheus())
            default: return ControlServer.reply(exit: 0, output: report.text(verbose: request["verbose"]?.bool ?? false))
            }
        case "reload":
            guard stop == nil, let c = control else { return ControlServer.reply(exit: 1, output: "swinetd is stopping\n") }
            // The answer is the outcome of a load that reads the table after this request.
            c.addReloadWaiter(conversation, load: reload.loadsBegun + 1, now: now)
            requestReload()
            return nil
        case "upgrade":
            requestUpgrade(from: conversation)
            return nil
        case "stop":
            let grace = request["grace"]?.number
            if let grace, !(grace >= 0 && grace <= 86_400) {
                return ControlServer.reply(exit: 2, output: "swinetd: grace must be 0 to 86400 seconds\n")
            }
            control?.requestStop(grace: grace)
            return ControlServer.reply(exit: 0, output: "", extra: [("pid", .number(Double(getpid())))])
        default:
            return ControlServer.reply(exit: 2, output: "swinetd: unknown command; known are status, reload, upgrade and stop\n")
        }
    }

    /// Answers the `reload` requests that the load just ended covers.
    func answerReloadWaiters(exit: Int, output: String, all: Bool = false) {
        control?.answerReloadWaiters(upTo: reload.loadsBegun, all: all, exit: exit, output: output, now: now)
    }

    /// The clients of `c` get looked at in a second (unless a look is due already).
    func scheduleConversationSweep(of c: Conversations) {
        guard c.scheduleSweep() else { return }
        timers.add(.conversationSweep(c.kind), at: Nanoseconds.adding(now, Nanoseconds.perSecond))
    }

    /// Drops the control (`kind` controlClient) or metrics clients that
    /// overstayed; looks again in a second while any is left.
    func sweepConversations(_ kind: EventToken.Kind) {
        if kind == .controlClient, let c = control {
            c.sweep(now: now)
            if c.conversations.count > 0 { scheduleConversationSweep(of: c.conversations) }
        } else if kind == .metricsClient, let m = metrics {
            m.conversations.sweep(now: now)
            refreshMetricsListeners()
            if m.conversations.count > 0 { scheduleConversationSweep(of: m.conversations) }
        }
    }

    /// Everything `status` shows, as of now: each owner fills in its part.
    func statusReport(only names: [String], verbose: Bool) -> StatusReport {
        let handlers = verbose ? children.table.statusHandlers(now: now) : [:]
        let chosen = names.isEmpty ? services.keys.sorted() : names
        let list: [StatusReport.Service] = chosen.compactMap { name in
            guard let s = services[name] else { return nil }
            var row = s.status(paused: admission.pause(admissionView(s), total: slotsTaken, now: now)?.rawValue,
                               sockets: listeners.status(of: name), failed: unopened.failures(of: name), running: children.running(name), handlers: handlers[name] ?? [])
            if let a = admission[name], !a.penalties.isEmpty {
                row.penalisedCount = a.penalties.count(now: now)
                if verbose {
                    row.penalised = a.penalties.penalised(now: now, limit: StatusReport.penalisedListed).map { (s.config.admission.sourcePrefix.text($0.group), $0.left) }
                }
            }
            row.waitingHeaders = proxyHeaders.count(name)
            return row
        }
        return masterCounters.status(now: now, table: options.configPath, handlersTotal: children.total,
                                     maxChildren: admission.maxChildren, metricsRenders: metrics?.renders ?? 0, services: list)
    }
}
