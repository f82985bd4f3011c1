#if canImport(Glibc)
import Glibc
#endif

/// A running handler.
struct Child: Equatable, Codable {
    let service: String
    let peer: String
    let started: UInt64
    /// False for a child whose exec failed: it has already exited, and it
    /// neither counts against a limit nor frees a slot when reaped.
    let counted: Bool
    /// The client group it counts under for `per_source`.
    var group: PeerAddress? = nil
    /// When its `timeout` runs out.
    var deadline: UInt64? = nil
    /// How far its timeout has gone.
    var timeout = TimeoutState.running
    /// A wait handler: the socket it was given.
    var waitAddress: ListenAddress? = nil
    /// A connection's handler: the master's own copy of the connection,
    /// shut down when the handler exits or gets its `timeout`'s SIGKILL
    /// (see Leftovers.swift).
    var connection: Int32? = nil

    enum TimeoutState: Equatable, Codable {
        case running
        /// SIGTERM sent; SIGKILL at this time if it still runs.
        case terminated(killAt: UInt64)
        case killed
    }

    var timedOut: Bool { timeout != .running }
}

/// The handlers that run, by pid, with a count per service *name*: a
/// service that is removed and added back while its old handlers still run
/// counts them, and a retired service needs no state of its own. A plain
/// value, so the reap accounting is unit-tested without processes.
struct ChildTable {
    private(set) var byPID: [pid_t: Child] = [:]
    private var perService: [String: Int] = [:]
    /// Counted handlers of all services (what max_children limits).
    private(set) var total = 0
    /// Handlers with a `timeout` (what the timeout sweep looks at).
    private(set) var timed = 0

    var isEmpty: Bool { byPID.isEmpty }
    var pids: [pid_t] { Array(byPID.keys) }

    func running(_ service: String) -> Int { perService[service] ?? 0 }

    mutating func add(_ pid: pid_t, _ child: Child) {
        byPID[pid] = child
        if child.deadline != nil { timed += 1 }
        if child.counted {
            perService[child.service, default: 0] += 1
            total += 1
        }
    }

    /// The child that was `pid`, now gone from the table (nil: not ours).
    mutating func remove(_ pid: pid_t) -> Child? {
        guard let child = byPID.removeValue(forKey: pid) else { return nil }
        if child.deadline != nil { timed -= 1 }
        if child.counted {
            total -= 1
            let n = perService[child.service, default: 1] - 1
            perService[child.service] = n == 0 ? nil : n
        }
        return child
    }

    /// The signals `timeout` calls for at `now`: SIGTERM to a handler whose
    /// deadline has passed, SIGKILL to one still running `killAfter` later.
    mutating func timeouts(now: UInt64, killAfter: UInt64) -> [(pid: pid_t, signal: Int32)] {
        guard timed > 0 else { return [] }
        var due: [(pid: pid_t, signal: Int32)] = []
        for (pid, child) in byPID {
            guard let deadline = child.deadline, now >= deadline else { continue }
            switch child.timeout {
            case .running:
                byPID[pid]?.timeout = .terminated(killAt: Nanoseconds.adding(now, killAfter))
                due.append((pid, SIGTERM))
            case .terminated(let killAt) where now >= killAt:
                byPID[pid]?.timeout = .killed
                due.append((pid, SIGKILL))
            default:
                break
            }
        }
        return due
    }
}
