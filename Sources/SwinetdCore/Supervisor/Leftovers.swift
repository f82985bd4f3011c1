#if canImport(Glibc)
import Glibc
#endif

/// What a connection's handler leaves behind. A handler may start
/// processes that outlive it: `sleep 300 &` stays in its process group, and
/// `setsid` takes one out of it, where no group signal reaches. Either may
/// keep the connection open, and the client would wait for ever for an end
/// of file that no counted handler owes it.
///
/// So the master keeps its own copy of each connection it hands to a
/// (nowait) handler, close-on-exec and never given to anyone, and the
/// connection is what it tracks: shutdown(2) acts on the socket, not on a
/// descriptor, so every process that holds it sees it end, wherever that
/// process went. Both ways: SHUT_WR sends what is queued, then the FIN, so
/// a reply written just before the handler exited arrives whole; SHUT_RD
/// gives a leftover that reads the connection end of file, so it stops
/// rather than wait on a client that was told the service is done.
///
/// - When the handler exits: whatever is still in its process group gets
///   SIGKILL (systemd's KillMode=control-group for an Accept=yes unit),
///   and the connection is shut down and the copy closed.
/// - At `timeout`: SIGTERM, then 5 s later SIGKILL to the handler's group
///   and the connection shut down, unless the handler exited first. Not
///   at the SIGTERM: a handler that catches it may still say goodbye.
/// - At stop, when the grace has run out: shut down with the SIGKILL.
///
/// The price of the copy: a handler that closes its connection and goes on
/// running gives its client end of file only when it exits (documented in
/// swinetd.yaml(5), and pinned by a test).
///
/// Wait services (`wait: true`, UDP) hand their handler the listening
/// socket itself: there is no connection to end, and shutting the socket
/// down would end the service; their handlers get only the `timeout`
/// signals, to their process group.
extension Children {
    /// `pid`, a connection's handler, has exited and is not reaped yet:
    /// SIGKILL what is left of its process group. Before the reap, because
    /// the zombie holds the pid: reaped with its group empty, the pid, and
    /// so the group id, may at once be a new session leader's. Never
    /// kill(pid) alone: the zombie needs no signal.
    func killLeftovers(_ pid: pid_t) {
        kill(-pid, SIGKILL)
    }

    /// A connection's handler has been reaped: end the connection for what
    /// still holds it, and close the master's copy.
    func endConnection(afterExitOf fd: Int32) {
        endConnection(fd)
        closeDescriptor(fd)
    }

    /// Ends the connection for every process that holds it: the client
    /// reads what was queued, then end of file, and so does a leftover.
    func endConnection(_ fd: Int32) {
        _ = shutdown(fd, Int32(SHUT_RDWR))
    }
}
