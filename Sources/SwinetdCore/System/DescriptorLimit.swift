#if canImport(Glibc)
import Glibc
#endif
import CSpawn

/// The master's descriptor budget. Each running handler of a TCP or UNIX
/// stream service costs it two descriptors (its copy of the connection, and
/// with `stderr: log` the pipe's read end), so the common soft limit of 1024
/// would run out near 500 handlers, under the default `max_children` of
/// 1024 (accepting then pauses: EMFILE). The master raises its soft
/// RLIMIT_NOFILE to the hard limit; its handlers get back the soft limit
/// swinetd was started with (see cspawn_set_handler_nofile).
enum DescriptorLimit {
    /// Raises the soft limit to the hard one and returns the soft limit
    /// handlers are to get: `inherited` (what an upgrade's replaced image
    /// was started with), or the soft limit found now.
    @discardableResult
    static func raise(keepingForHandlers inherited: UInt64? = nil) -> UInt64? {
        var rl = rlimit()
        guard getrlimit(nofile, &rl) == 0 else { return nil }
        let forHandlers = inherited ?? UInt64(rl.rlim_cur)
        cspawn_set_handler_nofile(forHandlers)
        if rl.rlim_cur != rl.rlim_max {
            rl.rlim_cur = rl.rlim_max
            _ = setrlimit(nofile, &rl)   // best effort: the limit found still serves
        }
        return forHandlers
    }

    /// RLIMIT_NOFILE (Linux's number; see ResourceLimit.known).
    private static let nofile = __rlimit_resource_t(7)
}
