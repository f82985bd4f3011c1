#if canImport(Glibc)
import Glibc
#endif
import CSpawn

/// Wait services (`wait: true`, and every UDP service): when the socket is
/// readable the master starts one handler with the socket itself on 0 and 1
/// and stops watching it; the handler accepts (TCP) or reads datagrams
/// (UDP) on its own, and when it exits the master watches the socket again.
/// A handler that ends within a second and leaves its socket readable
/// would be started again at once, forever: the socket then backs off
/// (1 s, doubling to a minute) before it is watched again.
extension Supervisor {
    static let quickExit = Nanoseconds.perSecond

    func startWaitHandler(_ l: Listener) {
        guard let s = services[l.owner], l.waitHandler == nil else { return }
        if s.config.stderr == .log && output.spare == nil && !makeSparePipe(for: s.name) { return }
        // The handler reads the socket as programs expect, blocking; the
        // master only waits for readability on it meanwhile.
        if !l.blocking { listeners.setBlocking(l, true) }
        let plan = s.plan
        plan.slot(0).0[0] = 0
        plan.slot(1).0[0] = 0
        // No peer yet: the remote variables empty (UNIXREMOTEPID too).
        if l.address.family == .unix { plan.slot(2).0[0] = 0 }
        setLocalSlots(plan, l, socket: l.fd)
        let queueHead = l.address.transport == .udp ? DatagramQueue.headArrival(l.fd) : nil
        let result = launch(s, nil, socket: l.fd, peer: l.address.description, group: nil, waitAddress: l.address)
        guard result.pid > 0 else {
            log.event(.error, s.name, "error", ["address": .string(l.address.description), "op": .string(Self.stageName(result.stage)), "error": .string(result.error.text)])
            backOff(l, s)
            return
        }
        listeners.giveToWaitHandler(l, result.pid, queueHead: queueHead)
        refresh(s)
        if slotsTaken >= admission.maxChildren { refreshAll() }
    }

    /// Opens each deferred address whose old socket's last holder is gone,
    /// for the service that names it now (unless it is open already).
    func openDeferred() {
        for (address, owner) in listeners.takeReadyDeferredOpens() {
            guard stop == nil, listeners[address] == nil, let s = services[owner] else { continue }
            if openListener(address, for: s) { refresh(s) }
        }
    }

    /// The socket is the master's again: watched at once, or after a
    /// back-off if the handler left it unread.
    func waitHandlerEnded(_ pid: pid_t, _ child: Child, _ address: ListenAddress) {
        let l: Listener
        switch listeners.waitHandlerEnded(pid, at: address) {
        case .retiredSocketFreed:
            // The old socket is gone with its last holder: open the new one
            // now, or, while a reload steps through a plan made before, when
            // it is done (the plan may give the address to another service).
            if reload.job == nil { openDeferred() }
            return
        case .none:
            return
        case .returned(let returned):
            l = returned
        }
        guard let s = services[l.owner] else { return }
        var p = pollfd(fd: l.fd, events: Int16(POLLIN), revents: 0)
        var unread = poll(&p, 1, 0) == 1 && p.revents & Int16(POLLIN) != 0
        // A UDP handler that read its datagram and left, with the next one
        // already waiting, did its job: only the very datagram that was
        // first in line at its start (the same kernel arrival stamp, not
        // the same bytes: retransmits are alike) means it read nothing.
        // No stamp to compare counts as unread: a loop is worse than a wait.
        if unread && l.address.transport == .udp {
            let head = DatagramQueue.headArrival(l.fd)
            unread = head == nil || head == l.queueHead
        }
        if unread && Nanoseconds.since(now, child.started) < Self.quickExit {
            backOff(l, s)
        } else {
            listeners.endBackoff(l)
            refresh(s)
        }
    }

    private func backOff(_ l: Listener, _ s: ServiceState) {
        let (until, delay, isNews) = listeners.startBackoff(l, now: now)
        // One line per step: the same delay again (at the last step) is not news.
        if isNews {
            log.event(.warning, s.name, "backoff", ["address": .string(l.address.description), "delay": .seconds(delay),
                                          "reason": .string("the handler ended within 1 s and left its socket unread")])
        }
        timers.add(.backoffEnds(service: s.name), at: until)
        refresh(s)
    }
}
