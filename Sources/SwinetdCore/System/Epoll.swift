#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// What an epoll event is for: the kind of descriptor, its number, and the
/// generation it was registered with, all in `epoll_data.u64`.
///
/// Dispatching by bare descriptor number is unsafe: a descriptor closed
/// earlier in the same `epoll_wait` batch (a reload closed a listener, a pipe
/// hit EOF) can have its number reused at once by a new one (a stderr pipe),
/// which would then receive the stale event. Every registration gets a fresh
/// generation, so the owner of a number recognises an event meant for its
/// predecessor and drops it.
struct EventToken: Hashable {
    enum Kind: UInt8 {
        case signals = 1, listener, output, log, loader
        case control, controlClient, metrics, metricsClient
        /// A connection from a load balancer whose PROXY header is not all there yet.
        case proxyHeader
    }

    let kind: Kind
    let fd: Int32
    /// 24 bits: a wrap-around only matters within one batch.
    let generation: UInt32

    init(_ kind: Kind, fd: Int32, generation: UInt32) {
        self.kind = kind
        self.fd = fd
        self.generation = generation & 0xFF_FFFF
    }

    init?(raw: UInt64) {
        guard let kind = Kind(rawValue: UInt8(raw >> 56)) else { return nil }
        self.init(kind, fd: Int32(bitPattern: UInt32(truncatingIfNeeded: raw)), generation: UInt32(truncatingIfNeeded: raw >> 32))
    }

    var raw: UInt64 {
        UInt64(kind.rawValue) << 56 | UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    private nonisolated(unsafe) static var counter: UInt32 = 0

    /// A fresh token for `fd` (the master is single-threaded).
    static func next(_ kind: Kind, fd: Int32) -> EventToken {
        counter &+= 1
        return EventToken(kind, fd: fd, generation: counter)
    }
}

/// The master's one epoll instance. Level-triggered: a listener that still has
/// connections queued wakes the loop again, so a bounded accept batch loses nothing.
final class Epoll {
    let fd: Int32
    private var events: [epoll_event]

    init(capacity: Int = 256) throws(Errno) {
        switch syscallResult({ epoll_create1(Int32(EPOLL_CLOEXEC)) }) {
        case .success(let d): fd = d
        case .failure(let e): throw e
        }
        events = Array(repeating: epoll_event(), count: capacity)
    }

    deinit { closeDescriptor(fd) }

    static let readable = EPOLLIN.rawValue
    static let writable = EPOLLOUT.rawValue
    /// Readable, edge-triggered: a descriptor whose unread bytes are only
    /// peeked at wakes the loop when more arrive, not at every round.
    static let readableEdge = EPOLLIN.rawValue | EPOLLRDHUP.rawValue | EPOLLET.rawValue
    /// The peer closed its side, or the socket failed.
    static let hangUp = EPOLLRDHUP.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue

    /// Watches `token.fd` for `events`. ENOMEM and ENOSPC (the user's
    /// max_user_watches) are returned; EBADF, EEXIST and the like are bugs.
    func add(_ token: EventToken, events: UInt32 = Epoll.readable) -> Result<Void, Errno> {
        control(EPOLL_CTL_ADD, token, events)
    }

    /// Changes what `token.fd` is watched for.
    func modify(_ token: EventToken, events: UInt32) -> Result<Void, Errno> {
        control(EPOLL_CTL_MOD, token, events)
    }

    func remove(_ fd: Int32) {
        var event = epoll_event()
        _ = loopCall("epoll_ctl(DEL)") { epoll_ctl(self.fd, EPOLL_CTL_DEL, fd, &event) }
    }

    private func control(_ op: Int32, _ token: EventToken, _ mask: UInt32) -> Result<Void, Errno> {
        var event = epoll_event()
        event.events = mask
        event.data.u64 = token.raw
        let r = syscallResult { epoll_ctl(fd, op, token.fd, &event) }
        if case .failure(let e) = r, e != .noMemory, e != .noSpace, e != .notPermitted {
            fatalError("swinetd bug: epoll_ctl(\(op), \(token.fd)) failed with \(e.text)")
        }
        return r.map { _ in () }
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever); returns how many
    /// events are ready, each then read with `token(_:)`. EINTR (a stop
    /// signal and SIGCONT) counts as none; any other error is a bug.
    func wait(timeoutMilliseconds: Int32) -> Int {
        let capacity = Int32(events.count)
        let n = events.withUnsafeMutableBufferPointer { buf in
            epoll_wait(fd, buf.baseAddress, capacity, timeoutMilliseconds)
        }
        if n >= 0 { return Int(n) }
        let e = Errno.current
        if e == .interrupted { return 0 }
        fatalError("swinetd bug: epoll_wait failed with \(e.text)")
    }

    /// The token of ready event `index` (nil for one swinetd never registered).
    func token(_ index: Int) -> EventToken? { EventToken(raw: events[index].data.u64) }

    /// The event bits of ready event `index`.
    func bits(_ index: Int) -> UInt32 { events[index].events }
}
