#if canImport(Glibc)
import Glibc
#endif

/// What `swinetd status` shows, as a plain value taken from the loop at one
/// moment, and its three renderings: a table for people, JSON for programs
/// (stable: fields are only ever added) and the Prometheus text format.
struct StatusReport {
    struct Handler {
        var pid: Int32
        var peer: String
        var age: UInt64
    }

    struct Service {
        var name: String
        var enabled: Bool
        /// nil: listening.
        var paused: String?
        var addresses: [String]
        /// Addresses that did not open, each with why.
        var failed: [(address: String, error: String)] = []
        /// What the STATE column and `state` say.
        var state: String { paused == nil ? (addresses.isEmpty && !failed.isEmpty ? "failed" : "listening") : "paused" }
        var running: Int
        var maxConnections: Int
        var queued: Int
        var counters: ServiceCounters
        var handlers: [Handler]
        /// What its handlers are kept from (`check --security`'s figures).
        var security: SecurityExposure?
        /// Client groups `penalty` keeps out now (the longest listed when verbose).
        var penalisedCount = 0
        var penalised: [(source: String, left: UInt64)] = []
        /// Connections from load balancers waiting for their PROXY header
        /// (each holds a slot of max_connections).
        var waitingHeaders = 0
    }

    /// The most penalised groups `status -v` lists per service.
    static let penalisedListed = 100

    var pid: Int32
    var uptime: UInt64
    var table: String
    var startedAt: Double
    var lastReload: (at: Double, result: String)?
    var reloadsApplied: UInt64
    var reloadsRejected: UInt64
    var handlersTotal: Int
    var maxChildren: Int
    /// How many times the metrics listeners built their text.
    var metricsRenders: UInt64 = 0
    var services: [Service]

    // MARK: Text

    func text(verbose: Bool) -> String {
        var out = "swinetd pid \(pid), up \(Self.duration(uptime)), table \(table)\n"
        if let r = lastReload {
            out += "last reload: \(Self.wallClock(r.at)) \(r.result)\n"
        } else {
            out += "last reload: none since start\n"
        }
        out += "handlers: \(handlersTotal) of max_children \(maxChildren)\n\n"
        var rows = [["SERVICE", "STATE", "RUNNING", "QUEUED", "ACCEPTED", "REFUSED", "EXITS ok/err/sig", "EXEC-FAILED", "P50", "P99", "ADDRESSES"]]
        for s in services {
            let refused = s.counters.refused.values.reduce(0, +)
            let detail = s.counters.refused.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            let c = s.counters
            rows.append([
                s.name, s.paused.map { "paused (\($0))" } ?? s.state,
                "\(s.running)\(s.waitingHeaders > 0 ? "+\(s.waitingHeaders)h" : "")/\(s.maxConnections)", String(s.queued), String(c.accepted),
                refused == 0 ? "0" : "\(refused) (\(detail))",
                "\(c.exitedOK)/\(c.exitedNonZero)/\(c.exitedBySignal)", String(c.execFailed),
                c.durations?.quantile(0.5).map(Self.seconds) ?? "-", c.durations?.quantile(0.99).map(Self.seconds) ?? "-",
                s.addresses.isEmpty && s.failed.isEmpty ? "-"
                    : (s.addresses + s.failed.map { "\($0.address)(failed: \($0.error))" }).joined(separator: " "),
            ])
        }
        let widths = rows[0].indices.map { i in rows.map { $0[i].count }.max()! }
        for row in rows {
            out += row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ") + "\n"
        }
        if verbose {
            for s in services where !s.handlers.isEmpty {
                out += "\n\(s.name) handlers:\n"
                for h in s.handlers.sorted(by: { $0.pid < $1.pid }) {
                    out += "  pid \(h.pid)  peer \(h.peer)  age \(Self.duration(h.age))\n"
                }
            }
            for s in services where !s.penalised.isEmpty {
                out += "\n\(s.name) penalised sources:\n"
                for p in s.penalised { out += "  \(p.source)  left \(Self.duration(p.left))\n" }
                if s.penalisedCount > s.penalised.count { out += "  and \(s.penalisedCount - s.penalised.count) more\n" }
            }
        }
        return out
    }

