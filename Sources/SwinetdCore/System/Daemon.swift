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

    /// Returns only in the daemon, with the write end of the start-up pipe
    /// (log start-up lines there, then call `ready`). The starting process
    /// never returns from here.
    public static func detach() -> Int32 {
        var ends: [Int32] = [-1, -1]
        guard clinux_pipe2(&ends, O_CLOEXEC) == 0 else {
            Log().raw("swinetd: cannot daemonize: \(Errno.current.text)")
            exit(1)
        }
        let first = cspawn_fork()
        if first < 0 {
            Log().raw("swinetd: cannot daemonize: \(Errno.current.text)")
            exit(1)
        }
        if first > 0 {
            closeDescriptor(ends[1])
            exit(waitForDaemon(ends[0], intermediate: first))
        }
        setsid()
        let second = cspawn_fork()
        if second != 0 { _exit(second < 0 ? 1 : 0) }
        closeDescriptor(ends[0])
        _ = chdir("/")
        let null = open("/dev/null", O_RDWR)
        if null >= 0 {
            dup2(null, 0); dup2(null, 1); dup2(null, 2)
            if null > 2 { closeDescriptor(null) }
        }
        return ends[1]
    }

    /// Tells the starting process that the daemon listens.
    public static func ready(_ fd: Int32) {
        var byte = readyByte
        _ = write(fd, &byte, 1)
        closeDescriptor(fd)
    }

    private static func waitForDaemon(_ fd: Int32, intermediate: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(intermediate, &status, 0) < 0 && errno == EINTR {}
        var buffer = [UInt8](repeating: 0, count: 4096)
        var ready = false
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            var text = buffer[0..<n]
            if let i = text.firstIndex(of: readyByte) {
                ready = true
                text = text[..<i]
            }
            _ = text.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if ready { break }
        }
        return ready ? 0 : 1
    }
}
