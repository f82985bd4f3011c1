/// SIGUSR1: the `status` summary written to the log, as xinetd users
/// expect of a signal: one line for the master, then one per service.
extension Supervisor {
    func logStatus() {
        let r = statusReport(only: [], verbose: false)
        var master: [(key: String, value: LogValue)] = [
            ("pid", .int(Int(r.pid))), ("uptime", .seconds(r.uptime)), ("services", .int(r.services.count)),
            ("handlers", .int(r.handlersTotal)), ("max_children", .int(r.maxChildren)),
            ("reloads", .int(Int(r.reloadsApplied))), ("rejected", .int(Int(r.reloadsRejected))),
        ]
        if let last = r.lastReload { master.append(("last-reload", .string(last.result))) }
        log.event(.notice, "swinetd", "status", fields: master)
        for s in r.services {
            let c = s.counters
            var fields: [(key: String, value: LogValue)] = [
                ("state", .string(s.paused.map { "paused:\($0)" } ?? (s.enabled ? s.state : "disabled"))),
                ("running", .int(s.running)), ("max", .int(s.maxConnections)), ("queued", .int(s.queued)),
                ("accepted", .int(Int(c.accepted))), ("refused", .int(Int(c.refused.values.reduce(0, +)))),
                ("exits", .string("\(c.exitedOK)/\(c.exitedNonZero)/\(c.exitedBySignal)")), ("exec-failed", .int(Int(c.execFailed))),
            ]
            if let p99 = c.durations?.quantile(0.99) { fields.append(("p99", .seconds(p99))) }
            log.event(.notice, s.name, "status", fields: fields)
        }
    }
}
