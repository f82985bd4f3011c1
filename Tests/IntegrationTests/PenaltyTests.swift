import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `penalty` through the real binary: a handler's exit says its client
/// failed, and swinetd itself keeps that client out for a while.
@Suite(.timeLimit(.minutes(2))) struct PenaltyTests {
    /// Fails (exit 7) for 127.0.0.2, greets everyone else.
    static let handler = #"if [ "$TCPREMOTEIP" = 127.0.0.2 ]; then exit 7; fi; echo ok"#

    static func table(_ port: UInt16, add: String, max: String = "10s") -> String { """
        services:
          login:
            listen: 127.0.0.1:\(port)
            exec: /bin/sh
            args: ["-c", '\(handler)']
            stderr: null
            refuse_message: "penalised"
            penalty: {exit_codes: [7], add: \(add), max: \(max)}
        """ }

    @Test func aFailingClientWaitsLongerEachTimeWhileOthersAreServed() throws {
        let (d, ports) = try startDaemon({ p in Self.table(p[0], add: "1s") })
        var refusedAfter: [Double] = []
        #expect(try exchange(ports[0], from: "127.0.0.2") == "", "served, and failed")
        for round in 1...3 {
            try d.waitForLog("login: penalised", count: round)
            let penalisedAt = Date()
            // Kept out until its penalty is over; another client is served meanwhile.
            #expect(try exchange(ports[0], from: "127.0.0.2") == "penalised\n", "round \(round)")
            #expect(try exchange(ports[0], from: "127.0.0.3") == "ok\n")
            if round == 3 { break }
            // The first connection let in again is served, and fails again.
            try waitUntil(20, "127.0.0.2's penalty to end") {
                if try exchange(ports[0], from: "127.0.0.2") != "penalised\n" { return true }
                usleep(100_000)
                return false
            }
            refusedAfter.append(Date().timeIntervalSince(penalisedAt))
        }
        let lines = d.logLines.filter { $0.hasPrefix("login: penalised") }
        #expect(lines.count >= 3, "\(d.log)")
        #expect(lines.prefix(3).map { $0.contains("source=127.0.0.2/32") }.allSatisfy { $0 }, "\(lines)")
        #expect(lines.count >= 3 && lines[0].contains("penalty=1.000s") && lines[1].contains("penalty=2.000s") && lines[2].contains("penalty=4.000s"), "doubling: \(lines)")
        #expect(refusedAfter.count == 2 && refusedAfter[0] >= 0.8 && refusedAfter[1] >= 1.8 && refusedAfter[1] > refusedAfter[0], "growing waits: \(refusedAfter)")
        #expect(d.log.range(of: #"login: refused peer=127\.0\.0\.2:\d+ reason=penalty left=\d"#, options: .regularExpression) != nil, "\(d.log)")
        #expect(!d.log.contains("source=127.0.0.3"), "the other client is never penalised")
    }

    @Test func aPenaltySurvivesReloadAndUpgradeAndIsShown() throws {
        let (d, ports) = try startDaemon({ p in Self.table(p[0], add: "60s", max: "10m") })
        #expect(try exchange(ports[0], from: "127.0.0.2") == "")
        try d.waitForLog("login: penalised")
        #expect(try exchange(ports[0], from: "127.0.0.2") == "penalised\n")

        // A reload that changes something else keeps it.
        try d.rewrite(Self.table(ports[0], add: "60s", max: "10m").replacingOccurrences(of: "stderr: null", with: "stderr: log"))
        let reload = try runToEnd([swinetdBinary, "reload", "-c", d.controlPath], timeout: 30)
        #expect(reload.status == 0, "\(reload.output)")
        #expect(try exchange(ports[0], from: "127.0.0.2") == "penalised\n", "after reload")

        let upgrade = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        #expect(upgrade.status == 0, "\(upgrade.output)")
        #expect(try exchange(ports[0], from: "127.0.0.2") == "penalised\n", "after upgrade")
        #expect(try exchange(ports[0], from: "127.0.0.3") == "ok\n")

        let status = try runToEnd([swinetdBinary, "status", "-v", "-c", d.controlPath])
        #expect(status.output.range(of: #"login penalised sources:\n  127\.0\.0\.2/32  left (5\d|60)s\n"#, options: .regularExpression) != nil, "\(status.output)")
        let json = try runToEnd([swinetdBinary, "status", "--json", "-c", d.controlPath])
        #expect(json.output.contains(#""penalties":{"given":1,"active":1}"#), "\(json.output)")
    }

    /// swinetd's own SIGTERM when it stops is not the client's doing.
    @Test func stoppingPenalisesNobody() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              idle:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sleep
                args: ["30"]
                penalty: {signals: true, add: 30s}
            """ })
        let fd = try connectOnly(ports[0], from: "127.0.0.5")
        defer { close(fd) }
        try d.waitForLog("idle: accepted")
        d.signal(SIGTERM)
        _ = try d.waitForExit()
        #expect(d.log.contains("idle: exited") && !d.log.contains("penalised"), "\(d.log)")
    }

    @Test func signalsAndShortRunsCountButATimeoutDoesNot() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              crash:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", 'kill -SEGV $$']
                penalty: {signals: true, add: 30s}
              quick:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/true
                penalty: {short_run: 5s, add: 30s}
              slow:
                listen: 127.0.0.1:\(p[2])
                exec: /bin/sleep
                args: ["30"]
                timeout: 0.3
                penalty: {signals: true, add: 30s}
            """ }, ports: 3)
        _ = try exchange(ports[0], from: "127.0.0.2")
        try d.waitForLog("crash: penalised source=127.0.0.2/32")
        _ = try exchange(ports[1], from: "127.0.0.3")
        try d.waitForLog("quick: penalised source=127.0.0.3/32")
        _ = try exchange(ports[2], from: "127.0.0.4")
        try d.waitForLog("slow: exited", timeout: 10)
        #expect(!d.log.contains("slow: penalised"), "swinetd's own timeout is not the client's fault: \(d.log)")
        #expect(try exchange(ports[2], from: "127.0.0.4", timeout: 5) == "" && !d.log.contains("reason=penalty"))
    }
}

