#if canImport(Glibc)
import Glibc
#endif

/// One listening socket, kept by address across reloads (the same socket,
/// open the whole time, when both tables have the address). What changes
/// in it is changed only by `Listeners`' verbs; everyone else reads.
final class Listener {
    let address: ListenAddress
    let fd: Int32
    var token: EventToken { watch.token }
    fileprivate(set) var backlog: Int
    /// The service that accepts on it. Exactly one; a retired service owns none.
    fileprivate(set) var owner: String
    /// Whether the event loop watches it now (it does not while its service
    /// is paused: connections then wait in the kernel's queue).
    fileprivate(set) var watch: Watch
    /// The local address as text when it is fixed: the IP of an address
    /// that is not a wildcard, or a UNIX socket's path; so the spawn path
    /// needs no getsockname for TCPLOCALIP (or UNIXLOCALPATH).
    let localText: [CChar]?
    /// Wait services: the handler that has the socket now (not watched meanwhile).
    fileprivate(set) var waitHandler: pid_t?
    /// Wait services: not watched before then, after a handler that left
    /// its socket unread; and the back-off (1 s, doubling to a minute).
    fileprivate(set) var backoffUntil: UInt64?
    fileprivate(set) var backoff = Backoff(first: Listener.firstBackoff, last: Listener.lastBackoff)
    fileprivate(set) var backoffLogged: UInt64 = 0
    /// UDP wait services: the kernel's arrival stamp of the datagram first
    /// in line when the handler started (DatagramQueue), to tell at its
    /// exit whether it read anything or only left before a newer one arrived.
    fileprivate(set) var queueHead: UInt64?
    /// Made blocking for a wait handler (the master only polls it then);
    /// made non-blocking again before the master accepts on it.
    fileprivate(set) var blocking = false

    static let firstBackoff = Nanoseconds.perSecond
    static let lastBackoff = 60 * Nanoseconds.perSecond

    init(address: ListenAddress, fd: Int32, backlog: Int, owner: String) {
        self.address = address
        self.fd = fd
        self.watch = Watch(.next(.listener, fd: fd))
        self.backlog = backlog
        self.owner = owner
        self.localText = address.isWildcard ? nil
            : Array(ListenAddress.text(family: address.family, ipOrPath: address.ipOrPath).utf8CString)
    }

    /// Copies `localText` (with its NUL) to `slot`; false when it is not fixed.
    func copyLocalText(to slot: UnsafeMutablePointer<CChar>) -> Bool {
        guard let text = localText else { return false }
        text.withUnsafeBufferPointer { slot.update(from: $0.baseAddress!, count: $0.count) }
        return true
    }
}

/// The one owner of the listening sockets: by address (what a reload
/// matches), by event token (what the loop dispatches), and by owning
/// service (what admission watches or not). Every change goes through here,
/// so the three never disagree, and a listener's watch, back-off and wait
/// handler change only by these verbs.
///
/// Also the sockets a reload closed while a wait handler still held them
/// (`retiredWaitSockets`), and the addresses that open again once that
/// handler is gone (`deferredOpens`).
final class Listeners {
    private let epoll: Epoll
    private(set) var byAddress: [ListenAddress: Listener] = [:]
    private var byFD: [Int32: Listener] = [:]
    private var byOwner: [String: [Listener]] = [:]
    /// Addresses whose old socket a wait handler still holds (a reload
    /// closed ours), and the service waiting to open each again.
    private(set) var retiredWaitSockets: [ListenAddress: pid_t] = [:]
    private(set) var deferredOpens: [ListenAddress: String] = [:]

    init(epoll: Epoll) { self.epoll = epoll }

    var count: Int { byAddress.count }
    var all: Dictionary<ListenAddress, Listener>.Values { byAddress.values }

    /// The listener an event is for; nil for a stale event (its descriptor
    /// was closed earlier in the batch, or now belongs to another).
    subscript(token: EventToken) -> Listener? {
        guard let l = byFD[token.fd], l.token == token else { return nil }
        return l
    }

    subscript(address: ListenAddress) -> Listener? { byAddress[address] }

    func owned(by service: String) -> [Listener] { byOwner[service] ?? [] }

    // MARK: Opening and closing

    /// A socket just opened (or handed over) for `owner`, not yet watched.
    func insert(_ l: Listener) {
        byAddress[l.address] = l
        byFD[l.fd] = l
        byOwner[l.owner, default: []].append(l)
    }

