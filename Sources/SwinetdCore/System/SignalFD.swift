#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Signals as readable events. Every signal that would otherwise end the
/// master silently (HUP, INT, QUIT, TERM, USR1, USR2, ALRM, VTALRM, PROF,
/// XCPU, XFSZ, PWR, SYS, STKFLT, IO, TRAP and 32 to 64) plus CHLD is blocked
/// from the first instruction of main and read from a signalfd inside the
/// event loop, handled in one place. Faults (SEGV, BUS, ILL, FPE, ABRT) keep
/// their default so a crash is a crash; stop signals keep theirs.
public enum MasterSignals {
    public static let handled: [Int32] = [
        SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF,
        SIGXCPU, SIGXFSZ, SIGPWR, SIGSYS, SIGSTKFLT, SIGIO, SIGTRAP,
    ] + Array(32...64)

    static var mask: clinux_sigmask {
        handled.reduce(0) { $0 | (1 << UInt64($1 - 1)) }
    }

    /// Resets each handled signal to its default disposition (a parent may
    /// have left one ignored: an ignored SIGCHLD makes the kernel reap
    /// handlers itself, unseen), blocks them all, and ignores SIGPIPE.
    /// Call first thing in main, before anything else can receive a signal.
    public static func block() {
        _ = clinux_sigprocmask(SIG_BLOCK, mask)
        for s in handled { _ = clinux_default_disposition(s) }
        signal(SIGPIPE, SIG_IGN)
    }

    /// For a command that is not the master (`check`): signals act as usual,
    /// so Ctrl-C ends it.
    public static func unblock() {
        _ = clinux_sigprocmask(SIG_UNBLOCK, mask)
    }

    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGHUP: return "SIGHUP"
        case SIGINT: return "SIGINT"
        case SIGQUIT: return "SIGQUIT"
        case SIGILL: return "SIGILL"
        case SIGTRAP: return "SIGTRAP"
        case SIGABRT: return "SIGABRT"
        case SIGBUS: return "SIGBUS"
        case SIGFPE: return "SIGFPE"
        case SIGKILL: return "SIGKILL"
        case SIGUSR1: return "SIGUSR1"
        case SIGSEGV: return "SIGSEGV"
        case SIGUSR2: return "SIGUSR2"
        case SIGPIPE: return "SIGPIPE"
        case SIGALRM: return "SIGALRM"
        case SIGTERM: return "SIGTERM"
        case SIGSTKFLT: return "SIGSTKFLT"
        case SIGCHLD: return "SIGCHLD"
        case SIGCONT: return "SIGCONT"
        case SIGSTOP: return "SIGSTOP"
        case SIGTSTP: return "SIGTSTP"
        case SIGTTIN: return "SIGTTIN"
        case SIGTTOU: return "SIGTTOU"
        case SIGURG: return "SIGURG"
        case SIGXCPU: return "SIGXCPU"
        case SIGXFSZ: return "SIGXFSZ"
        case SIGVTALRM: return "SIGVTALRM"
        case SIGPROF: return "SIGPROF"
        case SIGWINCH: return "SIGWINCH"
        case SIGIO: return "SIGIO"
        case SIGPWR: return "SIGPWR"
        case SIGSYS: return "SIGSYS"
        // glibc keeps 32 and 33 for itself; SIGRTMIN is 34 for programs.
        case 34: return "SIGRTMIN"
        case 64: return "SIGRTMAX"
        case 35..<64: return "SIGRTMIN+\(signal - 34)"
        default: return "SIG\(signal)"
        }
    }
}

/// The signalfd over `MasterSignals.handled`.
final class SignalFD {
    let fd: Int32
    /// Reused by every drain: reading signals allocates nothing.
    private var batch = [signalfd_siginfo](repeating: signalfd_siginfo(), count: 16)

    init() throws(Errno) {
        switch syscallResult({ clinux_signalfd(MasterSignals.mask, Int32(SFD_NONBLOCK | SFD_CLOEXEC)) }) {
        case .success(let d): fd = d
        case .failure(let e): throw e
        }
    }

    deinit { closeDescriptor(fd) }

    /// Calls `body` with every signal pending now, in arrival order (several
    /// of one kind may have merged into one: the handlers are written for that).
    func drain(_ body: (Int32) -> Void) {
        let size = MemoryLayout<signalfd_siginfo>.size
        while true {
            // One read takes every pending signal that fits; a short read
            // means none is left, so no second read just to hear EAGAIN.
            let n = batch.withUnsafeMutableBytes { buf in
                loopCall("read(signalfd)") { Glibc.read(fd, buf.baseAddress, buf.count) }
            }
            guard case .success(let count) = n, count > 0 else { break }
            for i in 0..<(count / size) { body(Int32(batch[i].ssi_signo)) }
            if count < batch.count * size { break }
        }
    }
}
