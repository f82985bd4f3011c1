import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `swinetd import tcprules`, and what xinetd's SENSOR and deny_time become.
@Suite(.timeLimit(.minutes(2))) struct ImportRulesTests {
    /// tcpserver's rules: the most specific rule decides there, the first
    /// matching env_by_source rule (written most specific first) here.
    @Test func tcprulesBecomeAllowDenyAndEnvBySourceAndServe() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        # relay for the office, refuse one bad host
        127.0.0.3:deny
        127.0.0.2:allow,RELAYCLIENT="",TIER=/gold/
        127.:allow,TIER="loopback"
        10.1.:deny
        10.1.2.4-7:allow
        =mail.example.com:allow
        :deny
        """.write(toFile: dir + "/rules", atomically: false, encoding: .utf8)
        for _ in 0..<5 {
            let port = freePort()
            let r = try ImportTests().importing(["tcprules", "--listen", "127.0.0.1:\(port)", "--name", "relay", dir + "/rules", "--", "/usr/bin/env"])
            #expect(r.status == 1, "a host-name rule is left out: \(r.report)")
            #expect(r.lines("left out", in: dir + "/rules") == [7], "\(r.report)")
            // 10.1.2.4-7 inside the denied 10.1. is exact here: with ':deny', 10.1. is the default's already.
            #expect(r.lines("approximated", in: dir + "/rules") == [], "\(r.report)")
            #expect(r.checkStatus == 0, "\(r.checkOutput)\n\(r.table)")
            #expect(r.table.contains("allow: [127.0.0.2/32, 10.1.2.4/30, 127.0.0.0/8]"), "\(r.table)")
            #expect(r.table.contains("deny: [127.0.0.3/32]"), "\(r.table)")
            #expect(r.table.contains("stderr: log"), "tcpserver gives the program its own stderr: \(r.table)")
            let d = try Daemon(table: r.table)
            guard d.started else {
                if d.log.contains("Address already in use") { continue }
                throw TestFailure("did not start:\n\(d.log)\n\(r.table)")
            }
            let gold = try exchange(port, from: "127.0.0.2")
            #expect(gold.contains("RELAYCLIENT=\n") && gold.contains("TIER=gold\n"), "\(gold)")
            let other = try exchange(port, from: "127.0.0.4")
            #expect(!other.contains("RELAYCLIENT") && other.contains("TIER=loopback\n"), "\(other)")
            #expect(try exchange(port, from: "127.0.0.3") == "")
            try d.waitForLog("reason=denied")
            return
        }
        throw TestFailure("no free ports after 5 tries")
    }

    @Test func xinetdSensorsAndDenyTimeAreReportedWithTheirEquivalent() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        defaults
        {
            deny_time = 60
        }
        service trap
        {
            socket_type = stream
            wait        = no
            user        = root
            server      = /bin/true
            port        = 2323
            type        = UNLISTED
            flags       = SENSOR
            deny_time   = 10
        }
        service real
        {
            socket_type = stream
            wait        = no
            user        = root
            server      = /bin/cat
            port        = 2324
            type        = UNLISTED
            deny_time   = 5
        }
        """.write(toFile: dir + "/xinetd.conf", atomically: false, encoding: .utf8)
        let r = try ImportTests().importing(["xinetd", dir + "/xinetd.conf"])
        let report = r.report.joined(separator: "\n")
        #expect(report.contains(":3: approximated: defaults: deny_time acts only for SENSOR services, which swinetd has not: see penalty in swinetd.yaml(5)"), "\(report)")
        #expect(report.contains(":5: left out: trap: a SENSOR (a host that touches it is denied every service for deny_time): swinetd has no sensors; its penalty"), "\(report)")
        #expect(report.contains("approximated: real: deny_time acts only for a SENSOR, and this service is none: nothing to carry over"), "\(report)")
        #expect(r.checkStatus == 0 && r.table.contains("real:"), "\(r.table)")
    }
}
