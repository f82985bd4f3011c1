#if canImport(Glibc)
import Glibc
#endif
import DequeModule

/// Where log lines go, without ever blocking the loop.
///
/// A line is written at once when nothing is waiting; what the reader does
/// not take now (EAGAIN, a short write) waits in a bounded queue, written as
/// the descriptor becomes writable (`descriptorToWatch`, watched by the
/// loop). A line that does not fit in the queue is dropped and counted.
///
/// Descriptors are made non-blocking without touching anyone else's: a pipe
/// or terminal is opened again through /proc/self/fd (a file description of
/// its own, so the shell's terminal stays blocking); a socket (journald's
/// stream) is written with MSG_DONTWAIT; a regular file never blocks.
public final class LogSink {
    enum Target {
        case file(Int32)
        case stream(Int32)
        case socket(Int32)
        case syslog(SyslogClient)
    }

    let target: Target
    /// A descriptor this sink opened itself (a pipe or terminal reopened
    /// non-blocking), closed with it.
    private var own: Int32 = -1
    /// Most bytes kept waiting for a slow reader.
    static let capacity = 64 << 10
    /// Each waiting line with its level (syslog sends that as the priority).
    private var queue = Deque<(bytes: [UInt8], level: Log.Level)>()
    private var queuedBytes = 0
    /// Bytes of the first queued line already written (a short write).
    private var writtenOfFirst = 0
    private var dropped = 0

    init(_ target: Target) { self.target = target }

    deinit { if own >= 0 { closeDescriptor(own) } }

    /// stderr, made safe to write from the loop.
    public static func standardError() -> LogSink { descriptor(2) }

    /// Lines written to `fd` (stderr, or the daemon's start-up pipe).
    public static func descriptor(_ fd: Int32) -> LogSink {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return LogSink(.file(fd)) }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return LogSink(.file(fd))
        case S_IFSOCK: return LogSink(.socket(fd))
        case S_IFCHR where isatty(fd) == 0: return LogSink(.file(fd))   // /dev/null and the like
        default:
            let reopened = open("/proc/self/fd/\(fd)", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
            if reopened >= 0 {
                let sink = LogSink(.stream(reopened))
                sink.own = reopened
                return sink
            }
            // No /proc: the shared description becomes non-blocking instead.
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            return LogSink(.stream(fd))
        }
    }

    /// syslog(3)'s socket, written to directly (facility daemon).
    public static func syslog(path: String = SyslogClient.defaultPath) -> LogSink {
        LogSink(.syslog(SyslogClient(path: path)))
    }

    /// Whether lines wait for the reader.
    public var hasPending: Bool { !queue.isEmpty }

    /// The descriptor the loop should wait on (for writable) while lines wait.
    public var descriptorToWatch: Int32? {
        guard !queue.isEmpty else { return nil }
        switch target {
        case .file(let fd), .stream(let fd), .socket(let fd): return fd
        case .syslog(let client): return client.fd >= 0 ? client.fd : nil
        }
    }

    /// Takes one line (ending in a newline); syslog also gets its level.
    func write(_ line: [UInt8], level: Log.Level) {
        if queue.isEmpty {
            switch send(line[...], level: level) {
            case .all: return
            case .part(let n): enqueue(line, level, written: n)
            case .none: enqueue(line, level, written: 0)
            case .lost: return
            }
        } else {
            enqueue(line, level, written: 0)
        }
    }

    /// Writes what is queued as far as the reader takes it; returns whether
    /// anything is still waiting.
    func flush() -> Bool {
        while let first = queue.first {
            switch send(first.bytes[writtenOfFirst...], level: first.level) {
            case .all, .lost:
                queue.removeFirst()
                queuedBytes -= first.bytes.count
                writtenOfFirst = 0
            case .part(let n):
                writtenOfFirst += n
                return true
            case .none:
                return true
            }
        }
        return false
    }

    /// How many lines were dropped since the last call.
    func takeDropped() -> Int {
        defer { dropped = 0 }
        return dropped
    }

    private func enqueue(_ line: [UInt8], _ level: Log.Level, written: Int) {
        // A line is whole or not at all: a partly written one always stays.
        if written == 0 && queuedBytes + line.count > Self.capacity {
            dropped += 1
            return
        }
        if queue.isEmpty { writtenOfFirst = written }
        queue.append((line, level))
        queuedBytes += line.count
    }

    private enum Sent { case all, part(Int), none, lost }

    private func send(_ bytes: ArraySlice<UInt8>, level: Log.Level) -> Sent {
        let n: Result<Int, Errno>
        switch target {
        case .file(let fd), .stream(let fd):
            n = bytes.withUnsafeBytes { buf in syscallResult { Glibc.write(fd, buf.baseAddress, buf.count) } }
        case .socket(let fd):
            n = bytes.withUnsafeBytes { buf in syscallResult { Glibc.send(fd, buf.baseAddress, buf.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) } }
        case .syslog(let client):
            return client.send(bytes, level: level) ? .all : (client.fd >= 0 ? .none : .lost)
        }
        switch n {
        case .success(bytes.count): return .all
        case .success(let k) where k > 0: return .part(k)
        case .failure(.wouldBlock): return .none
        // EPIPE, EBADF, ENOSPC...: there is nobody to tell; never block or die for a log line.
        default: return .lost
        }
    }
}
