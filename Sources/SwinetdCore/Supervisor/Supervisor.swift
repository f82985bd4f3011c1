#if canImport(Glibc)
import Glibc
#endif
import CSpawn

/// The master: one thread (and CSpawn's spawn watchdog), one event loop over the listening sockets, the
/// signalfd, the handlers' stderr pipes, the log's descriptor and the table
/// loader's pipe, each registered with an `EventToken`. This file holds
/// the components, the start (opening the table, taking inherited
/// sockets) and the loop: wait, dispatch by token to the component that
/// owns the event, timers, signals. Accepting, reloading, admission,
/// listeners, children, handler output, stopping and upgrading each have a
/// file of their own.
public final class Supervisor {
    public struct Options {
        public var configPath: String
        /// Seconds handlers get between SIGTERM and SIGKILL when swinetd stops.
        public var grace: Double = 10
        public var pidFile: String?
        /// The control socket (nil: none).
        public var controlPath: String?
        /// Whether a control socket was wanted (not `--control none`), so
        /// that having none is worth a log line.
        public var controlWanted: Bool

        public init(configPath: String, grace: Double = 10, pidFile: String? = nil,
                    controlPath: String? = nil, controlWanted: Bool = false) {
            self.configPath = configPath
            self.grace = grace
            self.pidFile = pidFile
            self.controlPath = controlPath
            self.controlWanted = controlWanted
        }
    }

    let options: Options
    let log: Log
    let epoll: Epoll
    private let signals: SignalFD
    private let signalsToken: EventToken
    /// The spawn shim's /dev/null, for `stderr: null`.
    let devNull: Int32
    /// The soft RLIMIT_NOFILE handlers get (swinetd's own, before it raised
    /// it; see DescriptorLimit), kept across an upgrade.
    var handlerNofile: UInt64?
    let output: HandlerOutput

    var services: [String: ServiceState] = [:]
    let listeners: Listeners
    let unopened = UnopenedAddresses()
    let children = Children()
    /// Connections from load balancers whose PROXY header is on its way.
    let proxyHeaders: PendingHeaders
    var control: ControlServer?
    var metrics: MetricsServer?
    var masterCounters = MasterCounters(startedAt: StatusReport.now(), startedMonotonic: monotonicNanoseconds())
    let admission = AdmissionControl()
    var timers = Timers()
    var stop: StopSequence?
    let reload = Reload()
    private var pidFile: PidFile?
    var pidFileDescriptor: Int32? { pidFile?.fd }
    /// sd_notify's receiver, when systemd (or a test) set NOTIFY_SOCKET.
    let serviceManager = ServiceManager.fromEnvironment()
    /// Sockets handed over by systemd or by the image this one replaced.
    var inherited = InheritedSockets(activated: InheritedDescriptors.activated)
    var upgrade = UpgradeProgress()
    private var ignoredSignals: Set<Int32> = []
    private var logToken: EventToken?
    var peer = sockaddr_storage()
    var local = sockaddr_storage()
    /// Where a refused connection's first bytes are read to, and dropped.
    var drain: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    /// The clock, read once per round of the loop (after epoll_wait): what
    /// the handlers of one round do is stamped with it.
    var now: UInt64 = monotonicNanoseconds()

    public init(options: Options, log: Log) throws(Errno) {
        self.options = options
        self.log = log
        MasterSignals.block()
        try SpawnPlan.reserveSlots()
        epoll = try Epoll()
        signals = try SignalFD()
        signalsToken = .next(.signals, fd: signals.fd)
        devNull = cspawn_null_fd()
        output = HandlerOutput(epoll: epoll)
        listeners = Listeners(epoll: epoll)
        proxyHeaders = PendingHeaders(epoll: epoll)
        if case .failure(let e) = epoll.add(signalsToken) { throw e }
    }

    // MARK: Start-up

    /// Locks the pid file, loads the table and opens every listener. On any
    /// problem it logs one line per problem, undoes what it did, and
    /// returns false.
    public func start() -> Bool {
        let replaced = takeUpgradeState()
        // Raised once, before anything is spawned; after an upgrade the
        // replaced image had raised the limit this one found, and handlers
        // keep the one swinetd was first started with.
        handlerNofile = DescriptorLimit.raise(keepingForHandlers: replaced?.handlerNofile)
        if let path = options.pidFile, let fd = replaced?.pidFile {
            pidFile = PidFile.adopt(path: path, fd: fd)
        } else if let path = options.pidFile {
            switch PidFile.lock(path) {
            case .success(let p): pidFile = p
            case .failure(let f):
                log.event(.error, "swinetd", "error", ["pid-file": .string(path), "error": .string(f.message)])
                return notStarted(1, "pid file \(path): \(f.message)")
            }
        }
        guard openControl(adopting: replaced?.control?.fd) else { return notStarted(1, "the control socket did not open") }
        switch TableLoadProcess.load(path: options.configPath) {
        case .success(let stream):
            // The same job as a reload's, run to its end: nothing is served yet.
            reload.beginJob(stream, purpose: .start)
            while reload.job != nil { stepReloadJob(budget: .max) }
        case .failure(let errors):
            for line in errors.lines { log.event(.error, "swinetd", "error", ["diagnostic": .string(line)]) }
            return notStarted(errors.count, errors.lines.first ?? "the table did not load")
        }
        // An address that does not open (taken by another program, a file
        // another user planted at a socket path) costs its service that
        // address, as at a reload, never the rest of the table; but when
        // not one address opened, nothing can serve: that is no start.
        if reload.startOutcome.failed > 0 && listeners.count == 0 {
            return notStarted(reload.startOutcome.failed, "not one address of the table opened")
        }
        // The spare pipe exists from the start, so the master's descriptor
        // count is the same idle as after load.
        if services.values.contains(where: { $0.config.stderr == .log }) && !makeSparePipe(for: "swinetd") { return notStarted(1, "no spare pipe") }
        if let p = pidFile, case .failure(let f) = p.record(getpid()) {
            log.event(.error, "swinetd", "error", ["pid-file": .string(p.path), "error": .string(f.message)])
            return notStarted(1, "pid file \(p.path): \(f.message)")
        }
        closeUnclaimedInheritedSockets()
        var started: [(key: String, value: LogValue)] = [
            ("pid", .int(Int(getpid()))), ("services", .int(services.count)), ("listeners", .int(listeners.count)),
        ]
        if reload.startOutcome.failed > 0 { started.append(("failed", .int(reload.startOutcome.failed))) }
        log.event(reload.startOutcome.failed > 0 ? .warning : .notice, "swinetd", "started", fields: started)
        if let replaced { adopt(replaced) }
        InheritedDescriptors.upgradeDone()
        serviceManager?.ready(status: (replaced.map { "upgrade applied version=\($0.version)->\(SwinetdVersion.current); " } ?? "")
                              + "serving \(services.count) services on \(listeners.count) sockets")
        return true
    }

