#if canImport(Glibc)
import Glibc
import CLinux
#endif

/// A new table on its way in, from the loader's answer to the last socket
/// opened, carried out in steps of at most `stepBudget` of the loop's time
/// so that serving never stops for longer, however large the change:
/// 1. decode the loader's frames (only changed services carry settings);
/// 2. decide the `ReloadPlan` and move the services to it (cheap, one go);
/// 3. close the listeners no service wants any more;
/// 4. open the new ones, each service watched as soon as its sockets are.
/// Between steps the loop serves as usual; a HUP meanwhile waits for the
/// job to end, and a stop abandons it.
final class ReloadJob {
    static let stepBudget: UInt64 = 20 * Nanoseconds.perMillisecond

    enum Purpose { case start, reload }
    enum Stage { case decoding, planning, closing, opening, done }

    let purpose: Purpose
    private(set) var stage = Stage.decoding
    var stream: TableStream
    var table: [ServiceConfig] = []
    var plan = ReloadPlan()
    var outcome = Outcome()
    var nextClose = 0
    var nextOpen = 0
    /// The loop's time spent on this job so far, and its longest step.
    var blocked: UInt64 = 0
    var longest: UInt64 = 0

    init(_ stream: TableStream, purpose: Purpose) {
        self.stream = stream
        self.purpose = purpose
        table.reserveCapacity(stream.header.services)
    }

    func advance(to next: Stage) { stage = next }
}

extension Supervisor {
    /// One step of the running job; at the start, `budget` may be unbounded.
    func stepReloadJob(budget: UInt64 = ReloadJob.stepBudget) {
        guard let job = reloadJob else { return }
        let began = monotonicNanoseconds()
        let deadline = Nanoseconds.adding(began, budget)
        var now = began
        while now < deadline && job.stage != .done {
            switch job.stage {
            case .decoding:
                do {
                    guard let entry = try job.stream.next() else { job.advance(to: .planning); break }
                    switch entry {
                    case .changed(let config): job.table.append(config)
                    case .unchanged(let name):
                        // Reloads run one at a time, so what the loader saw is still live.
                        guard let s = services[name] else { throw Packed.Malformed() }
                        job.table.append(s.config)
                    }
                } catch {
                    reloadJob = nil
                    rejected(TableErrors([Diagnostic(file: options.configPath, mark: nil, message: "the table loader's answer is malformed")]))
                    return
                }
            case .planning:
                plan(job)
            case .closing:
                if job.nextClose < job.plan.close.count {
                    closeListener(job.plan.close[job.nextClose])
                    job.nextClose += 1
                } else {
                    job.advance(to: .opening)
                }
            case .opening:
                if job.nextOpen < job.plan.open.count {
                    let address = job.plan.open[job.nextOpen]
                    job.nextOpen += 1
                    let s = services[job.plan.owners[address]!]!
                    if openListener(address, for: s) { refresh(s) } else { job.outcome.failed += 1 }
                } else {
                    job.advance(to: .done)
                }
            case .done:
                break
            }
            now = monotonicNanoseconds()
        }
        job.blocked += Nanoseconds.since(now, began)
        job.longest = max(job.longest, Nanoseconds.since(now, began))
        if job.stage == .done { finish(job, now: now) }
    }

    /// Step 2: the plan, and the services moved to it.
    private func plan(_ job: ReloadJob) {
        let table = ServiceTable(services: job.table, maxChildren: job.stream.header.maxChildren)
        let plan = ReloadPlan.make(current: services.mapValues(\.config), listening: Set(listeners.byAddress.keys), table: table)
        job.plan = plan
        job.outcome = Outcome(added: plan.added.count, removed: plan.removed.count,
                              changed: plan.changed.count, unchanged: plan.unchanged.count)
        for name in plan.removed {
            if let s = services.removeValue(forKey: name) { dropHeld(s, reason: "removed") }
        }
        for config in table.services {
            if let s = services[config.name] {
                if s.config != config { s.config = config }
            } else {
                services[config.name] = ServiceState(config)
            }
        }
        for (address, owner) in plan.owners {
            guard let l = listeners[address] else { continue }
            listeners.setOwner(address, owner)
            let backlog = services[owner]!.config.backlog
            if l.backlog != backlog, case .success = Socket.setBacklog(l.fd, backlog) { l.backlog = backlog }
        }
        admission.maxChildren = table.maxChildren
        refreshAll()
        job.table = []
        job.advance(to: .closing)
    }

    private func finish(_ job: ReloadJob, now: UInt64) {
        reloadJob = nil
        refreshAll()
        // What a large table allocated is freed now; give it back, so the
        // master's size follows the table it serves.
        clinux_malloc_trim()
        guard job.purpose == .reload else { startOutcome = job.outcome; return }
        let o = job.outcome
        log.event("reload", "applied", [
            "added": .int(o.added), "removed": .int(o.removed), "changed": .int(o.changed),
            "unchanged": .int(o.unchanged), "failed": .int(o.failed),
            "duration": .milliseconds(Nanoseconds.since(now, reloadStarted)),
            "blocked": .milliseconds(job.blocked), "longest": .milliseconds(job.longest),
        ])
        reloadEnded()
    }
}
