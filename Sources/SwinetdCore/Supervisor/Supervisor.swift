#if canImport(Glibc)
import Glibc
#endif
import CLinux
import CSpawn

/// The master: one thread, one event loop over the listening sockets, the
/// signalfd and the handlers' stderr pipes. It owns the live table, the
/// listeners and the child table, and decides when a service accepts.
///
/// Limits work by not watching: a service at `max_connections` (or all of
/// them at `max_children`) has its listeners taken out of epoll, so new
/// connections wait in the kernel's listen queue (UNP ch. 30) and are accepted
/// as soon as a handler exits. Nothing is accepted only to be dropped.
public final class Supervisor {
    public struct Options {
        public var configPath: String
        /// Seconds handlers get between SIGTERM and SIGKILL when swinetd stops.
        public var grace: Double = 10
        public var pidFile: String?

        public init(configPath: String, grace: Double = 10, pidFile: String? = nil) {
            self.configPath = configPath
            self.grace = grace
            self.pidFile = pidFile
        }
    }

    /// How long accepting pauses after EMFILE, ENFILE, ENOBUFS or ENOMEM.
    static let resourcePause: UInt64 = 100_000_000
    /// Most connections accepted from one listener per wakeup, for fairness.
    static let acceptBatch = 16

    let options: Options
    let log: Log
    private let epoll: Epoll
    private let signals: SignalFD
    /// The spawn shim's /dev/null, for `stderr: null`.
    private let devNull: Int32
    private let output = HandlerOutput()

    private var services: [String: ServiceState] = [:]
    private var listeners: [ListenAddress: Listener] = [:]
    private var listenerByFD: [Int32: Listener] = [:]
    private var children: [pid_t: Child] = [:]
    private var maxChildren = Defaults.maxChildren

    private var pausedUntil: UInt64?
    private var resourceTroubleLogged = false
    private var stopDeadline: UInt64?
    private var peer = sockaddr_storage()
    private var local = sockaddr_storage()

    public init(options: Options, log: Log) throws(Errno) {
        self.options = options
        self.log = log
        MasterSignals.block()
        try SpawnPlan.reserveSlots()
        epoll = try Epoll()
        signals = try SignalFD()
        devNull = cspawn_null_fd()
        epoll.add(signals.fd)
    }

    deinit {
        closeDescriptor(signals.fd)
    }

    // MARK: Start-up

    /// Loads the table and opens every listener. On any problem it logs one
    /// line per problem, closes what it opened, and returns false.
    public func start() -> Bool {
        let table: ServiceTable
        switch TableLoader(checkPrivileges: true).load(path: options.configPath) {
        case .success(let t): table = t
        case .failure(let errors):
            for d in errors.diagnostics { log.raw(d.description) }
            return false
        }
        let outcome = apply(table)
        if outcome.failed > 0 {
            closeAllListeners()
            log.event("swinetd", "not-started", ["errors": .int(outcome.failed)])
            return false
        }
        // The spare pipe exists from the start, so the master's descriptor
        // count is the same idle as after load.
        if table.services.contains(where: { $0.stderr == .log }) && !makeSparePipe(for: "swinetd") {
            closeAllListeners()
            return false
        }
        if let path = options.pidFile, !writePidFile(path) {
            closeAllListeners()
            return false
        }
        log.event("swinetd", "started", [
            "pid": .int(Int(getpid())), "services": .int(services.count), "listeners": .int(listeners.count),
        ])
        return true
    }