    /// What systemd (or the replaced image) handed over and no address of
    /// the table took: closed, each with a line that says what it was.
    private func closeUnclaimedInheritedSockets() {
        for s in inherited.takeAll() {
            log.event(.warning, "swinetd", "inherited-closed", [
                "fd": .int(Int(s.fd)), "address": .string(s.address?.description ?? "unknown"), "from": .string(s.origin),
            ])
            closeDescriptor(s.fd)
        }
    }

    private func notStarted(_ errors: Int, _ why: String) -> Bool {
        // The new image of an upgrade: the old one comes back, with every
        // socket as it left them (so nothing here is closed before).
        if InheritedDescriptors.handedState != nil {
            UpgradeFallback.reexecOld(reason: "the new image did not start: " + why, log: log)
        }
        for s in inherited.takeAll() { closeDescriptor(s.fd) }
        closeAllListeners()
        closeControl()
        closeMetrics()
        log.event(.error, "swinetd", "not-started", ["errors": .int(errors)])
        pidFile?.remove()
        pidFile = nil
        return false
    }

    // MARK: The event loop

    /// Serves until SIGTERM, SIGINT or SIGQUIT, then stops the handlers;
    /// returns the exit status.
    public func run() -> Int32 {
        while !stepStop() {
            // A reload job in progress: look at events without waiting, then take its next step.
            let timeout = reload.job != nil ? 0
                : timers.next.map { Nanoseconds.timeoutMilliseconds(until: $0, now: monotonicNanoseconds()) } ?? -1
            let n = epoll.wait(timeoutMilliseconds: timeout)
            now = monotonicNanoseconds()
            for i in 0..<n {
                guard let token = epoll.token(i) else { continue }
                dispatch(token, bits: epoll.bits(i))
            }
            if control?.stopRequested == true && stop == nil { beginStop(reason: "control") }
            fireTimers()
            if reload.job != nil { stepReloadJob() }
            if upgrade.pending { beginUpgradeWhenIdle() }
            watchLog()
        }
        output.closeAll(now: monotonicNanoseconds(), log: log)
        closeMetrics()
        closeControl()
        pidFile?.remove()
        log.event(.notice, "swinetd", "stopped", [:])
        log.flush(waitingAtMost: 1000)
        return 0
    }

    private func dispatch(_ token: EventToken, bits: UInt32) {
        switch token.kind {
        case .signals:
            handleSignals()
        case .listener:
            // nil: a stale event, for a listener closed earlier in this batch.
            if let l = listeners[token] {
                if services[l.owner]?.config.wait == true { startWaitHandler(l) } else { acceptReady(l) }
            }
        case .output:
            if case .paused(let until) = output.readable(token, now: now, log: log) {
                timers.add(.outputResumes(token), at: until)
            }
        case .log:
            watchLog()
        case .loader:
            loaderReadable(token)
        case .control:
            controlAcceptable()
        case .controlClient:
            controlReady(token, bits: bits)
        case .metrics:
            metricsAcceptable(token)
        case .metricsClient:
            metricsReady(token, bits: bits)
        case .proxyHeader:
            proxyHeaderReadable(token, bits: bits)
        }
    }

    /// Watches the log's descriptor for writable while lines wait in its
    /// queue, and flushes it when it is.
    private func watchLog() {
        if logToken != nil { log.flush() }
        let fd = log.sink.descriptorToWatch
        if let token = logToken, token.fd != fd {
            epoll.remove(token.fd)
            logToken = nil
        }
        if let fd, logToken == nil {
            let token = EventToken.next(.log, fd: fd)
            // A regular file (EPERM) never makes a writer wait.
            if case .success = epoll.add(token, events: Epoll.writable) { logToken = token }
        }
    }

    // MARK: Signals

    private func handleSignals() {
        var reload = false
        signals.drain { s in
            switch s {
            case SIGHUP: reload = true
            case SIGTERM, SIGINT, SIGQUIT: beginStop(reason: MasterSignals.name(s))
            case SIGCHLD: break
            case SIGUSR1: logStatus()
            case SIGUSR2: requestUpgrade(from: nil)
            default:
                if ignoredSignals.insert(s).inserted {
                    log.event(.notice, "swinetd", "signal-ignored", ["signal": .string(MasterSignals.name(s))])
                }
            }
        }
        // Reap on every wakeup of the signalfd: SIGCHLDs merge, and waitpid
        // until none is left is what guarantees no zombie.
        reapChildren()
        if reload { requestReload() }
    }
}