/// `env_by_source` through the real binary.
@Suite(.timeLimit(.minutes(2))) struct EnvBySourceTests {
    @Test func theFirstMatchingRuleSetsTheHandlersVariables() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              env:
                listen: 127.0.0.1:\(p[0])
                exec: /usr/bin/env
                stderr: null
                env: {TIER: default, KEEP: yes}
                env_by_source:
                  - {from: [127.0.0.2], env: {RELAYCLIENT: "", TIER: gold}}
                  - {from: [127.0.0.0/8], env: {TIER: loopback}}
                proxy_protocol: {from: [127.0.0.1/32], direct: allow}
            """ })
        func vars(_ out: String) -> [String] { out.split(separator: "\n").map(String.init).sorted() }
        let gold = vars(try exchange(ports[0], from: "127.0.0.2"))
        #expect(gold.contains("RELAYCLIENT=") && gold.contains("TIER=gold") && gold.contains("KEEP=yes"), "\(gold)")
        #expect(gold.filter { $0.hasPrefix("TIER=") }.count == 1, "the rule's value replaces env's: \(gold)")
        let other = vars(try exchange(ports[0], from: "127.0.0.3"))
        #expect(other.contains("TIER=loopback") && !other.contains { $0.hasPrefix("RELAYCLIENT") }, "\(other)")
        // Through a balancer, the rule is the real client's.
        let proxied = vars(try sendPieces(ports[0], [proxyV1("192.0.2.5", "192.0.2.6", 1, 2)]))
        #expect(proxied.contains("TIER=default") && proxied.contains("TCPREMOTEIP=192.0.2.5"), "\(proxied)")
        let viaGold = vars(try sendPieces(ports[0], [proxyV1("127.0.0.2", "192.0.2.6", 1, 2)]))
        #expect(viaGold.contains("TIER=gold"), "\(viaGold)")
        // What one connection's header said never reaches the next handler.
        let tlv = vars(try sendPieces(ports[0], [proxyV2("192.0.2.7", "192.0.2.6", 1, 2, tlvs: [(0x02, Array("a.example".utf8))])]))
        #expect(tlv.contains("PROXY_AUTHORITY=a.example"), "\(tlv)")
        let after = vars(try sendPieces(ports[0], [proxyV1("192.0.2.8", "192.0.2.6", 1, 2)]))
        #expect(!after.contains { $0.hasPrefix("PROXY_AUTHORITY") } && after.contains("TCPREMOTEIP=192.0.2.8"), "\(after)")
        let direct = vars(try exchange(ports[0], from: "127.0.0.9"))
        #expect(!direct.contains { $0.hasPrefix("PROXY") } && direct.contains("TCPREMOTEIP=127.0.0.9"), "a direct client after proxied ones: \(direct)")
        // Nothing of the master's own environment.
        let allowed: Set<String> = ["PATH", "PROTO", "SWINETD_SERVICE", "TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT",
                                    "TIER", "KEEP", "RELAYCLIENT", "PROXYPEERIP", "PROXYPEERPORT"]
        for v in gold + other + proxied + after + direct { #expect(allowed.contains(String(v.prefix { $0 != "=" })), "\(v)") }
        _ = d
    }
}
