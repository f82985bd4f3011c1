/// A reload as mark and sweep (OpenBSD inetd's config()), decided as a plain
/// value before anything is touched: services are matched by name,
/// listeners by address; a shared address keeps its very socket and goes to
/// whichever service names it now; a retired service owns nothing; removed
/// addresses close before added ones open.
struct ReloadPlan: Equatable {
    var added: [String] = []
    var removed: [String] = []
    var changed: [String] = []
    var unchanged: [String] = []
    /// Every address of an enabled service, and the service it belongs to.
    var owners: [ListenAddress: String] = [:]
    /// Listening now and no longer wanted.
    var close: [ListenAddress] = []
    /// Wanted and not listening yet, in table order.
    var open: [ListenAddress] = []

    static func make(current: [String: ServiceConfig], listening: Set<ListenAddress>, table: ServiceTable) -> ReloadPlan {
        make(currentNames: current.keys, config: { current[$0] }, listening: listening, table: table)
    }

    /// The same, reading the live services through `config` (no copy of them).
    static func make<Names: Sequence<String>>(currentNames: Names, config current: (String) -> ServiceConfig?,
                                              listening: Set<ListenAddress>, table: ServiceTable) -> ReloadPlan {
        var plan = ReloadPlan()
        var opening: Set<ListenAddress> = []
        for config in table.services {
            switch current(config.name) {
            case nil: plan.added.append(config.name)
            case let old? where old == config: plan.unchanged.append(config.name)
            default: plan.changed.append(config.name)
            }
            guard config.enabled else { continue }
            for a in config.addresses {
                plan.owners[a] = config.name
                if !listening.contains(a) && opening.insert(a).inserted { plan.open.append(a) }
            }
        }
        let names = Set(table.services.map(\.name))
        plan.removed = currentNames.filter { !names.contains($0) }.sorted()
        plan.close = listening.filter { plan.owners[$0] == nil }.sorted()
        return plan
    }
}

/// What a start or reload did, as logged.
struct Outcome: Equatable {
    var added = 0, removed = 0, changed = 0, unchanged = 0, failed = 0
}
