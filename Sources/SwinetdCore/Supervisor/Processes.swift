#if canImport(Glibc)
import Glibc
#endif

/// How a handler ended, from waitpid's status.
enum ExitStatus: Equatable {
    case exited(Int)
    case signaled(Int32)

    init(_ status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited(Int((status >> 8) & 0xff)) : .signaled(signal)
    }
}

enum Processes {
    /// Reaps the next child that has exited (nil: none has). It is first
    /// only found (waitid with WNOWAIT) and given to `whileHeld` while its
    /// zombie still holds the pid: until the reap, neither that pid nor the
    /// process group id it leads can be given to a new process, so a signal
    /// to them reaches only what was the child's. Then it is reaped, and
    /// returned with waitpid's status.
    /// `only`: that child alone (the unit tests', among the test runner's).
    static func reapNext(only: pid_t? = nil, whileHeld: (pid_t) -> Void) -> (pid: pid_t, status: Int32)? {
        // Zeroed: with WNOHANG, waitid returns 0 with si_pid 0 when no
        // child has exited yet.
        var info = siginfo_t()
        let found = syscallResult { waitid(only == nil ? P_ALL : P_PID, id_t(only ?? 0), &info, WEXITED | WNOHANG | WNOWAIT) }
        let pid = info._sifields._sigchld.si_pid
        guard case .success = found, pid > 0 else { return nil }   // ECHILD: no child at all
        whileHeld(pid)
        var status: Int32 = 0
        // The zombie waits to be taken; should it somehow not be, stop
        // rather than find it again and again: the next SIGCHLD retries.
        guard case .success(pid) = syscallResult({ waitpid(pid, &status, WNOHANG) }) else { return nil }
        return (pid, status)
    }

    /// Handlers lead their own session (setsid), so a signal goes to the
    /// whole process group: what a handler started goes with it.
    static func signalGroup(_ pid: pid_t, _ signal: Int32) {
        if kill(-pid, signal) != 0 { kill(pid, signal) }
    }
}
