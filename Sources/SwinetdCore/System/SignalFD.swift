#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Signals as readable events: HUP, CHLD, TERM and INT are blocked from the
/// very start (so an early one waits instead of killing or being lost) and
/// read from a signalfd inside the event loop, handled in one place.
public enum MasterSignals {
    public static let handled: [Int32] = [SIGHUP, SIGCHLD, SIGTERM, SIGINT]

    /// Blocks the handled signals and ignores SIGPIPE. Call first thing in
    /// main, before anything else can receive a signal.
    public static func block() {
        var set = sigset_t()
        sigemptyset(&set)
        for s in handled { sigaddset(&set, s) }
        sigprocmask(SIG_BLOCK, &set, nil)
        signal(SIGPIPE, SIG_IGN)
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
        case SIGCHLD: return "SIGCHLD"
        case SIGXCPU: return "SIGXCPU"
        case SIGXFSZ: return "SIGXFSZ"
        case SIGSYS: return "SIGSYS"
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
        var set = sigset_t()
        sigemptyset(&set)
        for s in MasterSignals.handled { sigaddset(&set, s) }
        sigprocmask(SIG_BLOCK, &set, nil)
        switch syscallResult({ signalfd(-1, &set, Int32(SFD_NONBLOCK | SFD_CLOEXEC)) }) {
        case .success(let d): fd = d
        case .failure(let e): throw e
        }
    }

    /// Calls `body` with every signal pending now, in arrival order (several
    /// of one kind may have merged into one: the handlers are written for that).
    func drain(_ body: (Int32) -> Void) {
        let size = MemoryLayout<signalfd_siginfo>.size
        while true {
            // One read takes every pending signal that fits; a short read
            // means none is left, so no second read just to hear EAGAIN.
            let n = batch.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { break }
            for i in 0..<(n / size) { body(Int32(batch[i].ssi_signo)) }
            if n < batch.count * size { break }
        }
    }
}
