#if canImport(Glibc)
import Glibc
#endif

/// Short request-and-reply conversations on non-blocking sockets, served
/// inside the loop: the control socket's clients and the metrics scrapers.
/// Each request is bounded in size, each conversation in time; a client
/// that never sends, sends too much or never reads is dropped and costs
/// the loop nothing meanwhile.
final class Conversations {
    final class Conversation {
        let fd: Int32
        /// Its place in the epoll set: in from `add` to `close`.
        fileprivate(set) var watch: Watch
        var token: EventToken { watch.token }
        fileprivate(set) var input: [UInt8] = []
        fileprivate(set) var output: [UInt8] = []
        fileprivate(set) var written = 0
        fileprivate(set) var deadline: UInt64
        /// The request has been taken; what comes next is only the reply.
        fileprivate(set) var answered = false
        /// Waiting for something the loop does later (a reload's outcome).
        fileprivate(set) var waiting = false
        fileprivate(set) var discarded = 0
        /// The peer's uid (UNIX sockets), for who may ask.
        fileprivate(set) var peerUID: uid_t?

        init(fd: Int32, token: EventToken, deadline: UInt64, peerUID: uid_t?) {
            self.fd = fd
            self.watch = Watch(token)
            self.deadline = deadline
            self.peerUID = peerUID
        }

        /// Its request is taken and its reply comes later, from the loop
        /// (a reload's or an upgrade's outcome), by `deadline` at the latest.
        func awaitLaterReply(until deadline: UInt64) {
            answered = true
            waiting = true
            self.deadline = deadline
        }
    }

    enum Event {
        /// A whole request (its bytes, without the terminator).
        case request(Conversation, [UInt8])
        /// A request longer than `maxRequest`: the owner replies with an
        /// error; nothing of it is acted on.
        case tooLong(Conversation)
        /// Nothing to act on (more to come, a reply sent, a peer gone).
        case none
    }

    let kind: EventToken.Kind
    let maxRequest: Int
    let timeout: UInt64
    /// How long a request is, if `input` holds a whole one (nil: not yet).
    let requestLength: ([UInt8]) -> Int?
    private let epoll: Epoll
    private(set) var open: [Int32: Conversation] = [:]
    /// A timer for `sweep` is pending (one at a time, however many clients come).
    private(set) var sweepScheduled = false
    private var buffer = [UInt8](repeating: 0, count: 16384)

    init(kind: EventToken.Kind, epoll: Epoll, maxRequest: Int, timeout: UInt64, requestLength: @escaping ([UInt8]) -> Int?) {
        self.kind = kind
        self.epoll = epoll
        self.maxRequest = maxRequest
        self.timeout = timeout
        self.requestLength = requestLength
    }

    var count: Int { open.count }

    /// Whether `c` is still open (not closed, its descriptor not reused).
    func isOpen(_ c: Conversation) -> Bool { open[c.fd] === c }

    /// Takes an accepted, non-blocking socket into the loop.
    @discardableResult
    func add(_ fd: Int32, now: UInt64, peerUID: uid_t? = nil) -> Conversation? {
        let c = Conversation(fd: fd, token: .next(kind, fd: fd), deadline: Nanoseconds.adding(now, timeout), peerUID: peerUID)
        guard case .success = c.watch.set(true, in: epoll) else {
            closeDescriptor(fd)
            return nil
        }
        open[fd] = c
        return c
    }

    /// What a readiness event for `token` brings.
    func ready(_ token: EventToken, bits: UInt32) -> Event {
        guard let c = open[token.fd], c.token == token else { return .none }   // stale
        if bits & Epoll.writable != 0 { flush(c) }
        guard open[token.fd] != nil else { return .none }
        while true {
            let received = buffer.withUnsafeMutableBytes { buf in syscallResult { recv(c.fd, buf.baseAddress, buf.count, Int32(MSG_DONTWAIT)) } }
            let n: Int
            switch received {
            case .success(0): close(c); return .none
            case .success(let k): n = k
            case .failure(.wouldBlock): return .none
            case .failure: close(c); return .none
            }
            if c.answered {
                // Read and dropped: a client may not make the loop spin on
                // data it sends after its request (or on its hang-up).
                c.discarded += n
                if c.discarded > maxRequest { close(c); return .none }
                continue
            }
            c.input.append(contentsOf: buffer[0..<n])
            // The cap is exact: a request is refused the moment it is known
            // to be longer than maxRequest, whether or not its end came in
            // the same read.
            let length = requestLength(c.input)
            if let length, length <= maxRequest {
                c.answered = true
                let request = Array(c.input[0..<length])
                c.input = []
                return .request(c, request)
            }
            if length != nil || c.input.count > maxRequest {
                c.answered = true
                c.input = []
                return .tooLong(c)
            }
        }
    }

    /// Sends `bytes` and closes once they are all out (or the peer goes,
    /// or the deadline passes).
    func reply(_ c: Conversation, _ bytes: [UInt8], now: UInt64) {
        guard open[c.fd] === c else { return }
        c.waiting = false
        c.output = bytes
        c.written = 0
        c.deadline = Nanoseconds.adding(now, timeout)
        flush(c)
        if open[c.fd] === c { _ = epoll.modify(c.token, events: Epoll.writable) }
    }

    private func flush(_ c: Conversation) {
        switch sendAll(c.fd, c.output, flags: Int32(MSG_DONTWAIT | MSG_NOSIGNAL), sent: &c.written) {
        case .success: break
        case .failure(.wouldBlock): return   // the rest when it is writable
        case .failure: close(c); return
        }
        if c.answered && !c.waiting { close(c) }
    }

    /// True when a timer for `sweep` should be added now (none is
    /// pending); it is pending from then until `sweep`.
    func scheduleSweep() -> Bool {
        guard !sweepScheduled else { return false }
        sweepScheduled = true
        return true
    }

    /// Drops every conversation past its deadline; returns how many.
    @discardableResult
    func sweep(now: UInt64) -> Int {
        sweepScheduled = false
        let late = open.values.filter { now >= $0.deadline }
        for c in late { close(c) }
        return late.count
    }

    func close(_ c: Conversation) {
        guard open[c.fd] === c else { return }
        open[c.fd] = nil
        c.watch.set(false, in: epoll)
        closeDescriptor(c.fd)
    }

    func closeAll() {
        for c in Array(open.values) { close(c) }
    }
}