    /// Closes the socket at `address`: out of every index and of epoll, its
    /// UNIX socket file removed (`fileOwner`: the uid the file should have,
    /// by owning service), and its descriptor closed. A wait handler that
    /// holds it keeps it: the address is retired until that handler exits.
    /// Returns what was closed (nil: nothing was open there).
    func close(_ address: ListenAddress, fileOwner: (String) -> uid_t?) -> Listener? {
        deferredOpens[address] = nil
        guard let l = byAddress.removeValue(forKey: address) else { return nil }
        byFD[l.fd] = nil
        detach(l)
        if let pid = l.waitHandler { retiredWaitSockets[address] = pid }
        l.watch.set(false, in: epoll)
        // A UNIX socket's file goes with its socket (a kept address keeps
        // both), but not what someone else has put at its path since.
        if let path = address.path { UnixSocketFile.remove(socket: l.fd, path: path, owner: fileOwner(l.owner)) }
        closeDescriptor(l.fd)
        return l
    }

    /// Gives the listener at `address` to `owner` (a kept address moving
    /// to a renamed service, say).
    func setOwner(_ address: ListenAddress, _ owner: String) {
        guard let l = byAddress[address], l.owner != owner else { return }
        detach(l)
        l.owner = owner
        byOwner[owner, default: []].append(l)
    }

    /// The listen queue of the socket at `address` becomes `backlog` long
    /// (TCP; left as it was if the kernel refuses).
    func setBacklog(_ address: ListenAddress, _ backlog: Int) {
        guard let l = byAddress[address], l.backlog != backlog else { return }
        if case .success = Socket.setBacklog(l.fd, backlog) { l.backlog = backlog }
    }

    private func detach(_ l: Listener) {
        byOwner[l.owner]?.removeAll { $0 === l }
        if byOwner[l.owner]?.isEmpty == true { byOwner[l.owner] = nil }
    }

    // MARK: Watching

    /// Watches `service`'s listeners when it accepts (`serviceAccepts`),
    /// except a wait service's socket while its handler has it or while it
    /// backs off; unwatches the rest. Returns the listeners that could not
    /// be watched, with why (ENOMEM, ENOSPC), for the log.
    func watch(_ service: String, serviceAccepts: Bool, now: UInt64) -> [(Listener, Errno)] {
        guard let owned = byOwner[service] else { return [] }
        var failed: [(Listener, Errno)] = []
        for l in owned {
            let want = serviceAccepts && l.waitHandler == nil && (l.backoffUntil.map { now >= $0 } ?? true)
            if case .failure(let e) = l.watch.set(want, in: epoll) { failed.append((l, e)) }
        }
        return failed
    }

    /// Stops watching `l` (its service is gone; a reload job closes it soon).
    func unwatch(_ l: Listener) {
        l.watch.set(false, in: epoll)
    }

    /// Makes `l` blocking (for a wait handler, which reads it as programs
    /// expect) or non-blocking (before the master accepts on it).
    func setBlocking(_ l: Listener, _ blocking: Bool) {
        let flags = fcntl(l.fd, F_GETFL)
        guard flags >= 0 else { return }
        _ = fcntl(l.fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK)
        l.blocking = blocking
    }

    // MARK: Wait services

    /// `pid` has `l` now; `queueHead`: the arrival stamp of the datagram
    /// first in line (UDP). The caller refreshes the watch.
    func giveToWaitHandler(_ l: Listener, _ pid: pid_t, queueHead: UInt64?) {
        l.waitHandler = pid
        l.queueHead = queueHead
    }

    /// What a wait handler's exit meant for the socket at its address.
    enum WaitHandlerEnd {
        /// It held a socket a reload had closed: that address may open again.
        case retiredSocketFreed
        /// The socket is the master's again.
        case returned(Listener)
        /// Neither (the address was closed and opened again meanwhile).
        case none
    }

    func waitHandlerEnded(_ pid: pid_t, at address: ListenAddress) -> WaitHandlerEnd {
        if retiredWaitSockets[address] == pid {
            retiredWaitSockets[address] = nil
            return .retiredSocketFreed
        }
        guard let l = byAddress[address], l.waitHandler == pid else { return .none }
        l.waitHandler = nil
        return .returned(l)
    }

