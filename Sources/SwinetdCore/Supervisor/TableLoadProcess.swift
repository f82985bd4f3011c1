#if canImport(Glibc)
import Glibc
#endif
import CLinux
import CSpawn

/// Reading and validating the table happens in a child process, never in
/// the event loop: a slow NSS lookup, a table on a stalled file system or a
/// table that takes a second to validate cannot stop the master serving,
/// and whatever the validation allocates goes away with the child. The
/// child writes the outcome (the table, or its diagnostics) to a pipe in
/// `PackedCoding`'s form and exits; the master reads the pipe in the loop
/// and only applies the result, which costs about 1 ms per hundred services.
final class TableLoadProcess {
    /// A loader that has not answered by then is killed and the reload refused.
    static let timeout: UInt64 = 30 * Nanoseconds.perSecond

    let pid: pid_t
    let fd: Int32
    let token: EventToken
    private var received: [UInt8] = []
    private var chunk = [UInt8](repeating: 0, count: 65536)

    private init(pid: pid_t, fd: Int32) {
        self.pid = pid
        self.fd = fd
        self.token = .next(.loader, fd: fd)
    }

    deinit { closeDescriptor(fd) }

    /// The loader's wire message: exactly one of the two is set.
    private struct Report: Codable {
        var table: ServiceTable?
        var errors: TableErrors?
    }

    /// Forks the loader for the table at `path`.
    static func start(path: String) -> Result<TableLoadProcess, Errno> {
        var ends: [Int32] = [-1, -1]
        guard clinux_pipe2(&ends, O_CLOEXEC) == 0 else { return .failure(.current) }
        let pid = cspawn_fork()
        if pid < 0 {
            let e = Errno.current
            closeDescriptor(ends[0]); closeDescriptor(ends[1])
            return .failure(e)
        }
        if pid == 0 { runChild(path: path, out: ends[1]) }
        closeDescriptor(ends[1])
        _ = fcntl(ends[0], F_SETFL, O_NONBLOCK)
        return .success(TableLoadProcess(pid: pid, fd: ends[0]))
    }

    /// The child: nothing of the master but the standard descriptors and
    /// its end of the pipe (no listener stays bound by a slow loader).
    private static func runChild(path: String, out: Int32) -> Never {
        Daemon.closeInherited(keeping: [0, 1, 2, out])
        let report: Report
        switch TableLoader(checkPrivileges: true).load(path: path) {
        case .success(let table): report = Report(table: table)
        case .failure(let errors): report = Report(errors: errors)
        }
        let bytes = (try? PackedCoding.encode(report)) ?? []
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(out, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { _exit(1) }
            offset += n
        }
        _exit(0)
    }

    /// Reads what the pipe holds; true once the loader has said all (EOF).
    func readable() -> Bool {
        while true {
            let n = chunk.withUnsafeMutableBytes { buf in loopCall("read(loader)") { read(fd, buf.baseAddress, buf.count) } }
            switch n {
            case .success(0): return true
            case .success(let k): received.append(contentsOf: chunk[0..<k])
            case .failure(.wouldBlock): return false
            case .failure: return true
            }
        }
    }

    /// What the loader said, or why there is nothing to apply.
    func result(file: String) -> Result<ServiceTable, TableErrors> {
        guard let report = try? PackedCoding.decode(Report.self, from: received) else {
            return .failure(TableErrors([Diagnostic(file: file, mark: nil, message: "the table loader ended without an answer")]))
        }
        if let table = report.table { return .success(table) }
        return .failure(report.errors ?? TableErrors([]))
    }

    /// At start, when nothing is served yet: the same loader, waited for.
    static func load(path: String) -> Result<ServiceTable, TableErrors> {
        let process: TableLoadProcess
        switch start(path: path) {
        case .success(let p): process = p
        case .failure(let e):
            return .failure(TableErrors([Diagnostic(file: path, mark: nil, message: "cannot start the table loader: \(e.text)")]))
        }
        let deadline = Nanoseconds.adding(monotonicNanoseconds(), timeout)
        var done = false
        while !done {
            let now = monotonicNanoseconds()
            if now >= deadline {
                kill(process.pid, SIGKILL)
                break
            }
            var p = pollfd(fd: process.fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, Nanoseconds.timeoutMilliseconds(until: deadline, now: now))
            done = process.readable()
        }
        var status: Int32 = 0
        while waitpid(process.pid, &status, 0) < 0 && errno == EINTR {}
        return done ? process.result(file: path)
            : .failure(TableErrors([Diagnostic(file: path, mark: nil, message: "the table loader did not finish in \(timeout / Nanoseconds.perSecond) s")]))
    }
}