    // MARK: JSON

    func json(verbose: Bool) -> JSON {
        var master: [(String, JSON)] = [
            ("pid", .number(Double(pid))), ("uptime_seconds", .number(Double(uptime) / 1e9)), ("table", .string(table)),
            ("started_at", .number(startedAt)), ("handlers", .number(Double(handlersTotal))), ("max_children", .number(Double(maxChildren))),
            ("reloads", .object([("applied", .number(Double(reloadsApplied))), ("rejected", .number(Double(reloadsRejected)))])),
        ]
        master.append(("last_reload", lastReload.map { .object([("at", .number($0.at)), ("result", .string($0.result))]) } ?? .null))
        let list: [JSON] = services.map { s in
            let c = s.counters
            var fields: [(String, JSON)] = [
                ("name", .string(s.name)), ("enabled", .bool(s.enabled)),
                ("state", .string(s.state)), ("reason", s.paused.map(JSON.string) ?? .null),
                ("addresses", .array(s.addresses.map(JSON.string))),
                ("failed_addresses", .array(s.failed.map { .object([("address", .string($0.address)), ("error", .string($0.error))]) })),
                ("running", .number(Double(s.running))), ("max_connections", .number(Double(s.maxConnections))),
                ("proxy_waiting", .number(Double(s.waitingHeaders))),
                ("queued", .number(Double(s.queued))), ("accepted", .number(Double(c.accepted))),
                ("refused", .object(c.refused.sorted { $0.key < $1.key }.map { ($0.key, .number(Double($0.value))) })),
                ("exits", .object([("ok", .number(Double(c.exitedOK))), ("nonzero", .number(Double(c.exitedNonZero))),
                                   ("signal", .number(Double(c.exitedBySignal)))])),
                ("exec_failed", .number(Double(c.execFailed))),
                ("penalties", .object([("given", .number(Double(c.penalties ?? 0))), ("active", .number(Double(s.penalisedCount)))])),
                ("duration_p50_seconds", c.durations?.quantile(0.5).map { .number(Double($0) / 1e9) } ?? .null),
                ("duration_p99_seconds", c.durations?.quantile(0.99).map { .number(Double($0) / 1e9) } ?? .null),
            ]
            if let security = s.security {
                fields.append(("security", .object([
                    ("exposure", .number(security.score)),
                    ("protections", .object(security.protections.map { p in
                        (p.key, .object([("on", .bool(p.on)), ("weight", .number(p.weight)),
                                         ("earned", .number((p.earned * 100).rounded() / 100)), ("meaning", .string(p.meaning))]))
                    })),
                ])))
            }
            if verbose {
                fields.append(("handlers", .array(s.handlers.sorted { $0.pid < $1.pid }.map {
                    .object([("pid", .number(Double($0.pid))), ("peer", .string($0.peer)), ("age_seconds", .number(Double($0.age) / 1e9))])
                })))
                fields.append(("penalised", .array(s.penalised.map {
                    .object([("source", .string($0.source)), ("left_seconds", .number(Double($0.left) / 1e9))])
                })))
            }
            return .object(fields)
        }
        return .object([("master", .object(master)), ("services", .array(list))])
    }

    // MARK: Prometheus

