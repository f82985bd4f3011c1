import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `proxy_protocol` through the real binary, with headers made by hand:
/// what a header says, what a wrong one gets, who may send one.
@Suite(.timeLimit(.minutes(2))) struct ProxyProtocolTests {
    /// A handler that prints what it was told of the connection, then echoes.
    static let showEnv = #"echo "remote=$TCPREMOTEIP:$TCPREMOTEPORT local=$TCPLOCALIP:$TCPLOCALPORT via=${PROXYPEERIP-none}:${PROXYPEERPORT-none} authority=${PROXY_AUTHORITY-none} id=${PROXY_UNIQUE_ID-none} ssl=${PROXY_SSL_VERSION-none}/${PROXY_SSL_CN-none}"; exec cat"#

    static func table(_ port: UInt16, _ extra: String = "", from: String = "127.0.0.1") -> String { """
        services:
          show:
            listen: 127.0.0.1:\(port)
            exec: /bin/sh
            args: ["-c", '\(showEnv)']
            stderr: null
            proxy_protocol: {from: [\(from)], timeout: 1}
        \(extra)
        """ }

    @Test func aV1HeaderNamesTheClientAndTheBytesAfterItReachTheHandler() throws {
        let (d, ports) = try startDaemon({ p in Self.table(p[0]) })
        // Header and data in one segment: the handler reads exactly the data.
        let out = try sendPieces(ports[0], [proxyV1("192.0.2.7", "198.51.100.1", 40000, 443) + Array("hello\nworld\n".utf8)])
        #expect(out.hasPrefix("remote=192.0.2.7:40000 local=198.51.100.1:443 via=127.0.0.1:"), "\(out)")
        #expect(out.hasSuffix("authority=none id=none ssl=none/none\nhello\nworld\n"), "\(out)")
        try d.waitForLog("show: accepted")
        #expect(d.log.range(of: #"show: accepted pid=\d+ peer=192\.0\.2\.7:40000 via=127\.0\.0\.1:\d+\n"#, options: .regularExpression) != nil, "\(d.log)")
    }

    @Test func aV2HeaderWithTLVsAndAChecksum() throws {
        let (d, ports) = try startDaemon({ p in Self.table(p[0]) })
        let ssl: [UInt8] = [0x01, 0, 0, 0, 0] + [0x21, 0, 7] + Array("TLSv1.3".utf8) + [0x22, 0, 11] + Array("client.test".utf8)
        let header = proxyV2("203.0.113.9", "198.51.100.2", 4444, 80,
                             tlvs: [(0x02, Array("example.com".utf8)), (0x05, Array("req-42".utf8)), (0x20, ssl), (0x04, [0, 0, 0])], checksum: true)
        let out = try sendPieces(ports[0], [header + Array("data\n".utf8)])
        #expect(out.hasPrefix("remote=203.0.113.9:4444 local=198.51.100.2:80 via=127.0.0.1:"), "\(out)")
        #expect(out.hasSuffix("authority=example.com id=req-42 ssl=TLSv1.3/client.test\ndata\n"), "\(out)")
        // The same with a checksum that does not match: refused, no handler.
        let bad = proxyV2("203.0.113.9", "198.51.100.2", 4444, 80, checksum: true, badChecksum: true)
        #expect(try sendPieces(ports[0], [bad + Array("data\n".utf8)]) == "")
        try d.waitForLog("reason=proxy-header")
        #expect(d.log.contains(#"reason=proxy-header why="a v2 header with malformed TLVs""#), "\(d.log)")
        #expect(d.handlerPids.count == 1)
    }

    @Test func localIsServedAsTheBalancerItself() throws {
        let (d, ports) = try startDaemon({ p in Self.table(p[0]) })
        let out = try sendPieces(ports[0], [proxyV2("0.0.0.0", "0.0.0.0", 0, 0, local: true) + Array("ping\n".utf8)])
        #expect(out.hasPrefix("remote=127.0.0.1:"), "\(out)")
        #expect(out.contains("via=none:none"), "no PROXYPEERIP for a health check: \(out)")
        #expect(out.hasSuffix("ping\n"), "\(out)")
        try d.waitForLog("show: accepted")
        #expect(!d.log.contains("via="), "\(d.log)")
        // v1's UNKNOWN is the same.
        #expect(try sendPieces(ports[0], [Array("PROXY UNKNOWN\r\nx\n".utf8)]).hasPrefix("remote=127.0.0.1:"))
    }

    @Test func wrongHeadersAreRefusedAndSaySo() throws {
        let (d, ports) = try startDaemon({ p in Self.table(p[0], """
              v1only:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/cat
                proxy_protocol: {from: [127.0.0.1], version: v1}
            """) }, ports: 2)
        let cases: [(UInt16, [UInt8], String)] = [
            (ports[0], Array("GET / HTTP/1.0\r\n\r\n".utf8), "no PROXY header"),
            (ports[0], Array("PROXY TCP4 192.0.2.1 192.0.2.2 1 2".utf8), "a v1 line not ended by CRLF"),
            (ports[0], Array(("PROXY TCP4 " + String(repeating: "1", count: 120)).utf8), "a v1 header longer than 107 bytes"),
            (ports[0], proxyV1("192.0.2.300", "192.0.2.2", 1, 2), "a v1 header with a bad IPv4 address"),
            (ports[0], proxyV1("192.0.2.1", "192.0.2.2", 1, 70000), "a v1 header with a bad port"),
            (ports[0], Array(proxyV2("192.0.2.1", "192.0.2.2", 1, 2, declaredLength: 5000).prefix(16)), "a v2 header of 5000 bytes of addresses and TLVs: at most 4096"),
            (ports[0], Array(proxyV2("192.0.2.1", "192.0.2.2", 1, 2).prefix(20)), "the connection closed in its PROXY header"),
            (ports[1], proxyV2("192.0.2.1", "192.0.2.2", 1, 2), "a v2 header, and only v1 is accepted"),
        ]
        for (i, c) in cases.enumerated() {
            // Refusals are logged once a second per reason (the rest summed): one a second here.
            if i > 0 { usleep(1_050_000) }
            #expect(try sendPieces(c.0, [c.1 + Array("secret\n".utf8)]) == "", "case \(i)")
            try d.waitForLog("reason=proxy-header", count: i + 1)
            #expect(d.log.contains("why=\"\(c.2)\""), "case \(i): \(d.log.suffix(600))")
        }
        #expect(d.handlerPids.isEmpty, "\(d.log)")
    }

    @Test func aHeaderSplitAcrossSegmentsIsWaitedFor() throws {
        let (d, ports) = try startDaemon({ p in Self.table(p[0]) })
        let header = proxyV1("192.0.2.8", "198.51.100.1", 5000, 25)
        let out = try sendPieces(ports[0], [Array(header[0..<9]), Array(header[9..<30]), Array(header[30...]) + Array("mail\n".utf8)], gap: 0.2)
        #expect(out.hasPrefix("remote=192.0.2.8:5000 "), "\(out)")
        #expect(out.hasSuffix("mail\n"), "\(out)")
        _ = d
    }

    @Test func aSlowHeaderIsCutAtItsDeadlineWhileOthersAreServed() throws {
        let (d, ports) = try startDaemon({ p in Self.table(p[0]) })
        let started = Date()
        let slow = Thread {
            // One byte every 300 ms: 40 bytes would take 12 s; the deadline is 1 s.
            _ = try? sendPieces(ports[0], proxyV1("192.0.2.9", "198.51.100.1", 6000, 25).map { [$0] }, gap: 0.3)
        }
        slow.start()
        usleep(200_000)
        let fast = try sendPieces(ports[0], [proxyV1("192.0.2.10", "198.51.100.1", 6001, 25) + Array("quick\n".utf8)])
        #expect(fast.hasSuffix("quick\n"), "another client is served while one dawdles: \(fast)")
        try d.waitForLog("reason=proxy-header", timeout: 5)
        #expect(d.log.contains(#"why="no whole PROXY header within 1s""#), "\(d.log)")
        #expect(Date().timeIntervalSince(started) < 8, "cut at the deadline (1 s), not when the client gives up (12 s)")
    }

    @Test func aPeerOutsideFromIsRefusedAtOnceUnlessDirectIsAllowed() throws {
        let (d, ports) = try startDaemon({ p in Self.table(p[0]).replacingOccurrences(of: "timeout: 1", with: "timeout: 60") + """

              open:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/sh
                args: ["-c", 'echo "remote=$TCPREMOTEIP"; exec cat']
                proxy_protocol: {from: [127.0.0.1], direct: allow}
            """ }, ports: 2)
        // It would forge its address if believed: no handler, and no wait for
        // its bytes (it sends none; the header's deadline here is a minute).
        let fd = try connectOnly(ports[0], from: "127.0.0.2")
        defer { close(fd) }
        try d.waitForLog("reason=proxy-untrusted", timeout: 30)
        #expect(d.log.range(of: #"show: refused peer=127\.0\.0\.2:\d+ reason=proxy-untrusted\n"#, options: .regularExpression) != nil, "\(d.log)")
        // direct: allow serves it as itself, and a header from it is just data.
        let out = try sendPieces(ports[1], [proxyV1("192.0.2.1", "192.0.2.2", 1, 2)], from: "127.0.0.3")
        #expect(out == "remote=127.0.0.3\nPROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n", "\(out)")
    }

    @Test func denyAndPerSourceActOnTheRealClient() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              idle:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sleep
                args: ["30"]
                per_source: 1
                deny: [192.0.2.66]
                refuse_message: busy
                proxy_protocol: {from: [127.0.0.1]}
            """ })
        let first = try connectOnly(ports[0])
        defer { close(first) }
        _ = proxyV1("192.0.2.1", "198.51.100.1", 1000, 7).withUnsafeBytes { send(first, $0.baseAddress, $0.count, 0) }
        try d.waitForLog("idle: accepted")
        // The same balancer, the same real client: per_source counts it.
        #expect(try sendPieces(ports[0], [proxyV1("192.0.2.1", "198.51.100.1", 1001, 7)]) == "busy\n")
        try d.waitForLog("reason=per-source")
        #expect(d.log.range(of: #"idle: refused peer=192\.0\.2\.1:1001 via=127\.0\.0\.1:\d+ reason=per-source limit=1\n"#, options: .regularExpression) != nil, "\(d.log)")
        // Another client through the same balancer is served.
        let other = try connectOnly(ports[0])
        defer { close(other) }
        _ = proxyV1("192.0.2.2", "198.51.100.1", 1002, 7).withUnsafeBytes { send(other, $0.baseAddress, $0.count, 0) }
        try d.waitForLog("idle: accepted", count: 2)
        // deny names the client, not the balancer.
        #expect(try sendPieces(ports[0], [proxyV1("192.0.2.66", "198.51.100.1", 1003, 7)]) == "")
        try d.waitForLog("reason=denied")
        #expect(d.log.contains("peer=192.0.2.66:1003 via=127.0.0.1:"), "\(d.log)")
    }

    @Test func waitingHeadersHoldSlotsOfMaxConnections() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              one:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/cat
                max_connections: 1
                proxy_protocol: {from: [127.0.0.1], timeout: 30}
            """ })
        // A balancer that never finishes its header holds the one slot...
        let stuck = try connectOnly(ports[0])
        _ = Array("PROXY TCP4".utf8).withUnsafeBytes { send(stuck, $0.baseAddress, $0.count, 0) }
        try waitUntil(5, "the service to pause") {
            try runToEnd([swinetdBinary, "status", "-c", d.controlPath]).output.contains("paused (max_connections)")
        }
        // ...so the next waits in the kernel's queue, and is served once it gives up.
        let waiting = Thread { _ = try? sendPieces(ports[0], [proxyV1("192.0.2.3", "192.0.2.4", 1, 2) + Array("late\n".utf8)]) }
        waiting.start()
        usleep(300_000)
        #expect(!d.log.contains("one: accepted"))
        close(stuck)
        try d.waitForLog("one: accepted", timeout: 5)
        try d.waitForLog("why=\"the connection closed in its PROXY header\"")
    }
}
