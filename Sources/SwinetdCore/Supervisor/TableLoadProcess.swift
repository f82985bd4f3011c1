#if canImport(Glibc)
import Glibc
#endif
import CLinux
import CSpawn

/// Reading and validating the table happens in a child process, never in
/// the event loop: a slow NSS lookup, a table on a stalled file system or a
/// table that takes a second to validate cannot stop the master serving,
/// and whatever the validation allocates goes away with the child.
///
/// The child is a copy of the master, so it knows the live table: it sends
/// back only what changed. Its answer is a stream of frames (kind, length,
/// `PackedCoding` payload): `E` and the diagnostics; or `H` (the header),
/// then per service in table order `U` and its name when its settings are
/// unchanged, or `C` and its new settings. The master reads the pipe in the
/// loop and decodes the frames a few at a time (see ReloadJob), so the cost
/// of a reload follows the size of the change, spread over the loop.
final class TableLoadProcess {
    /// A loader that has not answered by then is killed and the reload refused.
    static let timeout: UInt64 = 30 * Nanoseconds.perSecond

    let pid: pid_t
    let fd: Int32
    let token: EventToken
    private var received: [UInt8] = []

    private init(pid: pid_t, fd: Int32) {
        self.pid = pid
        self.fd = fd
        self.token = .next(.loader, fd: fd)
    }

    deinit { closeDescriptor(fd) }

    struct Header: Codable {
        var maxChildren: Int
        var services: Int
        /// The `metrics` addresses.
        var metrics: [ListenAddress] = []
    }

    /// Forks the loader for the table at `path`; `current` is the live
    /// table, which it compares against.
    static func start(path: String, current: [String: ServiceConfig]) -> Result<TableLoadProcess, Errno> {
        var ends: [Int32] = [-1, -1]
        guard clinux_pipe2(&ends, O_CLOEXEC) == 0 else { return .failure(.current) }
        let pid = cspawn_fork()
        if pid < 0 {
            let e = Errno.current
            closeDescriptor(ends[0]); closeDescriptor(ends[1])
            return .failure(e)
        }
        if pid == 0 { runChild(path: path, current: current, out: ends[1]) }
        closeDescriptor(ends[1])
        _ = fcntl(ends[0], F_SETFL, O_NONBLOCK)
        return .success(TableLoadProcess(pid: pid, fd: ends[0]))
    }

    /// The child: nothing of the master but the standard descriptors and
    /// its end of the pipe (no listener stays bound by a slow loader).
    private static func runChild(path: String, current: [String: ServiceConfig], out: Int32) -> Never {
        Daemon.closeInherited(keeping: [0, 1, 2, out])
        var writer = FrameWriter(fd: out)
        switch TableLoader(checkPrivileges: true).load(path: path) {
        case .failure(let errors):
            writer.write(.errors, errors)
        case .success(let table):
            writer.write(.header, Header(maxChildren: table.maxChildren, services: table.services.count, metrics: table.metrics))
            for config in table.services {
                if current[config.name] == config {
                    writer.writeRaw(.unchanged, Array(config.name.utf8))
                } else {
                    writer.write(.changed, config)
                }
            }
        }
        _exit(writer.failed ? 1 : 0)
    }

    /// Reads what the pipe holds; true once the loader has said all (EOF).
    func readable() -> Bool {
        switch readAll(fd, appendingTo: &received, limit: .max).stoppingOnBug("read(loader)") {
        case .success(.wouldBlock): return false
        case .success(.endOfFile), .failure: return true
        }
    }

    /// The loader's answer: the table to decode, or why there is none.
    func answer(file: String) -> Result<TableStream, TableErrors> {
        TableStream.open(received, file: file)
    }

    /// At start, when nothing is served yet: the same loader, waited for.
    static func load(path: String) -> Result<TableStream, TableErrors> {
        let process: TableLoadProcess
        switch start(path: path, current: [:]) {
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
        _ = syscallResult { waitpid(process.pid, &status, 0) }
        return done ? process.answer(file: path)
            : .failure(TableErrors([Diagnostic(file: path, mark: nil, message: "the table loader did not finish in \(timeout / Nanoseconds.perSecond) s")]))
    }
}

enum FrameKind: UInt8 {
    case errors = 69      // E
    case header = 72      // H
    case unchanged = 85   // U
    case changed = 67     // C
}

/// Writes frames to the loader's pipe (blocking: the child has nothing else to do).
struct FrameWriter {
    let fd: Int32
    private(set) var failed = false

