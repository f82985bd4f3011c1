#if canImport(Glibc)
import Glibc
#endif
@_exported import SystemPackage

// Typed errno at the syscall boundary (swift-system's Errno): wrappers return
// Result<_, Errno>, retry EINTR where that is right, and never retry close.

extension Errno {
    /// The calling thread's errno now.
    static var current: Errno { Errno(rawValue: Glibc.errno) }

    /// strerror's text, as it goes into logs: "No such file or directory".
    public var text: String { description }
}

/// Runs `body` until it does not fail with EINTR (when asked), turning -1 into
/// the errno.
@inline(__always)
func syscallResult<I: FixedWidthInteger>(retryOnInterrupt: Bool = true, _ body: () -> I) -> Result<I, Errno> {
    while true {
        let r = body()
        if r != -1 { return .success(r) }
        let e = Errno.current
        if retryOnInterrupt && e == .interrupted { continue }
        return .failure(e)
    }
}

/// close(2), once: after EINTR the descriptor is already gone on Linux.
@inline(__always)
func closeDescriptor(_ fd: Int32) {
    _ = Glibc.close(fd)
}

/// Monotonic nanoseconds, for durations and deadlines.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}
