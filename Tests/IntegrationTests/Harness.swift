import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The swinetd binary that `swift build` put beside this test bundle, or the
/// one `SWINETD_TEST_BINARY` names (to show that a test fails on an older build).
let swinetdBinary: String = {
    _ = testUmask
    if let other = ProcessInfo.processInfo.environment["SWINETD_TEST_BINARY"], !other.isEmpty { return other }
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // The xctest bundle on Linux is a plain executable in the build folder.
    for _ in 0..<3 {
        let candidate = dir.appendingPathComponent("swinetd").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    fatalError("swinetd binary not found near \(exe)")
}()

/// A whole file as text, read with POSIX calls (the tests poll logs and
/// /proc files many times; Foundation's reader leaks under LeakSanitizer).
func readText(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { return nil }
        if n == 0 { return String(decoding: out, as: UTF8.self) }
        out.append(contentsOf: buffer[0..<n])
    }
}

func readFile(_ path: String) throws -> String {
    guard let text = readText(path) else { throw TestFailure("cannot read \(path): \(String(cString: strerror(errno)))") }
    return text
}

/// Whether this process (and so the swinetd built with it) runs under
/// AddressSanitizer, whose allocator keeps freed memory in quarantine.
let underAddressSanitizer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__asan_init") != nil

/// Whether this process (and swinetd) runs under ThreadSanitizer, whose
/// runtime cannot work with RLIMIT_FSIZE 0 (it dies of SIGBUS on its own files).
let underThreadSanitizer = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "__tsan_init") != nil

/// Whether this machine lets the tests make namespaces of their own (root
/// in a container may still be refused): checked by trying.
func canUnshare(_ flag: String) -> Bool {
    guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare"),
          let status = try? runToEnd(["/usr/bin/unshare", flag, "/bin/true"], timeout: 10).status else { return false }
    return status == 0
}

let canUnshareNetwork = canUnshare("-n") && ["/usr/sbin/sysctl", "/sbin/sysctl"].contains { FileManager.default.isExecutableFile(atPath: $0) }
    && ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"].contains { FileManager.default.isExecutableFile(atPath: $0) }
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/nsenter")
let canUnshareMounts = canUnshare("-m")

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// The tests write tables and handlers with the modes swinetd's StrictModes
/// wants as root (0644, not the 0664 a umask of 002 gives), whatever the
/// umask of the user who runs them: set once, before any test writes a file.
let testUmask: Void = { _ = umask(0o022) }()

/// A private temporary directory for one test.
func makeTempDir() -> String {
    _ = testUmask
    var template = Array((NSTemporaryDirectory() + "swinetd-test-XXXXXX").utf8CString)
    guard let p = mkdtemp(&template) else { fatalError("mkdtemp failed") }
    return String(cString: p)
}

/// A port nobody listens on, below the kernel's ephemeral range (so no
/// client connection can take it), checked free on 127.0.0.1 and ::1.
/// Parallel tests pick at random, and a start that still collides retries.
func freePort() -> UInt16 {
    while true {
        let port = UInt16.random(in: 20000..<32000)
        if canBind(port, AF_INET) && canBind(port, AF_INET6) { return port }
    }
}

func canBind(_ port: UInt16, _ family: Int32) -> Bool {
    let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, 4)
    return withSockaddr(family == AF_INET ? "127.0.0.1" : "::1", port) { bind(fd, $0, $1) == 0 }
}

func withSockaddr<R>(_ host: String, _ port: UInt16, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    if host.contains(":") {
        var sin6 = sockaddr_in6()
        sin6.sin6_family = sa_family_t(AF_INET6)
        sin6.sin6_port = port.bigEndian
        inet_pton(AF_INET6, host, &sin6.sin6_addr)
        return withUnsafePointer(to: &sin6) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
    }
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_port = port.bigEndian
    inet_pton(AF_INET, host, &sin.sin_addr)
    return withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
}

/// One client connection: sends `send`, half-closes, reads to EOF.
/// Throws on any failure (refused, reset, timeout).
@discardableResult
func exchange(_ port: UInt16, _ send: String = "", host: String = "127.0.0.1", from source: String? = nil, timeout: Int = 10) throws -> String {
    let fd = socket(host.contains(":") ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
    defer { close(fd) }
    try bindSource(fd, source)
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let r = withSockaddr(host, port) { connect(fd, $0, $1) }
    guard r == 0 else { throw TestFailure("connect to \(host):\(port): \(String(cString: strerror(errno)))") }
    let bytes = Array(send.utf8)
    if !bytes.isEmpty {
        guard bytes.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw TestFailure("send: \(String(cString: strerror(errno)))")
        }
    }
    shutdown(fd, Int32(SHUT_WR))
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n == 0 { break }
        if n < 0 {
            if errno == EINTR { continue }
            throw TestFailure("recv from \(host):\(port): \(String(cString: strerror(errno)))")
        }
        out.append(contentsOf: buffer[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}

/// A UNIX socket address for `path`, as bind and connect take it.
func withUnixAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    var a = sockaddr_un()
    a.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &a.sun_path) { raw in for (i, b) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = b } }
    return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
}

