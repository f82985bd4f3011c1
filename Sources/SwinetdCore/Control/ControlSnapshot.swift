/// What of the control socket an upgrade hands to the new image: the very
/// listening socket, and the clients still waiting for an answer (their
/// descriptors stay open across the exec; the new image answers them).
extension ControlServer {
    struct Snapshot: Codable, Equatable {
        /// The listening socket.
        var fd: Int32
        /// `reload` clients not answered yet: the new image reloads and answers them.
        var reloadWaiters: [Int32] = []
        /// `upgrade` clients: the new image answers them with the upgrade's outcome.
        var upgradeWaiters: [Int32] = []
    }

    /// This socket and its waiting clients (`upgradeWaiters`: the upgrade's
    /// own, which the loop keeps); clients already gone are left out.
    func snapshot(upgradeWaiters: [Conversations.Conversation]) -> Snapshot {
        Snapshot(fd: fd, reloadWaiters: openReloadWaiters.map(\.fd),
                 upgradeWaiters: upgradeWaiters.filter { conversations.isOpen($0) }.map(\.fd))
    }

    /// The replaced image's waiting clients, on this server made from
    /// `snapshot.fd`: each `reload` client waits for the load numbered
    /// `load` or later (one that has not begun yet); returns the `upgrade`
    /// clients, whom the caller answers. A client the loop cannot take is
    /// closed (it sees the connection end, as when the master dies).
    func adopt(_ snapshot: Snapshot, load: UInt64, now: UInt64) -> [Int32] {
        for fd in snapshot.reloadWaiters {
            guard let conversation = conversations.add(fd, now: now) else { continue }
            addReloadWaiter(conversation, load: load, now: now)
        }
        watchListener()
        return snapshot.upgradeWaiters
    }
}
