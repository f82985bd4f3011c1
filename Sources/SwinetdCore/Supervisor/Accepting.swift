#if canImport(Glibc)
import Glibc
#endif
import CLinux
import CSpawn

/// Accepting and handing connections to handlers: the hot path.
extension Supervisor {
    /// How long accepting pauses after EMFILE, ENFILE, ENOBUFS or ENOMEM.
    static let resourcePause: UInt64 = 100 * Nanoseconds.perMillisecond
    /// Most connections accepted from one listener per wakeup, for fairness.
    static let acceptBatch = 16

    func acceptReady(_ l: Listener) {
        guard let s = services[l.owner], let a = admission[l.owner] else {
            // Its service was removed and a reload job closes it soon.
            listeners.unwatch(l)
            return
        }
        let needsPipe = s.config.stderr == .log
        if l.blocking { listeners.setBlocking(l, false) }
        var budget = Self.acceptBatch
        // The watch is admission's answer: a spawn that reaches a limit unwatches.
        while budget > 0 && l.watch.isOn {
            budget -= 1
            // The stderr pipe comes before the accept: when descriptors run
            // out, the connection is better left in the kernel's queue than
            // accepted without one.
            if needsPipe && output.spare == nil && !makeSparePipe(for: s.name) { return }
            if !a.hasRateToken(now: now) {
                pauseForRate(s, a)
                return
            }
            switch Socket.accept(l.fd, peer: &peer) {
            case .empty:
                if a.rateEpisodeEnds() { log.event(.notice, s.name, "resumed", ["reason": .string(PauseReason.rate.rawValue)]) }
                return
            case .failed(let e):
                acceptFailed(e, l)
                return
            case .accepted(let fd):
                admission.acceptWorked()
                a.spendRateToken(now: now)
                admitAccepted(s, a, Connection(fd: fd, peer: peer, listener: l))
            }
        }
    }

    /// Makes HandlerOutput's spare `stderr: log` pipe; when descriptors
    /// (or memory) ran out, accepting pauses and false is returned.
    func makeSparePipe(for service: String) -> Bool {
        guard let (op, e) = output.makeSpare() else { return true }
        pauseForResources(service, op: op, e)
        return false
    }

    private func acceptFailed(_ e: Errno, _ l: Listener) {
        switch e {
        case .tooManyOpenFiles, .tooManyOpenFilesInSystem, .noBufferSpace, .noMemory:
            pauseForResources(l.owner, op: "accept", e)
        default:
            log.event(.error, l.owner, "error", ["op": .string("accept"), "address": .string(l.address.description), "error": .string(e.text)])
        }
    }

    /// Stops accepting everywhere for a moment, so a lack of descriptors or
    /// memory neither spins the loop nor kills the master; logs once per episode.
    func pauseForResources(_ service: String, op: String, _ e: Errno) {
        let until = Nanoseconds.adding(now, Self.resourcePause)
        if admission.pauseForResources(until: until) {
            log.event(.error, service, "error", ["op": .string(op), "error": .string(e.text), "pause": .seconds(Self.resourcePause)])
        }
        timers.add(.resourcePauseEnds, at: until)
        refreshAll()
    }

    /// Starts `s`'s handler for `conn`. A failure that passes (EAGAIN: the
    /// handler's user is at its process limit; ENOMEM) holds the connection
    /// instead of dropping it; any other failure is logged and the
    /// connection closed (the client sees EOF).
    func spawn(_ s: ServiceState, _ a: ServiceAdmission, _ conn: Connection) {
        var c = conn
        let plan = s.plan
        let peerText: String
        var via: String?
        if c.listener.address.family == .unix {
            peerText = unixPeer(c.fd, c.listener, plan)
        } else {
            let (remoteIP, capacity) = plan.slot(0)
            let remotePort = Socket.format(&c.peer, into: remoteIP, capacity: capacity)
            plan.setPort(1, remotePort)
            if var destination = c.proxy?.destination {
                // As the client addressed them: the balancer's front.
                let (localIP, localCapacity) = plan.slot(2)
                plan.setPort(3, Socket.format(&destination, into: localIP, capacity: localCapacity))
            } else {
                setLocalSlots(plan, c.listener, socket: c.fd)
            }
            peerText = ListenAddress.endpointText(String(cString: remoteIP), remotePort, ipv6: c.peer.ss_family == sa_family_t(AF_INET6))
            if plan.variesByConnection { via = setConnectionEnvironment(plan, &c) }
        }

        let result = launch(s, a, socket: c.fd, peer: peerText, via: via, group: c.group, waitAddress: nil, discard: c.headerLength)
        guard result.pid > 0 else {
            // No child at all (clone, or preparing the slots, failed): the
            // spare pipe stays for the next try.
            if result.error == .resourceTemporarilyUnavailable || result.error == .noMemory {
                hold(s, a, c, result.error)
            } else {
                s.countRefused("spawn")
                var fields: [(key: String, value: LogValue)] = [("peer", .string(peerText)), ("reason", .string("spawn")),
                                                                ("step", .string(Self.stageName(result.stage)))]
                if let what = s.plan.viewFailure { fields.append(("what", .string(what))) }
                fields.append(("error", .string(result.error.text)))
                log.event(.info, s.name, "refused", fields: fields)
                closeDescriptor(c.fd)
            }
            return
        }
        // Over RLIMIT_NPROC after setuid, execve says EAGAIN: a limit, not
        // a broken handler. Keep the connection for a later try.
        if !result.execed && result.error == .resourceTemporarilyUnavailable {
            // What that child dropped of the PROXY header is gone: the next
            // try drops only the rest, never the client's bytes.
            c.headerLength -= min(result.discarded, c.headerLength)
            hold(s, a, c, result.error)
            return
        }
        // A handler that runs keeps the master's copy of its connection (see
        // Leftovers.swift); one whose exec failed has already exited.
        if !result.execed { closeDescriptor(c.fd) }
        refreshIfFull(s, a)
    }