    private func writePidFile(_ path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            log.event("swinetd", "error", ["pid-file": .string(path), "error": .string(Errno.current.text)])
            return false
        }
        let text = Array("\(getpid())\n".utf8)
        _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        closeDescriptor(fd)
        return true
    }

    // MARK: The event loop

    /// Serves until SIGTERM or SIGINT, then stops the handlers; returns the exit status.
    public func run() -> Int32 {
        while true {
            if let deadline = stopDeadline {
                if children.isEmpty { break }
                if monotonicNanoseconds() >= deadline {
                    killRemaining()
                    break
                }
            }
            if let until = pausedUntil, monotonicNanoseconds() >= until {
                pausedUntil = nil
                refreshAll()
            }
            let n = epoll.wait(timeoutMilliseconds: timeout())
            for i in 0..<n {
                let fd = epoll.ready(i)
                if fd == signals.fd {
                    handleSignals()
                } else if let listener = listenerByFD[fd] {
                    acceptReady(listener)
                } else if output.contains(fd) {
                    // At EOF the pipe is closed, which also takes it out of epoll.
                    _ = output.readable(fd, log: log)
                }
            }
        }
        drainOutput()
        if let path = options.pidFile { unlink(path) }
        log.event("swinetd", "stopped", [:])
        return 0
    }

    private func timeout() -> Int32 {
        let deadline = [pausedUntil, stopDeadline].compactMap { $0 }.min()
        guard let deadline else { return -1 }
        let now = monotonicNanoseconds()
        if deadline <= now { return 0 }
        return Int32(min((deadline - now + 999_999) / 1_000_000, 60_000))
    }

    private func handleSignals() {
        var reload = false
        signals.drain { s in
            switch s {
            case SIGHUP: reload = true
            case SIGTERM, SIGINT: beginStop(s)
            default: break
            }
        }
        // Reap on every wakeup of the signalfd: SIGCHLDs merge, and waitpid
        // until none is left is what guarantees no zombie.
        reapChildren()
        if reload {
            if stopDeadline == nil {
                self.reload()
            } else {
                log.event("reload", "ignored", ["reason": .string("stopping")])
            }
        }
    }

    // MARK: Admission

    private func accepting(_ s: ServiceState) -> Bool {
        stopDeadline == nil && pausedUntil == nil && !s.retired
            && s.running < s.config.maxConnections && children.count < maxChildren
    }

    /// Watches a service's listeners exactly when it may accept.
    private func refresh(_ s: ServiceState) {
        let want = accepting(s)
        for l in s.listeners where l.watched != want {
            if want { epoll.add(l.fd) } else { epoll.remove(l.fd) }
            l.watched = want
        }
    }

    private func refreshAll() {
        for s in services.values { refresh(s) }
    }

    // MARK: Accepting and spawning

    private func acceptReady(_ l: Listener) {
        let s = l.service
        let needsPipe = s.config.stderr == .log
        var budget = Self.acceptBatch
        while budget > 0 && accepting(s) {
            budget -= 1
            // The stderr pipe comes before the accept: when descriptors run
            // out, the connection is better left in the kernel's queue than
            // accepted without one.
            if needsPipe && sparePipe == nil && !makeSparePipe(for: s.name) { return }
            switch Socket.accept(l.fd, peer: &peer) {
            case .empty:
                return
            case .failed(let e):
                acceptFailed(e, l)
                return
            case .accepted(let fd):
                resourceTroubleLogged = false
                let stderrPipe = needsPipe ? sparePipe : nil
                if needsPipe { sparePipe = nil }
                spawn(s, l, fd, stderrPipe)
            }
        }
    }

    /// A `stderr: log` pipe made ahead of the accept that needs it and kept
    /// when the accept finds the queue empty, so no wakeup makes a pipe in vain.
    private var sparePipe: (read: Int32, write: Int32)?

    private func makeSparePipe(for service: String) -> Bool {
        var ends: [Int32] = [-1, -1]
        guard clinux_pipe2(&ends, O_CLOEXEC) == 0 else {
            pauseForResources(service, op: "pipe", Errno.current)
            return false
        }
        sparePipe = (ends[0], ends[1])
        return true
    }

    private func acceptFailed(_ e: Errno, _ l: Listener) {
        switch e {
        case .tooManyOpenFiles, .tooManyOpenFilesInSystem, .noBufferSpace, .noMemory:
            pauseForResources(l.service.name, op: "accept", e)
        default:
            log.event(l.service.name, "error", ["op": .string("accept"), "address": .string(l.address.description), "error": .string(e.text)])
        }
    }

    /// Stops accepting everywhere for a moment, so a lack of descriptors or
    /// memory neither spins the loop nor kills the master; logs once per episode.
    private func pauseForResources(_ service: String, op: String, _ e: Errno) {
        if !resourceTroubleLogged {
            log.event(service, "error", ["op": .string(op), "error": .string(e.text), "pause": .seconds(Self.resourcePause)])
            resourceTroubleLogged = true
        }
        pausedUntil = monotonicNanoseconds() + Self.resourcePause
        refreshAll()
    }

    private func spawn(_ s: ServiceState, _ l: Listener, _ conn: Int32, _ stderrPipe: (read: Int32, write: Int32)?) {
        let plan = s.plan
        let (remoteIP, capacity) = plan.slot(0)
        let remotePort = Socket.format(&peer, into: remoteIP, capacity: capacity)
        plan.setPort(1, remotePort)
        let (localIP, localCapacity) = plan.slot(2)
        if let fixed = l.fixedLocalIP {
            fixed.withUnsafeBufferPointer { localIP.update(from: $0.baseAddress!, count: $0.count) }
        } else if Socket.localName(conn, into: &local) {
            _ = Socket.format(&local, into: localIP, capacity: localCapacity)
        }
        plan.setPort(3, l.address.port)
        let peerText = peer.ss_family == sa_family_t(AF_INET6)
            ? "[\(String(cString: remoteIP))]:\(remotePort)" : "\(String(cString: remoteIP)):\(remotePort)"

        let stderrFD: Int32
        switch s.config.stderr {
        case .socket: stderrFD = conn
        case .null: stderrFD = devNull
        case .log: stderrFD = stderrPipe!.write   // acceptReady always brings one
        }
        let pipeRead = stderrPipe?.read ?? -1

        let result = plan.spawn(connection: conn, stderr: stderrFD)
        closeDescriptor(conn)
        if pipeRead >= 0 { closeDescriptor(stderrFD) }

        guard result.pid > 0 else {
            if pipeRead >= 0 { closeDescriptor(pipeRead) }
            let e = Errno(rawValue: result.error)
            log.event(s.name, "refused", ["peer": .string(peerText), "reason": .string("spawn"), "error": .string(e.text)])
            if e == .resourceTemporarilyUnavailable || e == .noMemory {
                pauseForResources(s.name, op: "spawn", e)
            }
            return
        }
        children[result.pid] = Child(service: s, peer: peerText, started: monotonicNanoseconds())
        s.running += 1
        if pipeRead >= 0 {
            // Left blocking: epoll is level-triggered and each wakeup reads once.
            output.add(pipeRead, service: s.name, pid: result.pid)
            epoll.add(pipeRead)
        }
        log.event(s.name, "accepted", ["pid": .int(Int(result.pid)), "peer": .string(peerText)])
        if result.stage != Int32(CSPAWN_OK.rawValue) {
            log.event(s.name, "exec-failed", [
                "pid": .int(Int(result.pid)), "path": .string(s.config.exec),
                "step": .string(Self.stageName(result.stage)), "error": .string(Errno(rawValue: result.error).text),
            ])
        }
        if children.count >= maxChildren {
            refreshAll()
        } else if s.running >= s.config.maxConnections {
            refresh(s)
        }
    }

    static func stageName(_ stage: Int32) -> String {
        switch UInt32(stage) {
        case CSPAWN_STAGE_SETSID.rawValue: return "setsid"
        case CSPAWN_STAGE_SETGROUPS.rawValue: return "setgroups"
        case CSPAWN_STAGE_SETGID.rawValue: return "setgid"
        case CSPAWN_STAGE_SETUID.rawValue: return "setuid"
        case CSPAWN_STAGE_CHDIR.rawValue: return "chdir"
        case CSPAWN_STAGE_DUP2.rawValue: return "dup2"
        case CSPAWN_STAGE_EXECVE.rawValue: return "execve"
        default: return "clone"
        }
    }

    // MARK: Reaping

    /// waitpid until none is left: SIGCHLDs merge, so one signal may stand
    /// for hundreds of exits.
    private func reapChildren() {
        var status: Int32 = 0
        var freedGlobal = false
        while true {
            let pid = waitpid(-1, &status, WNOHANG)
            if pid < 0 && errno == EINTR { continue }
            if pid <= 0 { break }
            guard let child = children.removeValue(forKey: pid) else { continue }
            if children.count == maxChildren - 1 { freedGlobal = true }
            let s = child.service
            s.running -= 1
            logExit(pid, child, status)
            if !freedGlobal { refresh(s) }
        }
        if freedGlobal { refreshAll() }
    }

    private func logExit(_ pid: pid_t, _ child: Child, _ status: Int32) {
        let duration = LogValue.seconds(monotonicNanoseconds() - child.started)
        let signal = status & 0x7f
        if signal == 0 {
            log.event(child.service.name, "exited", [
                "pid": .int(Int(pid)), "peer": .string(child.peer), "status": .int(Int((status >> 8) & 0xff)), "duration": duration,
            ])
        } else {
            log.event(child.service.name, "exited", [
                "pid": .int(Int(pid)), "peer": .string(child.peer), "signal": .string(MasterSignals.name(signal)), "duration": duration,
            ])
        }
    }

    // MARK: Stopping

    private func beginStop(_ signal: Int32) {
        guard stopDeadline == nil else { return }
        log.event("swinetd", "stopping", [
            "signal": .string(MasterSignals.name(signal)), "handlers": .int(children.count),
            "grace": .seconds(UInt64(options.grace * 1e9)),
        ])
        closeAllListeners()
        for pid in children.keys { signalHandler(pid, SIGTERM) }
        stopDeadline = monotonicNanoseconds() + UInt64(max(options.grace, 0) * 1e9)
    }

    /// Handlers lead their own session (setsid), so the signal goes to the
    /// whole process group: what a handler started goes with it.
    private func signalHandler(_ pid: pid_t, _ signal: Int32) {
        if kill(-pid, signal) != 0 { kill(pid, signal) }
    }

    private func killRemaining() {
        for pid in children.keys { signalHandler(pid, SIGKILL) }
        var status: Int32 = 0
        for (pid, child) in children {
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            logExit(pid, child, status)
        }
        children.removeAll()
    }

    private func drainOutput() {
        for fd in output.descriptors {
            // Read what is there; a pipe still held open by a handler's own
            // children is not waited for.
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            while poll(&p, 1, 0) > 0 && output.readable(fd, log: log) {}
        }
    }

    // MARK: The table, applied (start-up and reload)

    struct Outcome {
        var added = 0, removed = 0, changed = 0, unchanged = 0, failed = 0
    }

    /// Moves to `table` by mark and sweep (OpenBSD inetd's config()): services
    /// are matched by name, listeners by address; a shared address keeps its
    /// very socket; removed addresses close before added ones open.
    func apply(_ table: ServiceTable) -> Outcome {
        var outcome = Outcome()
        var next: [String: ServiceState] = [:]
        for config in table.services {
            if let old = services[config.name] {
                if old.config != config {
                    old.config = config
                    old.plan = SpawnPlan(config)
                    outcome.changed += 1
                } else {
                    outcome.unchanged += 1
                }
                next[config.name] = old
            } else {
                next[config.name] = ServiceState(config)
                outcome.added += 1
            }
        }
        for (name, old) in services where next[name] == nil {
            old.retired = true
            outcome.removed += 1
        }

        var wanted: [ListenAddress: ServiceState] = [:]
        for config in table.services where config.enabled {
            for a in config.addresses { wanted[a] = next[config.name] }
        }
        for (address, l) in listeners {
            if let s = wanted[address] {
                l.service = s
                if l.backlog != s.config.backlog {
                    Socket.setBacklog(l.fd, s.config.backlog)
                    l.backlog = s.config.backlog
                }
            } else {
                close(l)
            }
        }
        for config in table.services where config.enabled {
            let s = next[config.name]!
            for a in config.addresses where listeners[a] == nil {
                switch Socket.listen(a, backlog: config.backlog) {
                case .success(let fd):
                    let l = Listener(address: a, fd: fd, backlog: config.backlog, service: s)
                    listeners[a] = l
                    listenerByFD[fd] = l
                    log.event(s.name, "listening", ["address": .string(a.description)])
                case .failure(let e) where e.errno == .addressFamilyNotSupported && a.family == .ipv6:
                    // A host without IPv6: the IPv4 half of `PORT` or `localhost:PORT` still serves.
                    log.event(s.name, "skipped", ["address": .string(a.description), "error": .string(e.errno.text)])
                case .failure(let e):
                    log.event(s.name, "error", ["address": .string(a.description), "op": .string(e.step), "error": .string(e.errno.text)])
                    outcome.failed += 1
                }
            }
        }
        for s in next.values { s.listeners.removeAll(keepingCapacity: true) }
        for l in listeners.values { l.service.listeners.append(l) }
        services = next
        maxChildren = table.maxChildren
        refreshAll()
        return outcome
    }

    private func closeAllListeners() {
        for l in Array(listeners.values) { close(l) }
    }

    private func close(_ l: Listener) {
        if l.watched { epoll.remove(l.fd) }
        l.watched = false
        closeDescriptor(l.fd)
        listeners[l.address] = nil
        listenerByFD[l.fd] = nil
        l.service.listeners.removeAll { $0 === l }
        log.event(l.service.name, "closed", ["address": .string(l.address.description)])
    }

    /// SIGHUP: re-read the file it was started with; a table with any error
    /// changes nothing.
    private func reload() {
        let started = monotonicNanoseconds()
        switch TableLoader(checkPrivileges: true).load(path: options.configPath) {
        case .failure(let errors):
            for d in errors.diagnostics { log.event("reload", "error", ["diagnostic": .string(d.description)]) }
            log.event("reload", "rejected", ["errors": .int(errors.diagnostics.count)])
        case .success(let table):
            let o = apply(table)
            log.event("reload", "applied", [
                "added": .int(o.added), "removed": .int(o.removed), "changed": .int(o.changed),
                "unchanged": .int(o.unchanged), "failed": .int(o.failed),
                "duration": .milliseconds(monotonicNanoseconds() - started),
            ])
        }
    }
}
