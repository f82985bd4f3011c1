#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A service's own network namespace (`private_network`), empty but for
/// its loopback: made when the service's first handler is about to start,
/// entered by each of its handlers' children (setns), closed with the
/// service's plan (a reload that changes the service makes a new plan, so
/// a new namespace; running handlers keep theirs). One that could not be
/// made is tried again at the next handler, never skipped.
final class NetworkNamespace {
    private(set) var fd: Int32 = -1

    /// Makes it unless it is made: nil when it is there, else why not.
    func make() -> Errno? {
        if fd >= 0 { return nil }
        let made = clinux_empty_network_namespace()
        if made == -2 {
            // The master's thread is still in the new namespace: any socket
            // it opened from now on would be cut off from the host.
            fatalError("swinetd: could not step back into its own network namespace")
        }
        guard made >= 0 else { return Errno.current }
        fd = made
        return nil
    }

    /// Whether one can be made here (the table loader's check, as root):
    /// made and closed at once.
    static func canBeMade() -> Errno? {
        let n = NetworkNamespace()
        return n.make()
    }

    deinit {
        if fd >= 0 { closeDescriptor(fd) }
    }
}
