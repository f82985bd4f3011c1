/// One descriptor's place in the epoll set, kept in step with it: whoever
/// owns a descriptor that is watched only some of the time (a listener
/// while its service is paused, a stderr pipe over its line budget, the
/// control and metrics listeners) holds one of these instead of a flag of
/// its own, so the flag and the kernel's set cannot disagree, and a change
/// costs a syscall only when it is a change.
struct Watch {
    let token: EventToken
    /// Whether the descriptor is in the epoll set now.
    private(set) var isOn: Bool

    /// `isOn`: the descriptor is already in the set (registered ahead of its
    /// use, as a spare stderr pipe is, or adopted so from an upgrade).
    init(_ token: EventToken, isOn: Bool = false) {
        self.token = token
        self.isOn = isOn
    }

    /// Adds the descriptor to `epoll` (for `events`) or removes it, only
    /// when that changes something. An add's failure (ENOMEM, ENOSPC) is
    /// returned and leaves it off; a remove cannot fail.
    @discardableResult
    mutating func set(_ on: Bool, in epoll: Epoll, events: UInt32 = Epoll.readable) -> Result<Void, Errno> {
        guard on != isOn else { return .success(()) }
        if on {
            let r = epoll.add(token, events: events)
            if case .success = r { isOn = true }
            return r
        }
        epoll.remove(token.fd)
        isOn = false
        return .success(())
    }
}
