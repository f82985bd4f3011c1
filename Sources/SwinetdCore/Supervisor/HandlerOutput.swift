#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// The read ends of `stderr: log` pipes: each line a handler writes to its
/// stderr is logged under its service and pid, within bounds that keep one
/// handler from costing the master its time or the log its meaning:
/// - a line is capped at `LineAssembler.maxLine` bytes (`truncated=N`);
/// - each handler may log `linesPerSecond` lines a second (a burst of as
///   many); lines beyond that are dropped and counted, reported as one
///   `stderr-suppressed suppressed=N` line, and the pipe is not read for a
///   second, so a flood costs one read a second;
/// - a pipe still open `cutAfter` after its handler was reaped (a child of
///   the handler holds it) is closed and logged as `output-cut`; a sweep once
///   a second finds them (not a timer per handler: most pipes reach EOF
///   just after their handler is reaped, and a timer each would wake the
///   loop thousands of times a second under load).
/// Every read end is non-blocking and registered in epoll with a token of
/// its own.
final class HandlerOutput {
    static let linesPerSecond: UInt64 = 100
    static let cutAfter: UInt64 = 3 * Nanoseconds.perSecond
    static let pauseWhenFlooded: UInt64 = Nanoseconds.perSecond

    /// A class: the hot path reads and changes a pipe in place, without
    /// copying it out of the table and back.
    private final class Pipe {
        /// In the epoll set from its registration, out while its budget is spent.
        var watch: Watch
        var token: EventToken { watch.token }
        let service: String
        let pid: pid_t
        var lines = LineAssembler()
        var budget: TokenBucket
        var suppressed = 0
        /// When its handler was reaped (0: it runs).
        var reapedAt: UInt64 = 0

        init(token: EventToken, service: String, pid: pid_t, budget: TokenBucket) {
            self.watch = Watch(token, isOn: true)
            self.service = service
            self.pid = pid
            self.budget = budget
        }
    }

    private let epoll: Epoll
    private var pipes: [Int32: Pipe] = [:]
    private var byPID: [pid_t: Int32] = [:]
    private var buffer = [UInt8](repeating: 0, count: 65536)

    init(epoll: Epoll) { self.epoll = epoll }

    /// A `stderr: log` pipe made ahead of the accept that needs it and kept
    /// when the accept finds the queue empty, so no wakeup makes a pipe in
    /// vain. Its read end is already in epoll, so a failure (ENOMEM,
    /// ENOSPC) shows before any connection depends on it. Both ends are
    /// non-blocking (one pipe2, no fcntl): the handler's copy of the write
    /// end is made blocking again by the spawn shim, which gives every
    /// handler blocking descriptors 0 to 2.
    private(set) var spare: (read: EventToken, write: Int32)?

    /// Makes the spare pipe. nil when it is there; otherwise the call that
    /// failed and why (the caller pauses accepting: descriptors ran out).
    func makeSpare() -> (op: String, error: Errno)? {
        var ends: [Int32] = [-1, -1]
        guard clinux_pipe2(&ends, O_CLOEXEC | O_NONBLOCK) == 0 else { return ("pipe", Errno.current) }
        switch register(ends[0]) {
        case .success(let token):
            spare = (token, ends[1])
            return nil
        case .failure(let e):
            closeDescriptor(ends[0])
            closeDescriptor(ends[1])
            return ("epoll_ctl", e)
        }
    }

    /// Registers a pipe's read end in epoll ahead of its use (the spare's;
    /// a handed-over handler's at an upgrade).
    func register(_ readEnd: Int32) -> Result<EventToken, Errno> {
        let token = EventToken.next(.output, fd: readEnd)
        return epoll.add(token).map { token }
    }

    /// The spare pipe now carries handler `pid`'s stderr: its write end
    /// (the handler's copy) is closed here, its read end is that handler's.
    func spareTaken(service: String, pid: pid_t, now: UInt64) {
        guard let pipe = spare else { return }
        spare = nil
        closeDescriptor(pipe.write)
        add(pipe.read, service: service, pid: pid, now: now)
    }

    /// The pipe `token` now carries handler `pid`'s stderr.
    func add(_ token: EventToken, service: String, pid: pid_t, now: UInt64) {
        pipes[token.fd] = Pipe(token: token, service: service, pid: pid,
                               budget: TokenBucket(rate: Self.linesPerSecond, burst: Self.linesPerSecond, now: now))
        byPID[pid] = token.fd
    }

    enum After: Equatable {
        case open
        /// Not read again before this time (the line budget is spent).
        case paused(until: UInt64)
        case closed
    }

    /// Reads once (the pipe is readable, or this finds EAGAIN) and logs
    /// complete lines within the budget.
    func readable(_ token: EventToken, now: UInt64, log: Log) -> After {
        guard let pipe = pipes[token.fd], pipe.token == token else { return .closed }
        let n = buffer.withUnsafeMutableBytes { buf in loopCall("read(stderr pipe)") { read(token.fd, buf.baseAddress, buf.count) } }
        switch n {
        case .failure(.wouldBlock):
            return .open
        case .success(0), .failure:
            feed(pipe, count: nil, now, log)
            close(pipe, log)
            return .closed
        case .success(let count):
            let before = pipe.suppressed
            feed(pipe, count: count, now, log)
            guard pipe.suppressed > before else { return .open }
            pipe.watch.set(false, in: epoll)
            return .paused(until: Nanoseconds.adding(now, Self.pauseWhenFlooded))
        }
    }

    /// After a pause: watches the pipe again (false: it is gone).
    func resume(_ token: EventToken) -> Bool {
        guard let pipe = pipes[token.fd], pipe.token == token, !pipe.watch.isOn else { return false }
        if case .failure = pipe.watch.set(true, in: epoll) { return false }
        return true
    }

