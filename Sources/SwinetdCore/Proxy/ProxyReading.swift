#if canImport(Glibc)
import Glibc
#endif

/// The loop's side of `proxy_protocol`: a connection from a trusted
/// balancer is peeked at (never read past its header, never waited on)
/// until its header is whole; then it is consumed to its exact length, so
/// the handler reads the client's stream from its first byte, and every
/// rule applies to the client the header names. A peer outside `from` is
/// refused at once (or, with `direct: allow`, served as itself).
extension Supervisor {
    /// What became of a look at a connection's first bytes.
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
        if rules.from.contains(address) {
            switch peekHeader(c.fd, rules.version, hungUp: false) {
            case .complete(let h): headerRead(s, a, c, h)
            case .failed(let why): refuse(s, a, &c, .proxyHeader, detail: why)
            case .incomplete:
                switch proxyHeaders.park(c, service: s.name, rules: rules, deadline: Nanoseconds.adding(now, Nanoseconds.from(seconds: rules.timeout))) {
                case .success(let token):
                    timers.add(.proxyDeadline(token), at: Nanoseconds.adding(now, Nanoseconds.from(seconds: rules.timeout)))
                    if children.running(s.name) + proxyHeaders.count(s.name) >= s.config.maxConnections { refresh(s, a) }
                case .failure(let e):
                    refuse(s, a, &c, .proxyHeader, detail: "epoll_ctl: \(e.text)")
                }
            }
        } else if rules.allowsDirect {
            screenAndSpawn(s, a, c)
        } else {
            refuse(s, a, &c, .proxyUntrusted)
        }
    }

    /// Screens `c` by its (real) client, then starts its handler.
    func screenAndSpawn(_ s: ServiceState, _ a: ServiceAdmission, _ c: Connection) {
        var c = c
        if let address = PeerAddress(&c.peer) {
            let group = s.config.admission.sourcePrefix.group(address)
            c.group = group
            if a.screens, let reason = a.screen(address, group: group, s.config.admission, now: now) {
                refuse(s, a, &c, reason)
                return
            }
        }
        spawn(s, a, c)
    }

    /// More of a waiting header arrived (or the balancer hung up).
    func proxyHeaderReadable(_ token: EventToken, bits: UInt32) {
        guard let p = proxyHeaders[token] else { return }
        let hungUp = bits & Epoll.hangUp != 0
        let read = peekHeader(p.connection.fd, p.rules.version, hungUp: hungUp)
        if case .incomplete = read { return }
        _ = proxyHeaders.take(token)
        guard let s = services[p.service], let a = admission[p.service] else {
            closeDescriptor(p.connection.fd)   // not reached: a removed service's are refused at once
            return
        }
        var c = p.connection
        switch read {
        case .complete(let h): headerRead(s, a, c, h)
        case .failed(let why): refuse(s, a, &c, .proxyHeader, detail: why)
        case .incomplete: break
        }
        refresh(s, a)
    }

    /// A header's time is up.
    func proxyDeadlinePassed(_ token: EventToken) {
        guard let p = proxyHeaders[token], now >= p.deadline else { return }
        _ = proxyHeaders.take(token)
        guard let s = services[p.service], let a = admission[p.service] else {
            closeDescriptor(p.connection.fd)
            return
        }
        var c = p.connection
        refuse(s, a, &c, .proxyHeader, detail: "no whole PROXY header within \(TimeSpan.text(seconds: p.rules.timeout))")
        refresh(s, a)
    }

    /// The connections of `s` still waiting for their header, refused
    /// with `reason` (their service left the table, or swinetd stops).
    func dropPendingHeaders(_ s: ServiceState, reason: String) {
        for p in proxyHeaders.takeAll(s.name) {
            var c = p.connection
            s.countRefused(reason)
            log.event(.info, s.name, "refused", ["peer": .string(peerText(&c.peer)), "reason": .string(reason)])
            closeDescriptor(c.fd)
        }
    }

    private func headerRead(_ s: ServiceState, _ a: ServiceAdmission, _ c: Connection, _ h: ProxyHeader) {
        var c = c
        if !h.isLocal {
            c.proxy = ProxyFacts(balancer: c.peer, header: h)
            c.peer = h.source
        }
        screenAndSpawn(s, a, c)
    }

    /// Peeks at the first bytes of `fd`; a whole header is then consumed,
    /// exactly. `hungUp`: the balancer closed its side, so an incomplete
    /// header never completes.
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
            let consumed = recv(fd, buffer.baseAddress, h.length, Int32(MSG_DONTWAIT))
            guard consumed == h.length else { return .failed("recv: the header's \(h.length) bytes could not be consumed") }
            return .complete(h)
        }
    }

    /// The replaced image's connections still waiting for their header:
    /// watched again, with the deadline they had. One whose service or
    /// address is gone, or no longer takes a header, is refused.
    func adoptPendingHeaders(_ snapshot: PendingHeaders.Snapshot?) {
        for item in snapshot?.items ?? [] {
            var peer = sockaddr_storage()
            withUnsafeMutableBytes(of: &peer) { $0.copyBytes(from: item.peer.prefix($0.count)) }
            guard let s = services[item.service], let a = admission[item.service], let l = listeners[item.listener],
                  let rules = s.config.admission.proxy else {
                services[item.service]?.countRefused("removed")
                log.event(.info, item.service, "refused", ["peer": .string(peerText(&peer)), "reason": .string("removed")])
                closeDescriptor(item.fd)
                continue
            }
            var c = Connection(fd: item.fd, peer: peer, listener: l)
            switch proxyHeaders.park(c, service: s.name, rules: rules, deadline: item.deadline) {
            case .success(let token): timers.add(.proxyDeadline(token), at: item.deadline)
            case .failure(let e): refuse(s, a, &c, .proxyHeader, detail: "epoll_ctl: \(e.text)")
            }
        }
    }
}
