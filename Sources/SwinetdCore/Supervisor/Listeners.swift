#if canImport(Glibc)
import Glibc
#endif

/// One listening socket, kept by address across reloads (the same socket,
/// open the whole time, when both tables have the address).
final class Listener {
    let address: ListenAddress
    let fd: Int32
    var token: EventToken { watch.token }
    var backlog: Int
    /// The service that accepts on it. Exactly one; a retired service owns none.
    var owner: String
    /// Whether the event loop watches it now (it does not while its service
    /// is paused: connections then wait in the kernel's queue).
    var watch: Watch
    /// The local IP as text when the address is not a wildcard, so the spawn
    /// path needs no getsockname for TCPLOCALIP.
    let fixedLocalIP: [CChar]?
    /// Wait services: the handler that has the socket now (not watched meanwhile).
    var waitHandler: pid_t?
    /// Wait services: not watched before then, after a handler that left
    /// its socket unread; and the next back-off (doubling, at most a minute).
    var backoffUntil: UInt64?
    var nextBackoff = Listener.firstBackoff
    var backoffLogged: UInt64 = 0
    /// UDP wait services: the kernel's arrival stamp of the datagram first
    /// in line when the handler started (DatagramQueue), to tell at its
    /// exit whether it read anything or only left before a newer one arrived.
    var queueHead: UInt64?
    /// Made blocking for a wait handler (the master only polls it then);
    /// made non-blocking again before the master accepts on it.
    var blocking = false

    static let firstBackoff = Nanoseconds.perSecond
    static let lastBackoff = 60 * Nanoseconds.perSecond

    func endBackoff() {
        backoffUntil = nil
        nextBackoff = Listener.firstBackoff
        backoffLogged = 0
    }

    init(address: ListenAddress, fd: Int32, backlog: Int, owner: String) {
        self.address = address
        self.fd = fd
        self.watch = Watch(.next(.listener, fd: fd))
        self.backlog = backlog
        self.owner = owner
        self.fixedLocalIP = address.isWildcard ? nil
            : Array(ListenAddress.text(family: address.family, ip: address.ip).utf8CString)
    }
}

/// The one owner of the listening sockets: by address (what a reload
/// matches), by event token (what the loop dispatches), and by owning
/// service (what admission watches or not). Every change goes through here,
/// so the three never disagree.
struct Listeners {
    private(set) var byAddress: [ListenAddress: Listener] = [:]
    private var byFD: [Int32: Listener] = [:]
    private var byOwner: [String: [Listener]] = [:]

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

    mutating func insert(_ l: Listener) {
        byAddress[l.address] = l
        byFD[l.fd] = l
        byOwner[l.owner, default: []].append(l)
    }

    /// Takes `address` out of every index (the caller closes its socket).
    mutating func remove(_ address: ListenAddress) -> Listener? {
        guard let l = byAddress.removeValue(forKey: address) else { return nil }
        byFD[l.fd] = nil
        detach(l)
        return l
    }

    /// Gives the listener at `address` to `owner` (a kept address moving
    /// to a renamed service, say).
    mutating func setOwner(_ address: ListenAddress, _ owner: String) {
        guard let l = byAddress[address], l.owner != owner else { return }
        detach(l)
        l.owner = owner
        byOwner[owner, default: []].append(l)
    }

    private mutating func detach(_ l: Listener) {
        byOwner[l.owner]?.removeAll { $0 === l }
        if byOwner[l.owner]?.isEmpty == true { byOwner[l.owner] = nil }
    }
}
