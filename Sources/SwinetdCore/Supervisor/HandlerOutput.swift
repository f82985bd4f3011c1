#if canImport(Glibc)
import Glibc
#endif

/// The read ends of `stderr: log` pipes: each line a handler writes to its
/// stderr is logged under its service and pid.
final class HandlerOutput {
    private struct Pipe {
        var service: String
        var pid: pid_t
        var pending: [UInt8] = []
    }

    /// A line longer than this is logged in pieces rather than buffered forever.
    static let maxLine = 4096
    private var pipes: [Int32: Pipe] = [:]
    private var buffer = [UInt8](repeating: 0, count: 65536)

    func add(_ fd: Int32, service: String, pid: pid_t) {
        pipes[fd] = Pipe(service: service, pid: pid)
    }

    func contains(_ fd: Int32) -> Bool { pipes[fd] != nil }

    var descriptors: [Int32] { Array(pipes.keys) }

    /// Reads once (the pipe is readable, so this does not block) and logs
    /// complete lines. Returns false once the pipe is finished (EOF or
    /// error): it is then closed, which also takes it out of epoll.
    func readable(_ fd: Int32, log: Log) -> Bool {
        guard var pipe = pipes[fd] else { return false }
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return true }
        if n <= 0 {
            if !pipe.pending.isEmpty { emit(pipe.pending, pipe, log) }
            pipes[fd] = nil
            closeDescriptor(fd)
            return false
        }
        var start = 0
        for i in 0..<n where buffer[i] == 10 {
            pipe.pending.append(contentsOf: buffer[start..<i])
            emit(pipe.pending, pipe, log)
            pipe.pending.removeAll(keepingCapacity: true)
            start = i + 1
        }
        pipe.pending.append(contentsOf: buffer[start..<n])
        while pipe.pending.count >= Self.maxLine {
            emit(Array(pipe.pending.prefix(Self.maxLine)), pipe, log)
            pipe.pending.removeFirst(Self.maxLine)
        }
        pipes[fd] = pipe
        return true
    }

    private func emit(_ bytes: [UInt8], _ pipe: Pipe, _ log: Log) {
        var text = bytes
        if text.last == 13 { text.removeLast() }
        log.event(pipe.service, "stderr", ["pid": .int(Int(pipe.pid)), "line": .string(String(decoding: text, as: UTF8.self))])
    }
}
