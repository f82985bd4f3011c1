/// What a reload job reads of the live table as it goes: the loop's own
/// services and listeners in production, a plain value in tests. Each read
/// sees every effect applied so far (the loop applies one before the job
/// decides the next).
protocol ReloadView {
    /// The live services' names.
    var serviceNames: [String] { get }
    /// A live service's settings.
    func config(of service: String) -> ServiceConfig?
    /// The addresses listening now.
    var listening: Set<ListenAddress> { get }
    /// The service that accepts on `address` now, and its socket's
    /// backlog; nil when nothing listens there.
    func listener(at address: ListenAddress) -> (owner: String, backlog: Int)?
}

/// A new table on its way in, from the loader's answer to the last socket
/// opened, carried out in steps of at most `stepBudget` of the loop's time
/// so that serving never stops for longer, however large the change:
/// 1. decode the loader's frames (only changed services carry settings);
/// 2. decide the `ReloadPlan` (one go: a few milliseconds for the largest table);
/// 3. add and change services; give kept listeners to their new owners;
///    remove the services that are gone;
/// 4. close the listeners no service wants any more;
/// 5. open the new ones, each service watched as soon as its sockets are.
/// Between steps the loop serves as usual; a HUP meanwhile waits for the
/// job to end, and a stop abandons it.
///
/// The job only decides: each item it takes on is either work of its own
/// (a frame decoded, the plan made) or a `ReloadEffect` it returns for
/// the loop to apply to the listeners, the services and admission. So it
/// is driven in tests with a fake table and a fake clock, no process and
/// no socket.
final class ReloadJob {
    static let stepBudget: UInt64 = 20 * Nanoseconds.perMillisecond

    enum Purpose { case start, reload }
    enum Stage { case decoding, planning, updating, owning, removing, closing, opening, done }

    let purpose: Purpose
    private(set) var stage = Stage.decoding
    /// The loader's answer could not be decoded (or named a service that
    /// is not live): the job ended having changed nothing.
    private(set) var malformed = false
    private var stream: TableStream
    private var table: [ServiceConfig] = []
    private(set) var plan = ReloadPlan()
    /// The plan's owners as a list, walked in steps.
    private var owning: [(ListenAddress, String)] = []
    /// Both effects of one kept address are decided from one look at it.
    private var backlogDue: ReloadEffect?
    private(set) var outcome = Outcome()
    /// The next item of the current stage.
    private var next = 0
    /// The loop's time spent on this job so far, and its longest step.
    private(set) var blocked: UInt64 = 0
    private(set) var longest: UInt64 = 0
    /// The clock's reading when the last step ended.
    private(set) var lastStepEnded: UInt64 = 0

    init(_ stream: TableStream, purpose: Purpose) {
        self.stream = stream
        self.purpose = purpose
        table.reserveCapacity(stream.header.services)
    }

    var isDone: Bool { stage == .done }

    /// The table's `metrics` addresses.
    var metrics: [ListenAddress] { stream.header.metrics }

    private func advance(to stage: Stage) {
        self.stage = stage
        next = 0
    }

    /// One step: items taken on one at a time, each effect handed to
    /// `apply` (the loop; it returns false for an address that did not
    /// open) before the next is decided, until `budget` of `clock` has
    /// passed. At least one item, whatever the budget: a step always
    /// progresses.
    func step(budget: UInt64, clock: () -> UInt64, view: some ReloadView, apply: (ReloadEffect) -> Bool) {
        let began = clock()
        let deadline = Nanoseconds.adding(began, budget)
        var now = began
        repeat {
            if let effect = next(view), !apply(effect), case .openAddress = effect { outcome.failed += 1 }
            now = clock()
        } while now < deadline && stage != .done
        blocked += Nanoseconds.since(now, began)
        longest = max(longest, Nanoseconds.since(now, began))
        lastStepEnded = now
    }

    /// Takes on the next item: returns the effect it decided, or nil when
    /// the item was work of the job's own (or the job is done).
    func next(_ view: some ReloadView) -> ReloadEffect? {
        switch stage {
        case .decoding:
            do {
                guard let entry = try stream.next() else { advance(to: .planning); return nil }
                switch entry {
                case .changed(let config): table.append(config)
                case .unchanged(let name):
                    // Reloads run one at a time, so what the loader saw is still live.
                    guard let config = view.config(of: name) else { throw Packed.Malformed() }
                    table.append(config)
                }
            } catch {
                table = []
                malformed = true
                advance(to: .done)
            }
            return nil
        case .planning:
            let new = ServiceTable(services: table, maxChildren: stream.header.maxChildren)
            plan = ReloadPlan.make(currentNames: view.serviceNames, config: { view.config(of: $0) }, listening: view.listening, table: new)
            outcome = Outcome(added: plan.added.count, removed: plan.removed.count, changed: plan.changed.count, unchanged: plan.unchanged.count)
            advance(to: .updating)
            return nil
        case .updating:
            guard next < table.count else {
                table = []
                advance(to: .owning)
                return .setMaxChildren(stream.header.maxChildren)
            }
            let config = table[next]
            next += 1
            switch view.config(of: config.name) {
            case nil: return .addService(config)
            case let live? where live != config: return .changeService(config)
            default: return nil
            }
        case .owning:
            return giveOwner(view)
        case .removing:
            guard next < plan.removed.count else { advance(to: .closing); return .refreshAll }
            next += 1
            return .removeService(plan.removed[next - 1])
        case .closing:
            guard next < plan.close.count else { advance(to: .opening); return nil }
            next += 1
            return .closeAddress(plan.close[next - 1])
        case .opening:
            guard next < plan.open.count else { advance(to: .done); return nil }
            let address = plan.open[next]
            next += 1
            let owner = plan.owners[address]!
            // A retry of an address that had not opened may have opened it meanwhile.
            if view.listener(at: address)?.owner == owner { return nil }
            return .openAddress(address, for: owner)
        case .done:
            return nil
        }
    }

    /// The next kept listener goes to the service that names it now, and
    /// takes that service's backlog.
    private func giveOwner(_ view: some ReloadView) -> ReloadEffect? {
        if let due = backlogDue {
            backlogDue = nil
            return due
        }
        if next == 0 { owning = Array(plan.owners) }
        guard next < owning.count else {
            owning = []
            advance(to: .removing)
            return nil
        }
        let (address, owner) = owning[next]
        next += 1
        guard let l = view.listener(at: address), let config = view.config(of: owner) else { return nil }
        let backlog: ReloadEffect? = l.backlog != config.backlog ? .setBacklog(address, config.backlog) : nil
        guard l.owner != owner else { return backlog }
        backlogDue = backlog
        return .giveAddress(address, to: owner)
    }
}
