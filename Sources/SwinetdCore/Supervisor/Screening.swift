#if canImport(Glibc)
import Glibc
#endif

/// Admission of single connections: `allow` and `deny`, `per_source`,
/// `source_rate`, `penalty` and a wrong or untrusted PROXY header refuse a
/// connection (accepted and closed at once, with no handler, counted and
/// logged by reason); `rate` never refuses, it stops the service accepting
/// until a token is due.
extension Supervisor {
    /// Closes a refused connection: for `per_source`, `source_rate` and
    /// `penalty` after writing `refuse_message` (best effort, never
    /// waiting), for the others without a word. At most one log line a
    /// second per reason.
    func refuse(_ s: ServiceState, _ a: ServiceAdmission, _ c: inout Connection, _ reason: RefusalReason, detail: String? = nil) {
        if reason.tellsTheClient, let message = s.config.admission.refuseMessage {
            var bytes = Array(message.utf8)
            if bytes.last != 10 && bytes.count < Validation.refuseMessageLimit { bytes.append(10) }
            _ = bytes.withUnsafeBytes { send(c.fd, $0.baseAddress, min($0.count, Validation.refuseMessageLimit), Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
        }
        // What the client already sent is read first: closing a socket with
        // unread data resets it, and the reset would discard the message.
        _ = withUnsafeMutableBytes(of: &drain) { recv(c.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        closeDescriptor(c.fd)
        s.countRefused(reason.rawValue)
        switch a.refused(reason, now: now) {
        case .log(let suppressed):
            var fields: [(key: String, value: LogValue)] = [("peer", .string(peerText(&c.peer)))]
            if var balancer = c.proxy?.balancer { fields.append(("via", .string(peerText(&balancer)))) }
            fields.append(("reason", .string(reason.rawValue)))
            switch reason {
            case .perSource: if let n = s.config.admission.perSource { fields.append(("limit", .int(n))) }
            case .sourceRate: if let r = s.config.admission.sourceRate { fields.append(("limit", .string(r.description))) }
            case .penalty:
                if let group = c.group, let left = a.penaltyLeft(group, now: now) { fields.append(("left", .seconds(left))) }
            case .denied, .proxyHeader, .proxyUntrusted: break
            }
            if let detail { fields.append(("why", .string(detail))) }
            if suppressed > 0 { fields.append(("suppressed", .int(suppressed))) }
            log.event(.info, s.name, "refused", fields: fields)
        case .suppress(let first, let summaryAt):
            if first { timers.add(.refusalSummary(service: s.name, reason: reason.rawValue), at: summaryAt) }
        }
    }

    /// Screens `c` by its (real) client, then starts its handler.
    func screenAndSpawn(_ s: ServiceState, _ a: ServiceAdmission, _ c: Connection) {
        var c = c
        if let address = PeerAddress(&c.peer) {
            if c.isBalancer {
                if s.config.admission.denies(address) { return refuse(s, a, &c, .denied) }
            } else {
                let group = s.config.admission.sourcePrefix.group(address)
                c.group = group
                if a.screens, let reason = a.screen(address, group: group, s.config.admission, now: now) {
                    return refuse(s, a, &c, reason)
                }
            }
        }
        // A connection held for a handler goes first: this one waits behind it.
        if a.held != nil { return a.queue(c) }
        guard hasSparePipe(s) else { return hold(s, a, c, .tooManyOpenFiles) }
        spawn(s, a, c)
    }

    /// Whether `s` can give a handler its stderr now: `stderr: log` needs
    /// the spare pipe, made here if it is not (false: descriptors or memory
    /// ran out, and accepting pauses).
    func hasSparePipe(_ s: ServiceState) -> Bool {
        s.config.stderr != .log || output.spare != nil || makeSparePipe(for: s.name)
    }

    /// Stops accepting when handlers and the connections waiting for a
    /// PROXY header fill max_children (every service) or `s`'s max_connections.
    func refreshIfFull(_ s: ServiceState, _ a: ServiceAdmission) {
        if slotsTaken >= admission.maxChildren {
            refreshAll()
        } else if children.running(s.name) + proxyHeaders.count(s.name) >= s.config.maxConnections {
            refresh(s, a)
        }
    }

    /// The refusals left out of the log in the last second, as one line.
    func summarizeRefusals(_ name: String, _ reasonText: String) {
        guard let s = services[name], let a = admission[name], let reason = RefusalReason(rawValue: reasonText) else { return }
        let n = a.takeSuppressed(reason, now: now)
        if n > 0 { log.event(.info, s.name, "refused", ["reason": .string(reason.rawValue), "suppressed": .int(n)]) }
    }

    /// `rate`'s bucket is empty: the service stops accepting until the next
    /// token is due. Its clients wait in the kernel's queue meanwhile.
    func pauseForRate(_ s: ServiceState, _ a: ServiceAdmission) {
        guard let (ready, episodeBegins) = a.rateRanOut(now: now) else { return }
        timers.add(.rateReady(service: s.name), at: ready)
        if episodeBegins {
            log.event(.notice, s.name, "paused", ["reason": .string(PauseReason.rate.rawValue), "rate": .string(s.config.admission.rate?.description ?? "")])
        }
        refresh(s)
    }

    /// A token is due: accept again, and at once, so that a queue found
    /// empty ends the episode (`resumed`) even if no client is waiting.
    func rateReady(_ s: ServiceState) {
        guard admission[s.name]?.rateReady(now: now) == true else { return }
        refresh(s)
        for l in listeners.owned(by: s.name) where l.watch.isOn { acceptReady(l) }
    }

    /// `ip:port` or `[ip6]:port`, for a log line.
    func peerText(_ peer: inout sockaddr_storage) -> String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let port = text.withUnsafeMutableBufferPointer { Socket.format(&peer, into: $0.baseAddress!, capacity: $0.count) }
        let ip = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return ListenAddress.endpointText(ip, port, ipv6: peer.ss_family == sa_family_t(AF_INET6))
    }
}
