import Testing
@testable import SwinetdCore

/// The control protocol's JSON and the renderings of `status`.
@Suite struct ControlProtocolTests {
    @Test func requestsParseAndRepliesRoundTrip() throws {
        let r = try JSON.parse(Array(#"{"command":"status","verbose":true,"services":["echo","a\"b"],"grace":2.5,"x":null}"#.utf8)).get()
        #expect(r["command"]?.string == "status")
        #expect(r["verbose"]?.bool == true)
        #expect(r["services"]?.array?.compactMap(\.string) == ["echo", "a\"b"])
        #expect(r["grace"]?.number == 2.5)
        #expect(r["x"] == .null)
        let reply = JSON.object([("exit", .number(0)), ("output", .string("line\n\u{1}é \u{1F600}"))])
        #expect(try JSON.parse(Array(reply.text.utf8)).get() == reply)
        #expect(try JSON.parse(Array(#""\ud83d\ude00 \u00e9""#.utf8)).get() == .string("\u{1F600} é"))
    }

    @Test func badOrHostileRequestsAreErrorsNotCrashes() {
        for text in ["", "{", "{\"a\"", "{\"a\":}", "[1,]", "tru", "\"\\x\"", "\"abc", "{\"a\":1}x", "\"\u{1}\"", "1e999999", "-"] {
            if case .success(let v) = JSON.parse(Array(text.utf8)) { Issue.record("'\(text)' parsed as \(v)") }
        }
        let deep = String(repeating: "[", count: 100_000)
        #expect((try? JSON.parse(Array(deep.utf8)).get()) == nil, "nesting is bounded, not recursed to a crash")
    }

    func report() -> StatusReport {
        var counters = ServiceCounters()
        counters.accepted = 3
        counters.refuse("denied")
        for ms in [1, 2, 400] { counters.exited(.exited(0), duration: UInt64(ms) * 1_000_000) }
        counters.exited(.signaled(9), duration: 20_000_000)
        let service = StatusReport.Service(name: "echo", enabled: true, paused: "max_connections", addresses: ["127.0.0.1:7007"],
                                           running: 2, maxConnections: 2, queued: 5, counters: counters,
                                           handlers: [.init(pid: 42, peer: "127.0.0.1:5000", age: 3_000_000_000)])
        return StatusReport(pid: 7, uptime: 200 * 1_000_000_000, table: "/t.yaml", startedAt: 1_700_000_000, lastReload: nil,
                            reloadsApplied: 1, reloadsRejected: 2, handlersTotal: 2, maxChildren: 1024, services: [service])
    }

    @Test func theTextIsATableAndVerboseListsHandlers() {
        let text = report().text(verbose: true)
        #expect(text.hasPrefix("swinetd pid 7, up 3m20s, table /t.yaml\nlast reload: none since start\n"), "\(text)")
        #expect(text.contains("echo     paused (max_connections)  2/2      5       3         1 (denied=1)  3/0/1"), "\(text)")
        #expect(text.contains("  pid 42  peer 127.0.0.1:5000  age 3s\n"))
        #expect(!report().text(verbose: false).contains("pid 42"))
    }

    @Test func prometheusHasEveryFamilyAndACumulativeHistogram() {
        let text = report().prometheus()
        #expect(text.contains("swinetd_connections_refused_total{service=\"echo\",reason=\"denied\"} 1\n"))
        #expect(text.contains("swinetd_handler_exits_total{service=\"echo\",outcome=\"signal\"} 1\n"))
        #expect(text.contains("swinetd_handler_duration_seconds_bucket{service=\"echo\",le=\"0.005\"} 2\n"))
        #expect(text.contains("swinetd_handler_duration_seconds_bucket{service=\"echo\",le=\"0.025\"} 3\n"))
        #expect(text.contains("swinetd_handler_duration_seconds_bucket{service=\"echo\",le=\"+Inf\"} 4\n"))
        #expect(text.contains("swinetd_reloads_total{result=\"rejected\"} 2\n"))
        #expect(text.contains("swinetd_connections_queued{service=\"echo\"} 5\n"))
        #expect(report().services[0].counters.durations?.quantile(0.5) == 2_000_000)
    }

    @Test func theMetricsKeyTakesListenAddresses() {
        let table = "services:\n  echo:\n    listen: 127.0.0.1:7007\n    exec: /bin/cat\n"
        let bad = diagnostics("metrics: [127.0.0.1:99999, {a: 1}]\n" + table)
        #expect(bad.count == 2, "\(bad)")
        #expect(bad.last == "t.yaml:1:28: error: 'metrics' must be a string", "\(bad)")
        let clash = diagnostics("metrics: 127.0.0.1:7007\n" + table)
        #expect(clash == ["t.yaml:4:13: error: address 127.0.0.1:7007 is already used by 'metrics'"], "\(clash)")
        #expect(diagnostics("metrics: 127.0.0.1:9477\n" + table).isEmpty)
    }
}

/// How many scrapes a second /metrics takes, by the size of its text.
@Suite struct MetricsBudgetTests {
    @Test func aLargeTextIsScrapedLessOften() {
        #expect(MetricsServer.rate(forResponseOf: 30_000) == 20, "a small table: 20 a second")
        #expect(MetricsServer.rate(forResponseOf: 1_530_000) == 5, "1000 services' 1.5 MB: 8 MiB a second")
        #expect(MetricsServer.rate(forResponseOf: 100 << 20) == 1, "never less than one a second")
        #expect(MetricsServer.rate(forResponseOf: 0) == 20)
    }

    /// A rate that changes with the text's size grants no extra scrapes:
    /// the bucket keeps what it had left (a client moving the size across
    /// a threshold each second would otherwise refill it each second).
    @Test func aChangeOfRateGrantsNothing() {
        let now: UInt64 = 1_000 * Nanoseconds.perSecond
        var bucket = TokenBucket(rate: 20, burst: 20, now: now)
        for _ in 0..<16 { _ = bucket.take(now: now) }
        var five = bucket.withRate(5, now: now)
        var granted = 0
        while five.take(now: now) { granted += 1 }
        #expect(granted == 4, "the 4 left of 20, not a fresh 5")
        var back = five.withRate(6, now: now)
        let empty = !back.take(now: now)
        #expect(empty, "an emptied bucket stays empty across a change of rate")
        let refilled = back.take(now: now + Nanoseconds.perSecond / 6)
        #expect(refilled, "and refills at the new rate")
    }
}
