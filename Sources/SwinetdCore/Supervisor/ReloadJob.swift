#if canImport(Glibc)
import Glibc
import CLinux
#endif

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
final class ReloadJob {
    static let stepBudget: UInt64 = 20 * Nanoseconds.perMillisecond

    enum Purpose { case start, reload }
    enum Stage { case decoding, planning, updating, owning, removing, closing, opening, done }

    let purpose: Purpose
    private(set) var stage = Stage.decoding
    var stream: TableStream
    var table: [ServiceConfig] = []
    var plan = ReloadPlan()
    /// The plan's owners as a list, walked in steps.
    var owning: [(ListenAddress, String)] = []
    var outcome = Outcome()
    /// The next item of the current stage.
    var next = 0
    /// The loop's time spent on this job so far, and its longest step.
    var blocked: UInt64 = 0
    var longest: UInt64 = 0

    init(_ stream: TableStream, purpose: Purpose) {
        self.stream = stream
        self.purpose = purpose
        table.reserveCapacity(stream.header.services)
    }

    func advance(to stage: Stage) {
        self.stage = stage
        next = 0
    }
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
                    let errors = TableErrors([Diagnostic(file: options.configPath, mark: nil, message: "the table loader's answer is malformed")])
                    if job.purpose == .reload { rejected(errors); return }
                    for line in errors.lines { log.event(.error, "swinetd", "error", ["diagnostic": .string(line)]) }
                    startOutcome.failed += 1
                    return
                }
            case .planning:
                let table = ServiceTable(services: job.table, maxChildren: job.stream.header.maxChildren)
                job.plan = ReloadPlan.make(currentNames: services.keys, config: { self.services[$0]?.config },
                                           listening: Set(listeners.byAddress.keys), table: table)
                job.outcome = Outcome(added: job.plan.added.count, removed: job.plan.removed.count,
                                      changed: job.plan.changed.count, unchanged: job.plan.unchanged.count)
                job.advance(to: .updating)
            case .updating:
                guard job.next < job.table.count else {
                    job.table = []
                    admission.maxChildren = job.stream.header.maxChildren
                    job.advance(to: .owning)
                    break
                }
                let config = job.table[job.next]
                job.next += 1
                if let s = services[config.name] {
                    if s.config != config {
                        let previous = s.config.socketFile
                        s.config = config
                        if previous != config.socketFile { applySocketFile(of: s, previousOwner: previous.owner) }
                        // An address it no longer names is no longer its failure.
                        let wanted = Set(config.addresses)
                        s.unopened = s.unopened.filter { wanted.contains($0.key) }
                        // A changed service (a fixed handler, say) gets its sockets back at once.
                        listeners.endBackoff(ownedBy: s.name)
                        refresh(s)
                    }
                } else {
                    services[config.name] = ServiceState(config)
                }
            case .owning:
                job.plan.owners.isEmpty ? job.advance(to: .removing) : giveOwner(job)
            case .removing:
                guard job.next < job.plan.removed.count else { refreshAll(); job.advance(to: .closing); break }
                let name = job.plan.removed[job.next]
                if let s = services.removeValue(forKey: name) { dropHeld(s, reason: "removed") }
                // Its running handlers stay counted (a service added back
                // under the name counts them); its rate buckets go.
                if var table = sources[name] {
                    table.forgetIdle()
                    sources[name] = table.isEmpty ? nil : table
                }
                job.next += 1
            case .closing:
                guard job.next < job.plan.close.count else { job.advance(to: .opening); break }
                closeListener(job.plan.close[job.next])
                job.next += 1
            case .opening:
                guard job.next < job.plan.open.count else { job.advance(to: .done); break }
                let address = job.plan.open[job.next]
                job.next += 1
                let s = services[job.plan.owners[address]!]!
                // A retry of an address that had not opened may have opened it meanwhile.
                if listeners[address]?.owner == s.name { continue }
                if openListener(address, for: s) { refresh(s) } else { job.outcome.failed += 1 }
            case .done:
                break
            }
            now = monotonicNanoseconds()
        }
        job.blocked += Nanoseconds.since(now, began)
        job.longest = max(job.longest, Nanoseconds.since(now, began))
        if job.stage == .done { finish(job, now: now) }
    }

    /// Gives the next kept listener to the service that names it now.
    private func giveOwner(_ job: ReloadJob) {
        if job.next == 0 { job.owning = Array(job.plan.owners) }
        guard job.next < job.owning.count else {
            job.owning = []
            job.advance(to: .removing)
            return
        }
        let (address, owner) = job.owning[job.next]
        job.next += 1
        guard let l = listeners[address], let s = services[owner] else { return }
        if l.owner != owner, let path = address.path {
            // A kept socket file moving to another service takes that service's mode and owner.
            setSocketFile(l, path: path, s.config.socketFile, previousOwner: services[l.owner]?.config.socketFile.owner, service: owner)
        }
        listeners.setOwner(address, owner)
        listeners.setBacklog(address, s.config.backlog)
    }

    /// A kept UNIX socket's file gets the table's new `socket_mode`,
    /// `socket_user` and `socket_group` (its socket stays open throughout);
    /// one no longer set gives the file back to swinetd's own user or group.
    private func applySocketFile(of s: ServiceState, previousOwner: uid_t?) {
        for l in listeners.owned(by: s.name) {
            if let path = l.address.path { setSocketFile(l, path: path, s.config.socketFile, previousOwner: previousOwner, service: s.name) }
        }
    }

    private func setSocketFile(_ l: Listener, path: String, _ file: SocketFile, previousOwner: uid_t?, service: String) {
        if case .failure(let e) = UnixSocketFile.setOwnerAndMode(socket: l.fd, path: path, mode: mode_t(file.mode),
                                                                 owner: file.owner ?? geteuid(), group: file.group ?? getegid(), previousOwner: previousOwner) {
            log.event(.error, service, "error", ["address": .string(path), "op": .string(e.step), "error": .string(e.errno.text)])
        }
    }

    private func finish(_ job: ReloadJob, now: UInt64) {
        reloadJob = nil
        // A wait handler that held an old socket may have exited meanwhile.
        openDeferred()
        refreshAll()
        // What a large table allocated is freed now; give it back, so the
        // master's size follows the table it serves.
        clinux_malloc_trim()
        let o = job.outcome
        let metricsFailed = applyMetrics(job.stream.header.metrics)
        guard job.purpose == .reload else {
            // Argument parsing, the table's first load and the runtime's
            // start touched code the loop never runs again: let go of those
            // pages (the loop's own fault back in from the page cache), so
            // the idle master's size is what serving needs.
            _ = clinux_release_file_pages()
            startOutcome = o
            startOutcome.failed += metricsFailed
            return
        }
        log.event(.notice, "reload", "applied", [
            "added": .int(o.added), "removed": .int(o.removed), "changed": .int(o.changed),
            "unchanged": .int(o.unchanged), "failed": .int(o.failed),
            "duration": .milliseconds(Nanoseconds.since(now, reloadStarted)),
            "blocked": .milliseconds(job.blocked), "longest": .milliseconds(job.longest),
        ])
        let failed = o.failed + metricsFailed
        var summary = "applied added=\(o.added) removed=\(o.removed) changed=\(o.changed) unchanged=\(o.unchanged)"
        if failed > 0 { summary += " failed=\(failed)" }
        masterCounters.reloadsApplied &+= 1
        masterCounters.lastReload = (StatusReport.now(), summary)
        answerReloadWaiters(exit: failed == 0 ? 0 : 1, output: summary + (failed > 0 ? " (see the log for the addresses that did not open)\n" : "\n"))
        serviceManager?.ready(status: "reload \(summary); serving \(services.count) services")
        reloadEnded()
    }
}
