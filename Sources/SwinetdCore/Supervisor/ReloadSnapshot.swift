/// What of a reload an upgrade hands to the new image. An upgrade begins
/// only when no load and no job are under way (beginUpgradeWhenIdle), so
/// all there is to hand over is a HUP kept for afterwards: the new image
/// reloads at once. Clients waiting for a reload's outcome are Control's
/// (ControlServer.Snapshot).
extension Reload {
    struct Snapshot: Codable, Equatable {
        var pending: Bool
    }

    func snapshot() -> Snapshot { Snapshot(pending: pending) }

    /// Takes the replaced image's reload state (at start, before any load).
    func adopt(_ snapshot: Snapshot) {
        if snapshot.pending { keepPending() }
    }
}
