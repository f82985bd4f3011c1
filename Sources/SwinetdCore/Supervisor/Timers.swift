import HeapModule

/// The loop's deadlines, soonest first: the loop sleeps in epoll_wait until
/// the first one is due. A timer is never cancelled; when it fires, its
/// owner checks that it still means something (a pipe closed meanwhile has
/// another generation, a pause already ended), which keeps this a heap.
struct Timers {
    enum Kind: Equatable {
        /// Accepting resumes after running out of descriptors or memory.
        case resourcePauseEnds
        /// The next step of stopping (SIGKILL, then giving up on the stuck).
        case stopStep
        /// A handler's stderr pipe may be read again (its line budget refilled).
        case outputResumes(EventToken)
        /// Stderr pipes that outlived their handler get looked at.
        case outputSweep
        /// A held connection gets another try at a handler.
        case retryHeld(service: String)
        /// The table loader process has taken too long.
        case loaderTimeout(pid: Int32)
        /// A service paused by `rate` has its next token.
        case rateReady(service: String)
        /// Refusals left out of the log in the last second get one line.
        case refusalSummary(service: String, reason: String)
        /// Handlers with a `timeout` get looked at.
        case timeoutSweep
        /// Control (controlClient) or metrics (metricsClient) clients that overstay get dropped.
        case conversationSweep(EventToken.Kind)
        /// A wait service's socket may be watched again after a back-off.
        case backoffEnds(service: String)
        /// The upgrade's check of the new binary has taken too long.
        case upgradeCheckTimeout(pid: Int32)
        /// The metrics listeners' scrape budget has its next token.
        case metricsBudget
        /// A service's addresses that did not open get another try.
        case retryUnopened(service: String, at: UInt64)
        /// Load balancers' connections whose time to send the PROXY header is up get refused.
        case proxyDeadlines(at: UInt64)
    }

    private struct Entry: Comparable {
        var deadline: UInt64
        var sequence: UInt64
        var kind: Kind
        static func < (a: Entry, b: Entry) -> Bool { (a.deadline, a.sequence) < (b.deadline, b.sequence) }
        static func == (a: Entry, b: Entry) -> Bool { a.deadline == b.deadline && a.sequence == b.sequence }
    }

    private var heap = Heap<Entry>()
    private var sequence: UInt64 = 0

    mutating func add(_ kind: Kind, at deadline: UInt64) {
        sequence &+= 1
        heap.insert(Entry(deadline: deadline, sequence: sequence, kind: kind))
    }

    var next: UInt64? { heap.min?.deadline }

    /// Removes and returns the first timer due at `now`, if any.
    mutating func popDue(now: UInt64) -> Kind? {
        guard let first = heap.min, first.deadline <= now else { return nil }
        return heap.removeMin().kind
    }
}

extension Supervisor {
    /// Carries out every timer due at this round's `now`.
    func fireTimers() {
        while let timer = timers.popDue(now: now) {
            switch timer {
            case .resourcePauseEnds:
                if admission.resourcePauseEnds(now: now) { refreshAll() }
            case .stopStep:
                break   // stepStop runs every round
            case .outputResumes(let token):
                _ = output.resume(token)
            case .outputSweep:
                if output.sweep(now: now, log: log) { timers.add(.outputSweep, at: Nanoseconds.adding(now, HandlerOutput.sweepEvery)) }
            case .retryHeld(let name):
                if let s = services[name], children.running(name) == 0 { retryHeld(s) }
            case .loaderTimeout(let pid):
                loaderTimedOut(pid)
            case .rateReady(let name):
                if let s = services[name] { rateReady(s) }
            case .refusalSummary(let name, let reason):
                summarizeRefusals(name, reason)
            case .timeoutSweep:
                sweepTimeouts()
            case .conversationSweep(let kind):
                sweepConversations(kind)
            case .backoffEnds(let name):
                if let s = services[name] { refresh(s) }
            case .upgradeCheckTimeout(let pid):
                upgradeCheckTimedOut(pid)
            case .metricsBudget:
                metricsBudgetReady()
            case .retryUnopened(let name, let at):
                if let s = services[name] { retryUnopened(s, at: at) }
            case .proxyDeadlines(let at):
                proxyDeadlinesPassed(at)
            }
        }
    }
}
