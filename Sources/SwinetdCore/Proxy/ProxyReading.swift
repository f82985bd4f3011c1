#if canImport(Glibc)
import Glibc
#endif

/// The loop's side of `proxy_protocol`: a connection from a trusted
/// balancer is peeked at (never read past its header, never waited on)
/// until its header is whole; the handler's process then discards exactly
/// the header before execve, so the handler reads the client's stream from
/// its first byte, and every rule applies to the client the header names. A peer outside `from` is
/// refused at once (or, with `direct: allow`, served as itself).
extension Supervisor {
    /// What a look at a connection's first bytes gave: the parser's
    /// outcome, or what the socket said (closed, an error).
    enum HeaderRead {
        case complete(ProxyHeader)
        case incomplete
        case failed(String)
    }

    /// A connection just accepted: screened and given a handler, after
    /// its PROXY header when its service takes one.
    func admitAccepted(_ s: ServiceState, _ a: ServiceAdmission, _ c: Connection) {
        var c = c
        guard let rules = s.config.admission.proxy, let address = PeerAddress(&c.peer) else {
            return screenAndSpawn(s, a, c)
        }
        guard rules.from.contains(address) else {
            if rules.allowsDirect { return screenAndSpawn(s, a, c) }
            return refuse(s, a, &c, .proxyUntrusted)
        }
        switch peekHeader(c.fd, rules.version, hungUp: false) {
        case .complete(let h): headerRead(s, a, c, h)
        case .failed(let why): refuse(s, a, &c, .proxyHeader, detail: why)
        case .incomplete: park(s, a, c, rules, deadline: Nanoseconds.adding(now, Nanoseconds.from(seconds: rules.timeout)))
        }
    }

    /// Watches `c` until its header is whole or `deadline` passes. It holds
    /// a slot of the service's max_connections meanwhile.
    private func park(_ s: ServiceState, _ a: ServiceAdmission, _ c: Connection, _ rules: ProxyProtocol, deadline: UInt64) {
        switch proxyHeaders.park(c, service: s.name, rules: rules, deadline: deadline) {
        case .success(let sweepAt):
            if let sweepAt { timers.add(.proxyDeadlines(at: sweepAt), at: sweepAt) }
            refreshIfFull(s, a)
        case .failure(let e):
            var c = c
            refuse(s, a, &c, .proxyHeader, detail: "epoll_ctl: \(e.text)")
        }
    }

    /// More of a waiting header arrived (or the balancer hung up).
    func proxyHeaderReadable(_ token: EventToken, bits: UInt32) {
        guard let p = proxyHeaders[token] else { return }
        let read = peekHeader(p.connection.fd, p.rules.version, hungUp: bits & Epoll.hangUp != 0)
        if case .incomplete = read { return }
        _ = proxyHeaders.take(token)
        guard let s = services[p.service], let a = admission[p.service] else {
            // Not reached: a removed service's are refused when it goes.
            return refuseUnserved(p.service, fd: p.connection.fd, peer: p.connection.peer, reason: "removed")
        }
        var c = p.connection
        switch read {
        case .complete(let h):
            // A reload may have stopped trusting this balancer meanwhile.
            if let address = PeerAddress(&c.peer), s.config.admission.proxy?.from.contains(address) == true {
                headerRead(s, a, c, h)
            } else {
                refuse(s, a, &c, .proxyUntrusted)
            }
        case .failed(let why): refuse(s, a, &c, .proxyHeader, detail: why)
        case .incomplete: break
        }
        refresh(s, a)
    }

    /// The waiting headers whose time is up are refused; the next sweep is
    /// timed for the earliest deadline left (one timer, however many wait).
    func proxyDeadlinesPassed(_ at: UInt64) {
        // A sweep timed earlier than one that replaced it: nothing to do.
        guard proxyHeaders.isSweepDue(at) else { return }
        let (expired, next) = proxyHeaders.takeExpired(now: now)
        for p in expired {
            guard let s = services[p.service], let a = admission[p.service] else {
                refuseUnserved(p.service, fd: p.connection.fd, peer: p.connection.peer, reason: "removed")
                continue
            }
            var c = p.connection
            refuse(s, a, &c, .proxyHeader, detail: "no whole PROXY header within \(TimeSpan.text(seconds: p.rules.timeout))")
            refresh(s, a)
        }
        if let next { timers.add(.proxyDeadlines(at: next), at: next) }
    }

    /// The connections of `s` still waiting for their header, refused
    /// with `reason` (their service left the table, or swinetd stops).
    func dropPendingHeaders(_ s: ServiceState, reason: String) {
        for p in proxyHeaders.takeAll(s.name) {
            refuseUnserved(s.name, fd: p.connection.fd, peer: p.connection.peer, reason: reason)
        }
    }

    /// The header is whole: the connection is the client's it names, or,
    /// for LOCAL (a health check), the balancer's own.
    private func headerRead(_ s: ServiceState, _ a: ServiceAdmission, _ c: Connection, _ h: ProxyHeader) {
        var c = c
        c.headerLength = h.length
        if h.isLocal {
            c.isBalancer = true
        } else {
            c.proxy = ProxyFacts(balancer: c.peer, header: h)
            c.peer = h.source
        }
        screenAndSpawn(s, a, c)
    }

    /// Peeks at the first bytes of `fd`: a whole header, how long it is,
    /// or why it is not one. `hungUp`: the balancer closed its side, so an
    /// incomplete header never completes.
    private func peekHeader(_ fd: Int32, _ version: ProxyProtocol.Version, hungUp: Bool) -> HeaderRead {
        let buffer = proxyHeaders.buffer
        let n = recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_PEEK | MSG_DONTWAIT))
        if n == 0 { return .failed("the connection closed before its PROXY header") }
        if n < 0 {
            let e = Errno.current
            if e == .resourceTemporarilyUnavailable || e == .interrupted { return hungUp ? .failed("the connection closed before its PROXY header") : .incomplete }
            return .failed("recv: \(e.text)")
        }
        switch ProxyHeader.parse(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), version: version) {
        case .incomplete:
            return hungUp ? .failed("the connection closed in its PROXY header") : .incomplete
        case .invalid(let why):
            return .failed(why)
        case .complete(let h):
            // Left in the socket: the handler's process discards it before
            // execve (Connection.headerLength), which spares the master a
            // syscall and a copy per connection.
            return .complete(h)
        }
    }

    /// The replaced image's connections still waiting for their header:
    /// watched again, with the deadline they had, under this table's
    /// `proxy_protocol`. One whose service or address is gone, that no
    /// longer takes a header, or whose balancer this table no longer
    /// trusts, is refused.
    func adoptPendingHeaders(_ snapshot: PendingHeaders.Snapshot?) {
        for item in snapshot?.items ?? [] {
            var peer = sockaddr_storage(bytes: item.peer)
            guard let s = services[item.service], let a = admission[item.service], let l = listeners[item.listener],
                  let rules = s.config.admission.proxy else {
                refuseUnserved(item.service, fd: item.fd, peer: peer, reason: "removed")
                continue
            }
            var c = Connection(fd: item.fd, peer: peer, listener: l)
            guard let address = PeerAddress(&peer), rules.from.contains(address) else {
                refuse(s, a, &c, .proxyUntrusted)
                continue
            }
            park(s, a, c, rules, deadline: item.deadline)
        }
    }
}
