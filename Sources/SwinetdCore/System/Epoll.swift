#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// The master's one epoll instance. Level-triggered: a listener that still has
/// connections queued wakes the loop again, so a bounded accept batch loses nothing.
final class Epoll {
    let fd: Int32
    private var events: [epoll_event]

    init(capacity: Int = 256) throws(Errno) {
        switch syscallResult({ epoll_create1(Int32(EPOLL_CLOEXEC)) }) {
        case .success(let d): fd = d
        case .failure(let e): throw e
        }
        events = Array(repeating: epoll_event(), count: capacity)
    }

    deinit { closeDescriptor(fd) }

    /// Watches `target` for readability.
    @discardableResult
    func add(_ target: Int32) -> Result<Void, Errno> {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.fd = target
        return syscallResult { epoll_ctl(fd, EPOLL_CTL_ADD, target, &event) }.map { _ in () }
    }

    func remove(_ target: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(fd, EPOLL_CTL_DEL, target, &event)
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever); returns how many
    /// descriptors are ready, each then read with `ready(_:)`.
    /// EINTR counts as zero: the loop just goes round.
    func wait(timeoutMilliseconds: Int32) -> Int {
        let capacity = Int32(events.count)
        let n = events.withUnsafeMutableBufferPointer { buf in
            epoll_wait(fd, buf.baseAddress, capacity, timeoutMilliseconds)
        }
        return max(Int(n), 0)
    }

    func ready(_ index: Int) -> Int32 { events[index].data.fd }
}
