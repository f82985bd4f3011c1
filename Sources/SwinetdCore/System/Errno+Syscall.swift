#if canImport(Glibc)
import Glibc
#endif
@_exported import SystemPackage

// One errno policy (swift-system's Errno, SwiftNIO's rules): every call goes
// through a wrapper that returns Result<_, Errno>; EINTR is retried where
// that is right and never for close; EBADF, EFAULT and EINVAL from a call on
// the loop's own descriptors mean swinetd itself is wrong, so they stop the
// master loudly instead of being read as "nothing to do"; every other
// failure is handled or logged by the caller.

extension Errno {
    /// The calling thread's errno now.
    static var current: Errno { Errno(rawValue: Glibc.errno) }

    /// strerror's text, as it goes into logs: "No such file or directory".
    public var text: String { description }

    /// Whether this errno from `call` on one of the loop's own descriptors
    /// can only be a bug in swinetd.
    var isProgrammingError: Bool {
        self == .badFileDescriptor || self == .badAddress || self == .invalidArgument
    }
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

/// The policy for a call on the loop's own descriptors: a programming error
/// stops the master with the call's name, anything else is returned.
@inline(__always)
func loopCall<I: FixedWidthInteger>(_ name: StaticString, _ body: () -> I) -> Result<I, Errno> {
    syscallResult(body).stoppingOnBug(name)
}

extension Result where Failure == Errno {
    /// `loopCall`'s policy for a call made through a helper (readAll, say):
    /// a programming error stops the master with the call's name.
    @inline(__always)
    func stoppingOnBug(_ name: StaticString) -> Self {
        if case .failure(let e) = self, e.isProgrammingError {
            fatalError("swinetd bug: \(name) failed with \(e.text)")
        }
        return self
    }
}

/// close(2), once: after EINTR the descriptor is already gone on Linux.
/// EBADF means the descriptor was closed twice, which is a bug.
@inline(__always)
func closeDescriptor(_ fd: Int32) {
    if Glibc.close(fd) != 0 && errno == EBADF {
        fatalError("swinetd bug: close(\(fd)) failed with EBADF")
    }
}
