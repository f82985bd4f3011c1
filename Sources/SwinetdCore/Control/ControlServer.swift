#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// The control socket in the loop: who may talk to it, its conversations,
/// and the `reload` requests waiting for their outcome.
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

    /// Whether the loop watches the socket (it does not at `maxClients`).
    var watched = true
    let path: String
    let fd: Int32
    let token: EventToken
    let conversations: Conversations
    /// Each waits for the outcome of the load numbered `load` or later.
    var reloadWaiters: [(conversation: Conversations.Conversation, load: UInt64)] = []

    init(path: String, fd: Int32, epoll: Epoll) {
        self.path = path
        self.fd = fd
        token = .next(.control, fd: fd)
        conversations = Conversations(kind: .controlClient, epoll: epoll, maxRequest: Self.maxRequest, timeout: Self.timeout) { input in
            input.firstIndex(of: 10)
        }
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
            guard case .success = epoll.add(server.token) else { closeDescriptor(adopted); return false }
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
            guard case .success = epoll.add(server.token) else {
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
        guard let c = control else { return }
        for w in c.reloadWaiters {
            c.conversations.reply(w.conversation, ControlServer.reply(exit: 1, output: "swinetd is stopping; the reload was not done\n"), now: now)
        }
        c.reloadWaiters = []
        c.conversations.closeAll()
        if c.watched { epoll.remove(c.fd) }
        UnixSocketFile.remove(socket: c.fd, path: c.path, owner: nil)
        closeDescriptor(c.fd)
        control = nil
    }

    /// New clients: only root and swinetd's own user may ask.
    func controlAcceptable() {
        guard let c = control else { return }
        defer { refreshControlListener() }
        while c.conversations.count < ControlServer.maxClients {
            var peer = sockaddr_storage()
            switch Socket.accept(c.fd, peer: &peer, nonBlocking: true) {
            case .empty, .failed: return
            case .accepted(let fd):
                let uid = ControlSocket.peerUID(fd)
                guard let uid, uid == 0 || uid == geteuid() else {
                    log.event(.warning, "swinetd", "control-refused", ["uid": .int(Int(uid.map { Int64($0) } ?? -1))])
                    closeDescriptor(fd)
                    continue
                }
                c.conversations.add(fd, now: now)?.peerUID = uid
                scheduleConversationSweep()
            }
        }
    }

    /// Watches the control socket while fewer than `maxClients` are served.
    func refreshControlListener() {
        guard let c = control else { return }
        let want = c.conversations.count < ControlServer.maxClients
        guard want != c.watched else { return }
        if want {
            guard case .success = epoll.add(c.token) else { return }
        } else {
            epoll.remove(c.fd)
        }
        c.watched = want
    }

    func controlReady(_ token: EventToken, bits: UInt32) {
        defer { refreshControlListener() }
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
            conversation.waiting = true
            conversation.deadline = Nanoseconds.adding(now, ControlServer.reloadTimeout)
            c.reloadWaiters.append((conversation, reload.loadsBegun + 1))
            requestReload()
            return nil
        case "upgrade":
            requestUpgrade(from: conversation)
            return nil
        case "stop":
            if let grace = request["grace"]?.number {
                guard grace >= 0, grace <= 86_400 else { return ControlServer.reply(exit: 2, output: "swinetd: grace must be 0 to 86400 seconds\n") }
                stopGrace = grace
            }
            stopRequested = true
            return ControlServer.reply(exit: 0, output: "", extra: [("pid", .number(Double(getpid())))])
        default:
            return ControlServer.reply(exit: 2, output: "swinetd: unknown command; known are status, reload, upgrade and stop\n")
        }
    }

    /// Answers the `reload` requests that the load just ended covers.
    func answerReloadWaiters(exit: Int, output: String, all: Bool = false) {
        guard let c = control else { return }
        let done = c.reloadWaiters.filter { all || $0.load <= reload.loadsBegun }
        c.reloadWaiters.removeAll { all || $0.load <= reload.loadsBegun }
        for w in done { c.conversations.reply(w.conversation, ControlServer.reply(exit: exit, output: output), now: now) }
    }

    func scheduleConversationSweep() {
        guard !conversationSweepScheduled else { return }
        conversationSweepScheduled = true
        timers.add(.conversationSweep, at: Nanoseconds.adding(now, Nanoseconds.perSecond))
    }

    /// Drops the control and metrics clients that overstayed.
    func sweepConversations() {
        conversationSweepScheduled = false
        if let c = control {
            c.conversations.sweep(now: now)
            c.reloadWaiters.removeAll { c.conversations.open[$0.conversation.fd] !== $0.conversation }
            refreshControlListener()
        }
        if let m = metrics {
            m.conversations.sweep(now: now)
            refreshMetricsListeners()
        }
        if (control?.conversations.count ?? 0) + (metrics?.conversations.count ?? 0) > 0 { scheduleConversationSweep() }
    }

    /// Everything `status` shows, as of now.
    func statusReport(only names: [String], verbose: Bool) -> StatusReport {
        var handlers: [String: [StatusReport.Handler]] = [:]
        if verbose {
            for (pid, child) in children.byPID where child.counted {
                handlers[child.service, default: []].append(.init(pid: pid, peer: child.peer, age: Nanoseconds.since(now, child.started)))
            }
        }
        let chosen = names.isEmpty ? services.keys.sorted() : names
        let list: [StatusReport.Service] = chosen.compactMap { name in
            guard let s = services[name] else { return nil }
            let owned = listeners.owned(by: name)
            return StatusReport.Service(
                name: name, enabled: s.config.enabled, paused: admission.pause(admissionView(s), total: children.total, now: now)?.rawValue,
                addresses: owned.map(\.address.description),
                failed: s.unopened.sorted { $0.key.description < $1.key.description }.map { ($0.key.description, $0.value) },
                running: children.running(name), maxConnections: s.config.maxConnections,
                queued: owned.reduce(0) { $0 + max(0, Int(clinux_listen_queue($1.fd))) },
                counters: s.counters, handlers: handlers[name] ?? [])
        }
        return StatusReport(
            pid: getpid(), uptime: Nanoseconds.since(now, masterCounters.startedMonotonic), table: options.configPath,
            startedAt: masterCounters.startedAt, lastReload: masterCounters.lastReload,
            reloadsApplied: masterCounters.reloadsApplied, reloadsRejected: masterCounters.reloadsRejected,
            handlersTotal: children.total, maxChildren: admission.maxChildren, metricsRenders: metrics?.renders ?? 0, services: list)
    }
}