    /// Pipes whose handler was reaped while they were still open.
    private var orphans: [Pipe] = []
    /// Whether a sweep of them is scheduled.
    private var sweepScheduled = false

    /// Handler `pid` was reaped. True when its pipe is still open and no
    /// sweep is scheduled: the caller schedules one `sweepEvery` from now.
    func handlerExited(_ pid: pid_t, now: UInt64) -> Bool {
        guard let fd = byPID.removeValue(forKey: pid), let pipe = pipes[fd] else { return false }
        pipe.reapedAt = max(now, 1)
        orphans.append(pipe)
        guard !sweepScheduled else { return false }
        sweepScheduled = true
        return true
    }

    /// Closes the pipes of handlers reaped `cutAfter` ago or more, logging
    /// that their output was cut; returns whether some are left to sweep
    /// (the caller schedules the next sweep).
    func sweep(now: UInt64, log: Log) -> Bool {
        defer { sweepScheduled = !orphans.isEmpty }
        orphans.removeAll { pipe in
            guard pipes[pipe.token.fd] === pipe else { return true }   // closed meanwhile (EOF)
            guard Nanoseconds.since(now, pipe.reapedAt) >= Self.cutAfter else { return false }
            log.event(.warning, pipe.service, "output-cut", ["pid": .int(Int(pipe.pid)), "after": .seconds(Self.cutAfter)])
            close(pipe, log)
            return true
        }
        return !orphans.isEmpty
    }

    static let sweepEvery = Nanoseconds.perSecond

    /// At exit: one read of what each pipe holds now, then every pipe closed.
    func closeAll(now: UInt64, log: Log) {
        for (_, pipe) in pipes { drainAndClose(pipe, now, log) }
        if let pipe = spare {
            spare = nil
            closeDescriptor(pipe.read.fd)
            closeDescriptor(pipe.write)
        }
    }

    /// One read of what the pipe holds now, its last part line, then closed.
    private func drainAndClose(_ pipe: Pipe, _ now: UInt64, _ log: Log) {
        let n = buffer.withUnsafeMutableBytes { read(pipe.token.fd, $0.baseAddress, $0.count) }
        if n > 0 { feed(pipe, count: n, now, log) }
        feed(pipe, count: nil, now, log)
        close(pipe, log)
    }

    /// What the pipes hand to the next image at an upgrade: the read end
    /// of each running handler's pipe (kept open across exec), its service
    /// and pid.
    struct Snapshot: Codable, Equatable {
        struct Pipe: Codable, Equatable {
            var fd: Int32
            var service: String
            var pid: pid_t
        }
        var pipes: [Pipe] = []
    }

    /// For an upgrade: the pipes of running handlers, to go on in the new
    /// image. A part line waiting for its end is logged now; the pipes of
    /// handlers already reaped are read and closed here.
    func handOver(now: UInt64, log: Log) -> Snapshot {
        var out = Snapshot()
        for (_, pipe) in pipes {
            if pipe.reapedAt != 0 {
                drainAndClose(pipe, now, log)
            } else {
                feed(pipe, count: nil, now, log)
                reportSuppressed(pipe, log)
                pipe.lines = LineAssembler()
                out.pipes.append(.init(fd: pipe.token.fd, service: pipe.service, pid: pipe.pid))
            }
        }
        out.pipes.sort { $0.fd < $1.fd }
        orphans = []
        return out
    }

    /// The replaced image's pipes become this one's; one that cannot be
    /// watched is closed (its handler's later lines are lost, never the
    /// handler).
    func adopt(_ snapshot: Snapshot, now: UInt64) {
        for p in snapshot.pipes {
            switch register(p.fd) {
            case .success(let token): add(token, service: p.service, pid: p.pid, now: now)
            case .failure: closeDescriptor(p.fd)
            }
        }
    }

    /// Feeds the first `count` bytes of the buffer to the pipe's lines (nil:
    /// the stream ended), logging each line that comes out.
    private func feed(_ pipe: Pipe, count: Int?, _ now: UInt64, _ log: Log) {
        if let count {
            buffer.withUnsafeBytes { raw in
                pipe.lines.feed(UnsafeRawBufferPointer(rebasing: raw[0..<count])) { emit(pipe, $0, $1, now, log) }
            }
        } else {
            pipe.lines.finish { emit(pipe, $0, $1, now, log) }
        }
    }

    private func emit(_ pipe: Pipe, _ line: [UInt8], _ truncated: Int, _ now: UInt64, _ log: Log) {
        guard pipe.budget.take(now: now) else {
            pipe.suppressed += 1
            return
        }
        reportSuppressed(pipe, log)
        let text = String(decoding: line, as: UTF8.self)
        if truncated > 0 {
            log.event(.info, pipe.service, "stderr", ["pid": .int(Int(pipe.pid)), "truncated": .int(truncated), "line": .string(text)])
        } else {
            log.event(.info, pipe.service, "stderr", ["pid": .int(Int(pipe.pid)), "line": .string(text)])
        }
    }

    private func reportSuppressed(_ pipe: Pipe, _ log: Log) {
        guard pipe.suppressed > 0 else { return }
        log.event(.warning, pipe.service, "stderr-suppressed", ["pid": .int(Int(pipe.pid)), "suppressed": .int(pipe.suppressed)])
        pipe.suppressed = 0
    }

    private func close(_ pipe: Pipe, _ log: Log) {
        reportSuppressed(pipe, log)
        // No EPOLL_CTL_DEL: closing the only descriptor of the pipe's read
        // end takes it out of the epoll set (one syscall per connection less).
        closeDescriptor(pipe.token.fd)
        pipes[pipe.token.fd] = nil
        if pipe.reapedAt == 0 { byPID[pipe.pid] = nil }
    }
}