    func prometheus() -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples { out += "\(name)\(s.labels.isEmpty ? "" : "{\(s.labels)}") \(s.value)\n" }
        }
        // Each service's label once (escaping is per character), each bound's text once.
        let labels = services.map { "service=\"\(Self.escape($0.name))\"" }
        let bounds = DurationStats.bounds.map { String($0) }
        family("swinetd_start_time_seconds", "gauge", "When swinetd started, in seconds since the epoch.", [("", String(startedAt))])
        family("swinetd_reloads_total", "counter", "Reloads by result.",
               [("result=\"applied\"", String(reloadsApplied)), ("result=\"rejected\"", String(reloadsRejected))])
        family("swinetd_connections_accepted_total", "counter", "Connections accepted and given a handler (those whose exec failed too).",
               services.indices.map { (labels[$0], String(services[$0].counters.accepted)) })
        family("swinetd_connections_refused_total", "counter", "Connections accepted and closed with no handler, by reason.",
               services.indices.flatMap { i in services[i].counters.refused.sorted { $0.key < $1.key }.map { ("\(labels[i]),reason=\"\(Self.escape($0.key))\"", String($0.value)) } })
        family("swinetd_proxy_headers_waiting", "gauge", "Connections from load balancers waiting for their PROXY header (each holds a max_connections slot).",
               services.indices.map { (labels[$0], String(services[$0].waitingHeaders)) })
        family("swinetd_penalties_total", "counter", "Penalties given to client groups (penalty).",
               services.indices.map { (labels[$0], String(services[$0].counters.penalties ?? 0)) })
        family("swinetd_penalised_sources", "gauge", "Client groups penalty keeps out now.",
               services.indices.map { (labels[$0], String(services[$0].penalisedCount)) })
        family("swinetd_handlers_running", "gauge", "Handlers running now.", services.indices.map { (labels[$0], String(services[$0].running)) })
        family("swinetd_connections_queued", "gauge", "Connections waiting in the kernel's accept queue.",
               services.indices.map { (labels[$0], String(services[$0].queued)) })
        family("swinetd_handler_exits_total", "counter", "Handlers that ended, by outcome.", services.indices.flatMap { i in
            let c = services[i].counters
            return [("ok", c.exitedOK), ("nonzero", c.exitedNonZero), ("signal", c.exitedBySignal),
                    ("exec-failed", c.execFailed)].map { ("\(labels[i]),outcome=\"\($0.0)\"", String($0.1)) }
        })
        out += "# HELP swinetd_handler_duration_seconds How long handlers ran.\n# TYPE swinetd_handler_duration_seconds histogram\n"
        for (s, label) in zip(services, labels) {
            let d = s.counters.durations ?? DurationStats()
            let cumulative = d.cumulative
            for (i, bound) in bounds.enumerated() {
                out += "swinetd_handler_duration_seconds_bucket{\(label),le=\"\(bound)\"} \(cumulative[i])\n"
            }
            out += "swinetd_handler_duration_seconds_bucket{\(label),le=\"+Inf\"} \(d.count)\n"
            out += "swinetd_handler_duration_seconds_sum{\(label)} \(Double(d.sumNanoseconds) / 1e9)\n"
            out += "swinetd_handler_duration_seconds_count{\(label)} \(d.count)\n"
        }
        family("swinetd_metrics_renders_total", "counter", "Times the metrics listeners built this text (a scrape within a second of the last build is served that copy).",
               [("", String(metricsRenders))])
        return out
    }

    // MARK: Formatting

    static func escape(_ s: String) -> String {
        s.replacingAll("\\", "\\\\").replacingAll("\"", "\\\"").replacingAll("\n", "\\n")
    }

    static func seconds(_ ns: UInt64) -> String {
        let ms = ns / 1_000_000
        let frac = String(ms % 1000)
        return "\(ms / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac)s"
    }

    static func duration(_ ns: UInt64) -> String {
        let s = ns / Nanoseconds.perSecond
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(s % 60)s" }
        if s < 86400 { return "\(s / 3600)h\(s % 3600 / 60)m" }
        return "\(s / 86400)d\(s % 86400 / 3600)h"
    }

    static func wallClock(_ seconds: Double) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : String(n) }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

private extension String {
    func replacingAll(_ a: Character, _ b: String) -> String {
        var out = ""
        for c in self { if c == a { out += b } else { out.append(c) } }
        return out
    }
}