/// A socket file that nobody listens on (bound, then closed): what a
/// server that died leaves behind.
func makeStaleSocket(_ path: String) {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    _ = withUnixAddress(path) { bind(fd, $0, $1) }
    close(fd)
}

/// Binds a client socket to `source` (127.0.0.2, 127.0.0.3 … are all
/// loopback) before it connects, so one machine plays many clients.
func bindSource(_ fd: Int32, _ source: String?) throws {
    guard let source else { return }
    guard withSockaddr(source, 0, { bind(fd, $0, $1) }) == 0 else {
        throw TestFailure("bind to \(source): \(String(cString: strerror(errno)))")
    }
}

/// Polls `condition` every 10 ms until it holds or `seconds` pass.
func waitUntil(_ seconds: Double = 10, _ what: @autoclosure () -> String = "condition", _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        usleep(10_000)
    }
    throw TestFailure("timed out after \(seconds)s waiting for \(what())")
}

func processExists(_ pid: Int32) -> Bool {
    kill(pid, 0) == 0 || errno == EPERM
}

/// The state letter of `pid` in /proc (R, S, D, T, Z...), or nil when it is gone.
func processState(_ pid: Int32) -> Character? {
    guard let stat = readText("/proc/\(pid)/stat"),
          let close = stat.lastIndex(of: ")") else { return nil }
    return stat[stat.index(close, offsetBy: 2)...].first
}

/// Whether `pid` runs (exists and is not a zombie waiting for its parent).
func isAlive(_ pid: Int32) -> Bool {
    guard let state = processState(pid) else { return false }
    return state != "Z"
}

/// The resident set of `pid` in kB (VmRSS).
func rssKB(_ pid: Int32) -> Int {
    guard let status = readText("/proc/\(pid)/status") else { return 0 }
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}

/// Children of `pid` that are zombies.
func zombies(of pid: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { child in
        guard let stat = readText("/proc/\(child)/stat"),
              let close = stat.lastIndex(of: ")") else { return false }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        return fields.count > 1 && fields[0] == "Z" && Int32(fields[1]) == pid
    }
}

/// No zombie child of `pid` is left once the master has had its moment to
/// reap: a handler that exits just before the look is a zombie until the
/// master's next SIGCHLD round, which is not a leak. One that stays for
/// 5 seconds is.
func expectNoZombiesLeft(of pid: Int32, sourceLocation: SourceLocation = #_sourceLocation) {
    let deadline = monotonicSeconds() + 5
    while !zombies(of: pid).isEmpty && monotonicSeconds() < deadline { usleep(20_000) }
    #expect(zombies(of: pid).isEmpty, "zombies of \(pid): \(zombies(of: pid))", sourceLocation: sourceLocation)
}

func openDescriptors(of pid: Int32) -> Int {
    ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count
}

/// `text` without the RFC 3339 time that starts each line written to a file
/// (`2026-12-02T15:04:05.123Z `).
func withoutTimestamps(_ text: String) -> String {
    guard text.utf8.count > 25 else { return text }
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let u = line.utf8
        if u.count >= 25, u[u.index(u.startIndex, offsetBy: 10)] == UInt8(ascii: "T"),
           u[u.index(u.startIndex, offsetBy: 23)] == UInt8(ascii: "Z"), u[u.index(u.startIndex, offsetBy: 24)] == 32 {
            out += line.dropFirst(25)
        } else {
            out += line
        }
        out += "\n"
    }
    out.removeLast()
    return out
}

/// A running swinetd with its own table, log and directory, stopped and
/// reaped by pid when the test ends.
final class Daemon {
    let dir: String
    let tablePath: String
    let logPath: String
    /// Its control socket (unless the test passed its own --control).
    let controlPath: String
    private(set) var pid: Int32 = 0
    private var exitStatus: Int32?
    /// With `logToPipe`: the read end of the pipe on swinetd's stderr, read
    /// only when the test asks (`drainPipe`), so a test can stop reading.
    private var pipeRead: Int32 = -1
    private var piped: [UInt8] = []

