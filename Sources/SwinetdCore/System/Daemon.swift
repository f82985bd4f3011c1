#if canImport(Glibc)
import Glibc
#endif
import CLinux
import CSpawn

/// `--daemon`: detach from the terminal the classic way (fork, setsid, fork),
/// while the command that started it waits to learn whether the daemon came
/// up: it exits 0 only once the daemon listens, and otherwise prints the
/// daemon's start-up errors and exits 1.
public enum Daemon {
    /// The byte that means "listening": start-up log lines come before it.
    static let readyByte: UInt8 = 0

    public enum Outcome {
        /// In the daemon: log start-up lines to `ready`, then call `ready(_:)`.
        case daemon(ready: Int32)
        /// In the starting process (or the intermediate one): exit with this.
        case exit(Int32)
    }

    /// Forks twice. The daemon keeps descriptors 0 to 2 (on /dev/null), the
    /// spawn slots, the start-up pipe and its own binary (an upgrade's way
    /// back, see SelfExecutable), and closes everything else it inherited:
    /// it starts with what it opens itself.
    public static func detach() -> Outcome {
        var ends: [Int32] = [-1, -1]
        guard clinux_pipe2(&ends, O_CLOEXEC) == 0 else { return failed("pipe2") }
        let first = cspawn_fork()
        if first < 0 { return failed("fork") }
        if first > 0 {
            closeDescriptor(ends[1])
            return .exit(waitForDaemon(ends[0], intermediate: first))
        }
        closeDescriptor(ends[0])
        if setsid() < 0 { report(ends[1], "setsid"); return .exit(1) }
        let second = cspawn_fork()
        if second < 0 { report(ends[1], "fork"); return .exit(1) }
        if second > 0 { return .exit(0) }
        _ = chdir("/")
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        if null >= 0 {
            dup2(null, 0); dup2(null, 1); dup2(null, 2)
            closeDescriptor(null)
        }
        closeInherited(keeping: [0, 1, 2, 3, 4, cspawn_null_fd(), ends[1]] + (SelfExecutable.descriptor >= 0 ? [SelfExecutable.descriptor] : []))
        return .daemon(ready: ends[1])
    }

    /// Tells the starting process that the daemon listens.
    public static func ready(_ fd: Int32) {
        writeAll(fd, [readyByte])
        closeDescriptor(fd)
    }

    /// Closes every descriptor but `keep`, with close_range over the gaps.
    static func closeInherited(keeping keep: [Int32]) {
        var from: UInt32 = 0
        for k in Set(keep).sorted() where k >= 0 {
            if UInt32(k) > from { _ = clinux_close_range(from, UInt32(k) - 1) }
            from = UInt32(k) + 1
        }
        _ = clinux_close_range(from, UInt32.max)
    }

    private static func failed(_ step: String) -> Outcome {
        Log().event(.error, "swinetd", "error", ["op": .string(step), "error": .string(Errno.current.text)])
        return .exit(1)
    }

    private static func report(_ fd: Int32, _ step: String) {
        writeAll(fd, Array("swinetd: error op=\(step) error=\"\(Errno.current.text)\"\n".utf8))
    }

    private static func waitForDaemon(_ fd: Int32, intermediate: pid_t) -> Int32 {
        var status: Int32 = 0
        _ = syscallResult { waitpid(intermediate, &status, 0) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var ready = false
        while true {
            let received = buffer.withUnsafeMutableBytes { buf in syscallResult { read(fd, buf.baseAddress, buf.count) } }
            guard case .success(let n) = received, n > 0 else { break }
            var text = buffer[0..<n]
            if let i = text.firstIndex(of: readyByte) {
                ready = true
                text = text[..<i]
            }
            writeAll(2, Array(text))
            if ready { break }
        }
        return ready ? 0 : 1
    }
}