    /// What became of one spawn.
    struct Launch {
        var pid: pid_t
        var execed: Bool
        var stage: Int32
        var error: Errno
        /// Bytes of a PROXY header the child dropped.
        var discarded: Int = 0
    }

    /// Starts `s`'s handler on `socket` (a connection, or a wait service's
    /// socket) with the stderr its table says, and records the child: the
    /// child table, its client group, its timeout, its stderr pipe, the
    /// counters, and the `accepted` (or, for a wait service, `started`)
    /// and `exec-failed` lines. Its slots are filled by the caller. The one
    /// spawn path of both kinds of service. Without `waitAddress`, `socket`
    /// is a connection, which the child entry keeps (see Leftovers); `a`,
    /// the service's admission state, counts its client group.
    func launch(_ s: ServiceState, _ a: ServiceAdmission?, socket: Int32, peer: String, via: String? = nil, group: PeerAddress?,
                waitAddress: ListenAddress?, discard: Int = 0) -> Launch {
        let pipe = s.config.stderr == .log ? output.spare : nil
        let stderrFD: Int32
        switch s.config.stderr {
        case .socket: stderrFD = socket
        case .null: stderrFD = devNull
        case .log: stderrFD = pipe!.write   // every caller brings one
        }
        let result = s.plan.spawn(connection: socket, stderr: stderrFD, discard: discard)
        let e = Errno(rawValue: result.error)
        guard result.pid > 0 else { return Launch(pid: -1, execed: false, stage: result.stage, error: e) }
        let execed = result.stage == Int32(CSPAWN_OK.rawValue)
        let deadline = execed ? s.config.handlerLimits.timeout.map { Nanoseconds.adding(now, Nanoseconds.from(seconds: $0)) } : nil
        var child = Child(service: s.name, peer: peer, started: now, counted: execed,
                          group: execed ? group : nil, deadline: deadline)
        child.waitAddress = waitAddress
        if execed && waitAddress == nil { child.connection = socket }
        addChild(result.pid, child)
        if execed, let group { a?.sourceStarted(group) }
        if pipe != nil { output.spareTaken(service: s.name, pid: result.pid, now: now) }
        if waitAddress == nil {
            var fields: [(key: String, value: LogValue)] = [("pid", .int(Int(result.pid))), ("peer", .string(peer))]
            if let via { fields.append(("via", .string(via))) }
            log.event(.info, s.name, "accepted", fields: fields)
        } else {
            log.event(.info, s.name, "started", ["pid": .int(Int(result.pid)), "address": .string(peer)])
        }
        // Every connection given a child counts as accepted, as its log line
        // says; one whose exec failed is counted besides as exec-failed.
        s.countAccepted(execFailed: !execed)
        if !execed {
            log.event(.warning, s.name, "exec-failed", [
                "pid": .int(Int(result.pid)), "path": .string(s.config.exec),
                "step": .string(Self.stageName(result.stage)), "error": .string(e.text),
            ])
        }
        return Launch(pid: result.pid, execed: execed, stage: result.stage, error: e, discarded: Int(result.discarded))
    }

