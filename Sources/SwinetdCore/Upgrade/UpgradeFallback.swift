#if canImport(Glibc)
import Glibc
#endif

/// An upgrade is never worse than no upgrade: a new image that cannot
/// serve (its start failed, it cannot read the state, it rejects the
/// command line) execs the image it replaced again, from the descriptor of
/// the old binary that image kept (`SWINETD_UPGRADE_FALLBACK_FD`, see
/// SelfExecutable), with the very state it was handed and the reason in
/// `SWINETD_UPGRADE_FAILED`. The same pid again: the old image takes every
/// socket and handler back, as after any upgrade, and answers
/// `swinetd upgrade` with exit 1 and the reason.
///
/// What it cannot cover is a new image that dies before any code of ours
/// runs in it (a binary that crashes at once): the upgrade's pre-flight
/// (UpgradePreflight, run in a child first) is there to catch that one.
public enum UpgradeFallback {
    /// Execs the replaced image with its state; returns only if there is
    /// none to go back to or the exec failed (the caller then exits).
    public static func reexecOld(reason: String, log: Log?) {
        guard let old = InheritedDescriptors.fallbackBinary, let stateFD = InheritedDescriptors.handedState else {
            log?.event(.error, "upgrade", "no-fallback", ["reason": .string(reason)])
            log?.flush(waitingAtMost: 1000)
            return
        }
        // What the state names goes back across exec; what it does not name
        // (a state this image cannot read) was never made close-on-exec.
        let state = UpgradeState.read(stateFD)
        if let state { UpgradeState.inherit(state.descriptors, true) }
        UpgradeState.inherit([stateFD], true)
        _ = lseek(stateFD, 0, SEEK_SET)
        let oneLine = String(reason.map { $0 == "\n" || $0 == "\r" ? " " : $0 })
        setenv("SWINETD_UPGRADE_FD", String(stateFD), 1)
        setenv("SWINETD_UPGRADE_FAILED", oneLine, 1)
        log?.event(.error, "upgrade", "fallback", ["reason": .string(oneLine)])
        log?.flush(waitingAtMost: 1000)
        // 0.6.0's first states had no command line: then this image's.
        let args = state.flatMap { $0.arguments.isEmpty ? nil : $0.arguments } ?? CommandLine.arguments
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        fexecve(old, &argv, environ)
        let e = Errno.current
        for p in argv { free(p) }
        log?.event(.error, "upgrade", "error", ["op": .string("fexecve"), "error": .string(e.text)])
        log?.flush(waitingAtMost: 1000)
        if let state { UpgradeState.inherit(state.descriptors, false) }
        unsetenv("SWINETD_UPGRADE_FD")
        unsetenv("SWINETD_UPGRADE_FAILED")
    }
}