    init(fd: Int32) { self.fd = fd }

    /// One frame: its kind, its payload's length (4 bytes, little-endian), its payload.
    static func frame(_ kind: FrameKind, _ payload: [UInt8]) -> [UInt8] {
        var frame: [UInt8] = [kind.rawValue]
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { frame.append(contentsOf: $0) }
        frame.append(contentsOf: payload)
        return frame
    }

    mutating func write<T: Encodable>(_ kind: FrameKind, _ value: T) {
        guard let payload = try? PackedCoding.encode(value) else { failed = true; return }
        writeRaw(kind, payload)
    }

    mutating func writeRaw(_ kind: FrameKind, _ payload: [UInt8]) {
        guard !failed else { return }
        if case .failure = writeAll(fd, Self.frame(kind, payload)) { failed = true }
    }
}

/// The frames of a loader's table answer, decoded one at a time.
struct TableStream {
    enum Entry: Equatable {
        case unchanged(String)
        case changed(ServiceConfig)
    }

    let header: TableLoadProcess.Header
    private let bytes: [UInt8]
    private var offset: Int
    private let file: String
    /// Entries read so far: exactly `header.services` make a whole answer
    /// (a loader that died between two frames must not remove the rest).
    private var read = 0

    private init(header: TableLoadProcess.Header, bytes: [UInt8], offset: Int, file: String) {
        self.header = header
        self.bytes = bytes
        self.offset = offset
        self.file = file
    }

    static func open(_ bytes: [UInt8], file: String) -> Result<TableStream, TableErrors> {
        var offset = 0
        let broken = TableErrors([Diagnostic(file: file, mark: nil, message: "the table loader ended without a whole answer")])
        guard let (kind, payload) = frame(bytes, &offset) else { return .failure(broken) }
        switch kind {
        case .errors:
            return .failure((try? PackedCoding.decode(TableErrors.self, from: Array(payload))) ?? broken)
        case .header:
            guard let header = try? PackedCoding.decode(TableLoadProcess.Header.self, from: Array(payload)) else { return .failure(broken) }
            return .success(TableStream(header: header, bytes: bytes, offset: offset, file: file))
        default:
            return .failure(broken)
        }
    }

    var isAtEnd: Bool { offset >= bytes.count }

    /// The next service; nil at the end; throws on a malformed frame and on
    /// an answer with fewer or more services than its header announced.
    mutating func next() throws -> Entry? {
        guard !isAtEnd else {
            if read != header.services { throw Packed.Malformed() }
            return nil
        }
        guard read < header.services, let (kind, payload) = Self.frame(bytes, &offset) else { throw Packed.Malformed() }
        read += 1
        switch kind {
        case .unchanged: return .unchanged(String(decoding: payload, as: UTF8.self))
        case .changed: return .changed(try PackedCoding.decode(ServiceConfig.self, from: Array(payload)))
        default: throw Packed.Malformed()
        }
    }

    /// Every entry at once, with the unchanged ones filled in from `current`.
    func table(current: [String: ServiceConfig]) -> Result<ServiceTable, TableErrors> {
        var copy = self
        var services: [ServiceConfig] = []
        do {
            while let entry = try copy.next() {
                switch entry {
                case .changed(let c): services.append(c)
                case .unchanged(let name):
                    guard let c = current[name] else { throw Packed.Malformed() }
                    services.append(c)
                }
            }
        } catch {
            return .failure(TableErrors([Diagnostic(file: file, mark: nil, message: "the table loader's answer is malformed")]))
        }
        return .success(ServiceTable(services: services, maxChildren: header.maxChildren, metrics: header.metrics))
    }

    private static func frame(_ b: [UInt8], _ at: inout Int) -> (FrameKind, ArraySlice<UInt8>)? {
        guard at + 5 <= b.count, let kind = FrameKind(rawValue: b[at]) else { return nil }
        var length = 0
        for i in 0..<4 { length |= Int(b[at + 1 + i]) << (8 * i) }
        guard at + 5 + length <= b.count else { return nil }
        defer { at += 5 + length }
        return (kind, b[(at + 5)..<(at + 5 + length)])
    }
}