    /// The environment `c` picks: its client's `env_by_source` rule, and
    /// the PROXY variables of its header. Returns the balancer as the log's
    /// `via=` writes it (formatted once, for both).
    private func setConnectionEnvironment(_ plan: SpawnPlan, _ c: inout Connection) -> String? {
        let rule = plan.sourceRules.isEmpty ? nil : PeerAddress(&c.peer).flatMap { plan.sourceRules.rule(for: $0) }
        guard var balancer = c.proxy?.balancer else {
            plan.setEnvironment(rule: rule, proxy: nil, balancerIP: nil, balancerPort: 0)
            return nil
        }
        var text: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        return withUnsafeMutableBytes(of: &text) { raw in
            let p = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
            let port = Socket.format(&balancer, into: p, capacity: raw.count)
            plan.setEnvironment(rule: rule, proxy: c.proxy, balancerIP: p, balancerPort: port)
            return ListenAddress.endpointText(String(cString: p), port, ipv6: balancer.ss_family == sa_family_t(AF_INET6))
        }
    }

    /// A UNIX socket's peer, from SO_PEERCRED, into the handler's
    /// UNIXREMOTEEUID, UNIXREMOTEEGID, UNIXREMOTEPID and UNIXLOCALPATH; and as text for the log.
    private func unixPeer(_ fd: Int32, _ l: Listener, _ plan: SpawnPlan) -> String {
        var uid: UInt32 = 0, gid: UInt32 = 0, pid: Int32 = 0
        let known = clinux_peer_cred(fd, &uid, &gid, &pid) == 0
        if known {
            plan.setNumber(0, uid)
            plan.setNumber(1, gid)
            plan.setNumber(2, UInt32(bitPattern: pid))
        } else {
            for i in 0..<3 { plan.slot(i).0[0] = 0 }
        }
        setLocalSlots(plan, l, socket: fd)
        return known ? "uid=\(uid) gid=\(gid) pid=\(pid)" : "unknown"
    }

    /// The handler's local variables, in the plan's slots 2 and 3: for an
    /// IP socket TCPLOCALIP (the listener's fixed address, else
    /// getsockname of `socket`) and TCPLOCALPORT; for a UNIX socket
    /// UNIXLOCALPATH. The one place both kinds of service fill them.
    func setLocalSlots(_ plan: SpawnPlan, _ l: Listener, socket: Int32) {
        if l.address.family == .unix {
            _ = l.copyLocalText(to: plan.slot(3).0)
            return
        }
        let (localIP, localCapacity) = plan.slot(2)
        if l.copyLocalText(to: localIP) {
            // fixed: no getsockname
        } else if Socket.localName(socket, into: &local) {
            _ = Socket.format(&local, into: localIP, capacity: localCapacity)
        } else {
            localIP[0] = 0   // never the previous connection's address
        }
        plan.setPort(3, l.address.port)
    }

    static func stageName(_ stage: Int32) -> String {
        switch UInt32(stage) {
        case CSPAWN_STAGE_SETSID.rawValue: return "setsid"
        case CSPAWN_STAGE_SETGROUPS.rawValue: return "setgroups"
        case CSPAWN_STAGE_SETGID.rawValue: return "setgid"
        case CSPAWN_STAGE_SETUID.rawValue: return "setuid"
        case CSPAWN_STAGE_CHDIR.rawValue: return "chdir"
        case CSPAWN_STAGE_CLOSE_RANGE.rawValue: return "close_range"
        case CSPAWN_STAGE_DUP2.rawValue: return "dup2"
        case CSPAWN_STAGE_EXECVE.rawValue: return "execve"
        case CSPAWN_STAGE_SLOTS.rawValue: return "dup3"
        case CSPAWN_STAGE_STACK.rawValue: return "mmap"
        case CSPAWN_STAGE_RLIMIT.rawValue: return "prlimit"
        case CSPAWN_STAGE_NICE.rawValue: return "setpriority"
        case CSPAWN_STAGE_NO_NEW_PRIVS.rawValue: return "no_new_privileges"
        case CSPAWN_STAGE_CAPABILITIES.rawValue: return "capabilities"
        case CSPAWN_STAGE_PRIVATE_NETWORK.rawValue: return "private_network"
        case CSPAWN_STAGE_SECCOMP.rawValue: return "seccomp"
        case CSPAWN_STAGE_MOUNT.rawValue: return "mount"
        case CSPAWN_STAGE_PRIVATE_TMP.rawValue: return "private_tmp"
        case CSPAWN_STAGE_ROOT_DIRECTORY.rawValue: return "root_directory"
        case CSPAWN_STAGE_STALLED.rawValue: return "stalled"
        case CSPAWN_STAGE_PROXY_HEADER.rawValue: return "proxy_header"
        default: return "clone"
        }
    }
}