    /// The handler left `l` unread: not watched for the next back-off (1 s,
    /// doubling to a minute). Returns until when, the delay, and whether it
    /// is news for the log (the same delay again, at the last step, is not).
    func startBackoff(_ l: Listener, now: UInt64) -> (until: UInt64, delay: UInt64, isNews: Bool) {
        let delay = l.backoff.next()
        let until = Nanoseconds.adding(now, delay)
        l.backoffUntil = until
        let isNews = l.backoffLogged != delay
        l.backoffLogged = delay
        return (until, delay, isNews)
    }

    func endBackoff(_ l: Listener) {
        l.backoffUntil = nil
        l.backoff.reset()
        l.backoffLogged = 0
    }

    /// A changed service (a fixed handler, say) gets its sockets back at once.
    func endBackoff(ownedBy service: String) {
        for l in owned(by: service) { endBackoff(l) }
    }

    /// The old socket of `address` a retired wait handler still holds: its pid.
    func retiredHolder(of address: ListenAddress) -> pid_t? { retiredWaitSockets[address] }

    /// `address` opens for `service` once its retired socket's holder exits.
    func deferOpen(_ address: ListenAddress, for service: String) {
        deferredOpens[address] = service
    }

    func isDeferred(_ address: ListenAddress) -> Bool { deferredOpens[address] != nil }

    /// The deferred addresses whose old socket's last holder is gone, with
    /// the service each opens for; no longer deferred.
    func takeReadyDeferredOpens() -> [(address: ListenAddress, service: String)] {
        var ready: [(address: ListenAddress, service: String)] = []
        for (address, service) in deferredOpens where retiredWaitSockets[address] == nil {
            deferredOpens[address] = nil
            ready.append((address, service))
        }
        return ready
    }
}

// MARK: Handover

extension Listeners {
    /// What the listeners hand to the next image at an upgrade, besides
    /// their descriptors: per socket its owner, wait handler, queue head
    /// and back-off (a wait service in back-off stays backed off); the
    /// retired wait sockets and the deferred opens.
    struct Snapshot: Codable {
        struct Socket: Codable {
            var address: ListenAddress
            var fd: Int32
            var owner: String
            var waitHandler: pid_t?
            var queueHead: UInt64?
            var backoffUntil: UInt64?
            var nextBackoff: UInt64
            var backoffLogged: UInt64
        }
        struct Retired: Codable {
            var address: ListenAddress
            var pid: pid_t
        }
        struct Deferred: Codable {
            var address: ListenAddress
            var service: String
        }
        var sockets: [Socket]
        var retiredWaitSockets: [Retired]
        var deferredOpens: [Deferred]
    }

    func snapshot() -> Snapshot {
        Snapshot(
            sockets: byAddress.values.sorted { $0.address < $1.address }.map {
                .init(address: $0.address, fd: $0.fd, owner: $0.owner, waitHandler: $0.waitHandler, queueHead: $0.queueHead,
                      backoffUntil: $0.backoffUntil, nextBackoff: $0.backoff.upcoming, backoffLogged: $0.backoffLogged)
            },
            retiredWaitSockets: retiredWaitSockets.sorted { $0.key < $1.key }.map { .init(address: $0.key, pid: $0.value) },
            deferredOpens: deferredOpens.sorted { $0.key < $1.key }.map { .init(address: $0.key, service: $0.value) })
    }

    /// Takes over the replaced image's state of each socket the table
    /// opened here from its handed-over descriptor (the same address and
    /// fd), and its retired wait sockets and deferred opens. Returns the
    /// back-offs still under way, for the loop to time their ends. The
    /// caller refreshes the watches.
    func adopt(_ snapshot: Snapshot) -> [(service: String, until: UInt64)] {
        var backoffs: [(service: String, until: UInt64)] = []
        for s in snapshot.sockets {
            guard let l = byAddress[s.address], l.fd == s.fd else { continue }
            l.waitHandler = s.waitHandler
            l.queueHead = s.queueHead
            l.backoffUntil = s.backoffUntil
            l.backoff = Backoff(first: Listener.firstBackoff, last: Listener.lastBackoff, upcoming: s.nextBackoff)
            l.backoffLogged = s.backoffLogged
            l.blocking = fcntl(l.fd, F_GETFL) & O_NONBLOCK == 0
            if let until = s.backoffUntil { backoffs.append((l.owner, until)) }
        }
        retiredWaitSockets = Dictionary(snapshot.retiredWaitSockets.map { ($0.address, $0.pid) }, uniquingKeysWith: { a, _ in a })
        deferredOpens = Dictionary(snapshot.deferredOpens.map { ($0.address, $0.service) }, uniquingKeysWith: { a, _ in a })
        return backoffs
    }
}
