#if canImport(Glibc)
import Glibc
#endif

/// Descriptors 0 to 2 at start. A master started with one of them closed
/// would hand that number to the first descriptor it opens (the epoll
/// instance, a listening socket), and then a log line would go into it.
public enum StandardDescriptors {
    /// Opens /dev/null on each of 0, 1 and 2 that is closed; returns the ones
    /// that were. Call first thing in main, before anything opens a descriptor.
    @discardableResult
    public static func ensureOpen() -> [Int32] {
        var closed: [Int32] = []
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            // open returns the lowest free number: this very one.
            let null = open("/dev/null", O_RDWR)
            if null != fd && null >= 0 { _ = dup2(null, fd); Glibc.close(null) }
            closed.append(fd)
        }
        closedAtStart = closed
        return closed
    }

    /// What `ensureOpen` found closed.
    public private(set) nonisolated(unsafe) static var closedAtStart: [Int32] = []
}
