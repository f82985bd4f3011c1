#if canImport(Glibc)
import Glibc
#endif

/// Opening an address for a service and closing one: what the start, a
/// reload, the retries of an address that did not open, a deferred open
/// and stopping share.
extension Supervisor {
    func openListener(_ address: ListenAddress, for s: ServiceState) -> Bool {
        // A wait handler still has the old socket of this address: binding
        // a new one underneath it would split its datagrams (UDP) or
        // connections between the two. It opens when that handler exits.
        if let pid = listeners.retiredHolder(of: address), children.byPID[pid] != nil {
            listeners.deferOpen(address, for: s.name)
            log.event(.notice, s.name, "deferred", ["address": .string(address.description), "until-exit-of": .int(Int(pid))])
            return true
        }
        let file = Socket.FileMode(mode: mode_t(s.config.socketFile.mode), owner: s.config.socketFile.owner, group: s.config.socketFile.group)
        if let handed = inherited.take(address) {
            // systemd's socket is made ours (non-blocking, this backlog); the
            // replaced image's is exactly as it left it (a wait handler may
            // hold it blocking).
            if handed.origin == "systemd" {
                _ = fcntl(handed.fd, F_SETFL, fcntl(handed.fd, F_GETFL) | O_NONBLOCK)
                if address.transport == .tcp { _ = Socket.setBacklog(handed.fd, s.config.backlog) }
            }
            listeners.insert(Listener(address: address, fd: handed.fd, backlog: s.config.backlog, owner: s.name))
            unopened.opened(address, of: s.name)
            log.event(.notice, s.name, "listening", ["address": .string(address.description), "from": .string(handed.origin)])
            return true
        }
        // Said once, not again at each retry of an address that did not open.
        if !unopened.isUnopened(address, of: s.name), let path = address.path, let exposed = SocketFolders.exposure(of: path) {
            log.event(.warning, s.name, "exposed", ["address": .string(path), "folder": .string(exposed.folder), "reason": .string(exposed.reason)])
        }
        switch Socket.listen(address, backlog: s.config.backlog, file: file) {
        case .success(let fd):
            listeners.insert(Listener(address: address, fd: fd, backlog: s.config.backlog, owner: s.name))
            unopened.opened(address, of: s.name)
            log.event(.notice, s.name, "listening", ["address": .string(address.description)])
            return true
        case .failure(let e) where s.config.isOptional(address)
            && (e.errno == .addressFamilyNotSupported || e.errno == .addressNotAvailable):
            // A host without IPv6: the IPv4 half of `PORT` or `localhost:PORT` still serves.
            unopened.opened(address, of: s.name)
            log.event(.warning, s.name, "skipped", ["address": .string(address.description), "error": .string(e.errno.text)])
            return true
        case .failure(let e):
            unopened.failed(address, of: s.name, why: e.text)
            log.event(.error, s.name, "error", ["address": .string(address.description), "op": .string(e.step), "error": .string(e.text)])
            scheduleUnopenedRetry(s)
            return false
        }
    }

    func closeListener(_ address: ListenAddress) {
        guard let l = listeners.close(address, fileOwner: { self.services[$0]?.config.socketFile.owner }) else { return }
        log.event(.notice, l.owner, "closed", ["address": .string(address.description)])
    }

    func closeAllListeners() {
        for address in Array(listeners.byAddress.keys) { closeListener(address) }
    }
}