    /// Writes `table` and starts `swinetd run -f TABLE ARGS`, waiting for the
    /// "started" line (or for the process to end: `started` is then false).
    init(table: String, args: [String] = [], launcher: [String] = [], waitForStart: Bool = true, logToPipe: Bool = false) throws {
        dir = makeTempDir()
        tablePath = dir + "/services.yaml"
        logPath = dir + "/swinetd.log"
        try table.write(toFile: tablePath, atomically: true, encoding: .utf8)
        controlPath = dir + "/control"
        // Each daemon its own control socket: parallel tests never share one
        // (and root's default, /run/swinetd/control, is left alone).
        let control = args.contains { $0 == "--control" || $0 == "-c" } ? [] : ["--control", controlPath]
        let command = launcher + [swinetdBinary, "run", "-f", tablePath] + control + args
        if logToPipe {
            pid = try spawnProcess(command, output: nil, pipeRead: &pipeRead)
            _ = fcntl(pipeRead, F_SETFL, O_NONBLOCK)
        } else {
            pid = try spawnProcess(command, output: logPath)
        }
        if waitForStart {
            try waitUntil(20, "swinetd to start:\n\(log)") { started || !isRunning }
        }
    }

    /// The start-up line, in either log format.
    var started: Bool { log.contains("swinetd: started") || log.contains(#""event":"started""#) }

    /// The log as written: on a file, each text line starts with its time.
    var rawLog: String {
        if pipeRead >= 0 { drainPipe(); return String(decoding: piped, as: UTF8.self) }
        return readText(logPath) ?? ""
    }

    /// The log without the times at the starts of lines, as tests read it.
    var log: String { withoutTimestamps(rawLog) }
    var logLines: [String] { log.split(separator: "\n").map(String.init) }

    /// Reads what the pipe holds now (logToPipe only).
    func drainPipe() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(pipeRead, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            piped.append(contentsOf: buffer[0..<n])
        }
    }

    func waitForLog(_ needle: String, count: Int = 1, timeout: Double = 10) throws {
        try waitUntil(timeout, "\(count)× '\(needle)' in the log:\n\(log.suffix(3000))") {
            log.components(separatedBy: needle).count - 1 >= count
        }
    }

    func rewrite(_ table: String) throws {
        // Write then rename, as editors do, so a HUP never reads half a file.
        let tmp = tablePath + ".new"
        try table.write(toFile: tmp, atomically: false, encoding: .utf8)
        rename(tmp, tablePath)
    }

    func signal(_ s: Int32) { kill(pid, s) }

    /// Whether the master still runs (reaps it once it has ended).
    var isRunning: Bool {
        if exitStatus != nil { return false }
        exitStatus = reapIfExited(pid)
        return exitStatus == nil
    }

    /// Waits for the master to exit and returns its exit status.
    func waitForExit(timeout: Double = 20) throws -> Int32 {
        try waitUntil(timeout, "swinetd pid \(pid) to exit") { !isRunning }
        return exitStatus!
    }

    /// Handler pids the log has seen accepted.
    var handlerPids: [Int32] {
        logLines.filter { $0.contains(": accepted ") || ($0.contains(": started pid=") && !$0.hasPrefix("swinetd: ")) }.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("pid=") }.flatMap { Int32($0.dropFirst(4)) }
        }
    }

    deinit {
        // Under a sanitizer, swinetd's own reports land in its log.
        let text = log
        for report in ["ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer", "runtime error:"] where text.contains(report) {
            Issue.record("swinetd's log has a sanitizer report:\n\(text.suffix(4000))")
        }
        if isRunning {
            kill(pid, SIGCONT)
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        // Handlers lead their own sessions; make sure none outlives the test.
        for p in handlerPids where processExists(p) { kill(-p, SIGKILL); kill(p, SIGKILL) }
        if pipeRead >= 0 { close(pipeRead) }
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// Starts a daemon, retrying with fresh ports when a parallel test happened
/// to take one between the check and the bind.
func startDaemon(args: [String] = [], launcher: [String] = [], logToPipe: Bool = false, _ table: ([UInt16]) -> String, ports count: Int = 1) throws -> (Daemon, [UInt16]) {
    for _ in 0..<5 {
        let ports = (0..<count).map { _ in freePort() }
        let d = try Daemon(table: table(ports), args: args, launcher: launcher, logToPipe: logToPipe)
        // A port another test took meanwhile costs only that address (the
        // start goes on): try again with fresh ones.
        if d.started && !d.log.contains("Address already in use") { return (d, ports) }
        if d.started { d.signal(SIGKILL); _ = try? d.waitForExit(); continue }
        if !d.log.contains("Address already in use") { throw TestFailure("swinetd did not start:\n\(d.log)") }
    }
    throw TestFailure("no free ports after 5 tries")
}

/// A connection that stays open (a client that keeps its handler busy).
func connectOnly(_ port: UInt16, host: String = "127.0.0.1", from source: String? = nil) throws -> Int32 {
    let fd = socket(host.contains(":") ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    do { try bindSource(fd, source) } catch { close(fd); throw error }
    guard withSockaddr(host, port, { connect(fd, $0, $1) }) == 0 else {
        let e = String(cString: strerror(errno))
        close(fd)
        throw TestFailure("connect to \(host):\(port): \(e)")
    }
    return fd
}

/// The inode of the socket listening on 127.0.0.1:`port` (from /proc/net/tcp).
func listeningInode(_ port: UInt16) -> String? {
    guard let table = readText("/proc/net/tcp") else { return nil }
    let wanted = String(format: "0100007F:%04X", port)
    for line in table.split(separator: "\n").dropFirst() {
        let f = line.split(separator: " ")
        if f.count > 9, f[1] == wanted, f[3] == "0A" { return String(f[9]) }
    }
    return nil
}

/// The socket inodes among a process's descriptors.
func socketInodes(of pid: Int32) -> Set<String> {
    let dir = "/proc/\(pid)/fd"
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
    return Set(fds.compactMap { fd in
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: dir + "/" + fd),
              target.hasPrefix("socket:[") else { return nil }
        return String(target.dropFirst(8).dropLast())
    })
}

/// CPU seconds (user + system) a process has used.
func cpuSeconds(_ pid: Int32) -> Double {
    guard let stat = readText("/proc/\(pid)/stat"),
          let close = stat.lastIndex(of: ")") else { return 0 }
    let f = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
    return ((Double(f[11]) ?? 0) + (Double(f[12]) ?? 0)) / 100
}

/// glibc 2.34's posix_spawn_file_actions_addclosefrom_np, which Swift's Glibc
/// module hides behind _GNU_SOURCE.
@_silgen_name("posix_spawn_file_actions_addclosefrom_np")
func spawnAddCloseFrom(_ actions: UnsafeMutablePointer<posix_spawn_file_actions_t>, _ from: Int32) -> Int32

/// Starts `argv` with stdin on /dev/null and stdout and stderr appended to
/// `output` (or to a pipe when `output` is nil: its read end is returned in
/// `pipeRead`), and no other descriptor of the test process: parallel tests
/// must not leak their sockets into each other's daemons.
func spawnProcess(_ argv: [String], output: String?, pipeRead: UnsafeMutablePointer<Int32>? = nil, input: String = "/dev/null") throws -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, input, O_RDONLY, 0)
    var ends: [Int32] = [-1, -1]
    if let output {
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
    } else {
        guard pipe(&ends) == 0 else { throw TestFailure("pipe failed") }
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        posix_spawn_file_actions_adddup2(&actions, ends[1], 1)
        posix_spawn_file_actions_adddup2(&actions, ends[1], 2)
    }
    _ = spawnAddCloseFrom(&actions, 3)
    var pid: Int32 = 0
    let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
    defer { cArgs.forEach { free($0) } }
    let environment = ["PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root", "SWINETD_TEST_LEAK=must-not-reach-handlers"]
    let env: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
    defer { env.forEach { free($0) } }
    let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, env)
    if output == nil {
        close(ends[1])
        pipeRead?.pointee = ends[0]
    }
    guard rc == 0 else { throw TestFailure("posix_spawn \(argv[0]): \(String(cString: strerror(rc)))") }
    return pid
}

/// The exit status of `pid` if it has ended (reaping it), else nil.
func reapIfExited(_ pid: Int32) -> Int32? {
    var status: Int32 = 0
    let r = waitpid(pid, &status, WNOHANG)
    guard r == pid else { return r < 0 ? -1 : nil }
    return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
}

/// Runs `argv` to completion and returns its status and combined output.
/// With `stdin`, the command reads that text on its standard input.
func runToEnd(_ argv: [String], timeout: Double = 20, stdin: String? = nil) throws -> (status: Int32, output: String) {
    var fd: Int32 = -1
    var inputPath = "/dev/null"
    if let stdin {
        let dir = makeTempDir()
        inputPath = dir + "/stdin"
        try stdin.write(toFile: inputPath, atomically: false, encoding: .utf8)
    }
    defer { if stdin != nil { try? FileManager.default.removeItem(atPath: (inputPath as NSString).deletingLastPathComponent) } }
    let pid = try spawnProcess(argv, output: nil, pipeRead: &fd, input: inputPath)
    defer { close(fd) }
    var status: Int32?
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    _ = fcntl(fd, F_SETFL, O_NONBLOCK)
    defer {
        // A command that did not end in time is killed, never left behind.
        if status == nil { kill(pid, SIGKILL); var s: Int32 = 0; waitpid(pid, &s, 0) }
    }
    try waitUntil(timeout, "\(argv) to end") {
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        status = reapIfExited(pid)
        return status != nil
    }
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out.append(contentsOf: buffer[0..<n])
    }
    return (status!, String(decoding: out, as: UTF8.self))
}

/// Runs `body` on `count` threads at once (really at once: not a thread
/// pool sized to the cores) and waits for all of them.
func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        let t = Thread { body(i); group.leave() }
        t.stackSize = 1 << 20
        t.start()
    }
    group.wait()
}
