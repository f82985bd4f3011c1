import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A v1 header line.
func proxyV1(_ source: String, _ destination: String, _ sport: Int, _ dport: Int, family: String = "TCP4") -> [UInt8] {
    Array("PROXY \(family) \(source) \(destination) \(sport) \(dport)\r\n".utf8)
}

/// A v2 header: PROXY (or LOCAL) over IPv4 with these TLVs (type, value),
/// and a CRC32C TLV when `checksum` (wrong on purpose when `badChecksum`).
func proxyV2(_ source: String, _ destination: String, _ sport: UInt16, _ dport: UInt16, local: Bool = false,
             tlvs: [(UInt8, [UInt8])] = [], checksum: Bool = false, badChecksum: Bool = false, declaredLength: Int? = nil) -> [UInt8] {
    var body: [UInt8] = []
    var a = in_addr(), b = in_addr()
    inet_pton(AF_INET, source, &a)
    inet_pton(AF_INET, destination, &b)
    body += withUnsafeBytes(of: a) { Array($0) } + withUnsafeBytes(of: b) { Array($0) }
    body += [UInt8(sport >> 8), UInt8(sport & 0xff), UInt8(dport >> 8), UInt8(dport & 0xff)]
    for (type, value) in tlvs { body += [type, UInt8(value.count >> 8), UInt8(value.count & 0xff)] + value }
    var crcAt: Int?
    if checksum {
        crcAt = 16 + body.count + 3
        body += [0x03, 0, 4, 0, 0, 0, 0]
    }
    let length = declaredLength ?? body.count
    var header: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
                           local ? 0x20 : 0x21, 0x11, UInt8(length >> 8), UInt8(length & 0xff)] + body
    if let at = crcAt {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in header {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        crc = ~crc ^ (badChecksum ? 1 : 0)
        header[at] = UInt8(crc >> 24); header[at + 1] = UInt8((crc >> 16) & 0xff)
        header[at + 2] = UInt8((crc >> 8) & 0xff); header[at + 3] = UInt8(crc & 0xff)
    }
    return header
}

/// Connects (from `source`), sends `pieces` with `gap` seconds between
/// them, ends its side and reads to EOF.
func sendPieces(_ port: UInt16, _ pieces: [[UInt8]], gap: Double = 0, from source: String? = nil, timeout: Int = 10) throws -> String {
    let fd = try connectOnly(port, from: source)
    defer { close(fd) }
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    for (i, piece) in pieces.enumerated() {
        if i > 0 && gap > 0 { usleep(UInt32(gap * 1_000_000)) }
        // A send after swinetd closed the connection fails: the reply says why.
        if piece.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) != piece.count { break }
    }
    shutdown(fd, Int32(SHUT_WR))
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        out.append(contentsOf: buffer[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}

/// `proxy_protocol` through the real binary: headers made by hand, and
/// HAProxy from Debian as the real sender.
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

    @Test func aHeaderHalfSentAcrossAnUpgradeIsServed() throws {
        let (d, ports) = try startDaemon({ p in Self.table(p[0]).replacingOccurrences(of: "timeout: 1", with: "timeout: 60") })
        let fd = try connectOnly(ports[0])
        defer { close(fd) }
        let header = proxyV1("192.0.2.77", "198.51.100.1", 7777, 25)
        _ = Array(header.prefix(10)).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        usleep(200_000)
        let upgrade = try runToEnd([swinetdBinary, "upgrade", "-c", d.controlPath], timeout: 60)
        #expect(upgrade.status == 0, "\(upgrade.output)")
        _ = (Array(header.dropFirst(10)) + Array("after\n".utf8)).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        shutdown(fd, Int32(SHUT_WR))
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: out, as: UTF8.self)
        #expect(text.hasPrefix("remote=192.0.2.77:7777 ") && text.hasSuffix("after\n"), "\(text)\n\(d.log)")
    }

    /// With the default `stderr: log`, a header that completes after the
    /// accept still finds its handler a stderr pipe (the master crashed).
    @Test func headersCompletedLaterWithTheDefaultStderrAreServed() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              show:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", 'echo "$TCPREMOTEIP"; echo to the log >&2']
                proxy_protocol: {from: [127.0.0.1]}
            """ })
        let fds = try (0..<3).map { _ in try connectOnly(ports[0]) }
        defer { fds.forEach { close($0) } }
        for fd in fds { _ = Array("PROXY ".utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) } }
        usleep(200_000)
        for (i, fd) in fds.enumerated() {
            _ = Array("TCP4 192.0.2.\(i + 1) 192.0.2.99 1000 25\r\n".utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            var tv = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var buffer = [UInt8](repeating: 0, count: 64)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            #expect(n > 0 && String(decoding: buffer[0..<max(n, 0)], as: UTF8.self) == "192.0.2.\(i + 1)\n", "\(d.log)")
        }
        try d.waitForLog("to the log", count: 3)
        #expect(d.isRunning)
    }

    /// A connection whose header completes while the service holds one for
    /// a handler that could not start (the user at RLIMIT_NPROC) waits
    /// behind it: none is lost, each client gets its own handler.
    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"),
                   "needs root (user: nobody) and prlimit"))
    func headersCompletedWhileAConnectionIsHeldAreServedInTurn() throws {
        let (d, ports) = try startDaemon(launcher: ["/usr/bin/prlimit", "--nproc=3"], { p in """
            services:
              limited:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", 'echo "$TCPREMOTEIP"; exec sleep 0.3']
                user: nobody
                stderr: null
                proxy_protocol: {from: [127.0.0.1], timeout: 30}
            """ })
        let replies = Failures()
        concurrently(16) { i in
            let header = proxyV1("192.0.2.\(i + 1)", "192.0.2.200", 1000, 25)
            let got = (try? sendPieces(ports[0], [Array(header.prefix(8)), Array(header.dropFirst(8))], gap: Double(i % 4) * 0.15, timeout: 30)) ?? "failed"
            if got != "192.0.2.\(i + 1)\n" { replies.add("client \(i): \(got.debugDescription)") }
        }
        #expect(replies.list.isEmpty, "\(replies.list)\n\(d.log.suffix(3000))")
        #expect(d.log.contains("limited: paused reason=nproc"), "the limit was reached: \(d.log.suffix(2000))")
    }

    /// A header waiting holds a slot: with max_connections 2, one waiting
    /// and one served, a third client waits in the kernel's queue.
    @Test func aWaitingHeaderAndRunningHandlersNeverExceedMaxConnections() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              two:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", 'echo "$TCPREMOTEIP"; exec sleep 30']
                stderr: null
                max_connections: 2
                proxy_protocol: {from: [127.0.0.1], timeout: 30}
            """ })
        let waiting = try connectOnly(ports[0])
        defer { close(waiting) }
        _ = Array("PROXY TCP4".utf8).withUnsafeBytes { send(waiting, $0.baseAddress, $0.count, 0) }
        usleep(200_000)
        var open: [Int32] = []
        defer { open.forEach { close($0) } }
        for i in 1...2 {
            let fd = try connectOnly(ports[0])
            open.append(fd)
            _ = proxyV1("192.0.2.\(i)", "192.0.2.200", 1000, 25).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        }
        try d.waitForLog("two: accepted")
        usleep(500_000)
        #expect(d.logLines.filter { $0.hasPrefix("two: accepted") }.count == 1, "one handler and one waiting header fill it: \(d.log)")
        // The waiting one completes: it is served, and the third still waits.
        _ = Array(" 192.0.2.9 192.0.2.200 1 2\r\n".utf8).withUnsafeBytes { send(waiting, $0.baseAddress, $0.count, 0) }
        try d.waitForLog("two: accepted", count: 2)
        usleep(500_000)
        #expect(d.logLines.filter { $0.hasPrefix("two: accepted") }.count == 2, "\(d.log)")
    }

    /// A health check (LOCAL) is the balancer's own: no client group, so
    /// no penalty and no per_source count, however short it is.
    @Test func healthChecksAreNeitherPenalisedNorCounted() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              checked:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/echo
                args: [up]
                stderr: null
                per_source: 1
                penalty: {short_run: 5s, add: 60s}
                proxy_protocol: {from: [127.0.0.1]}
            """ })
        let local = proxyV2("0.0.0.0", "0.0.0.0", 0, 0, local: true)
        for _ in 0..<3 { #expect(try sendPieces(ports[0], [local]) == "up\n") }
        try d.waitForLog("checked: exited", count: 3)
        #expect(!d.log.contains("penalised") && !d.log.contains("refused"), "\(d.log)")
        // A real client's short run is.
        #expect(try sendPieces(ports[0], [proxyV1("192.0.2.1", "192.0.2.2", 1, 2)]) == "up\n")
        try d.waitForLog("checked: penalised source=192.0.2.1/32")
    }

    @Test func haproxyIsARealSender() throws {
        let haproxy = ["/usr/sbin/haproxy", "/usr/bin/haproxy"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let haproxy else {
            throw TestFailure("haproxy is not installed: `make deps` installs it (Debian's haproxy package)")
        }
        let (d, ports) = try startDaemon({ p in """
            services:
              show:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", 'echo "remote=$TCPREMOTEIP via=$PROXYPEERIP local=$TCPLOCALPORT"; exec cat']
                stderr: null
                per_source: 1
                refuse_message: busy
                proxy_protocol: {from: [127.0.0.1]}
            """ }, ports: 1)
        // The ports are picked free; another test may take one first: then haproxy exits and this test fails with its log.
        let v1Port = freePort(), v2Port = freePort()
        let config = """
            global
                maxconn 100
            defaults
                mode tcp
                timeout connect 5s
                timeout client 30s
                timeout server 30s
            frontend v1
                bind 127.0.0.1:\(v1Port)
                default_backend v1
            frontend v2
                bind 127.0.0.1:\(v2Port)
                default_backend v2
            backend v1
                server s 127.0.0.1:\(ports[0]) send-proxy
            backend v2
                server s 127.0.0.1:\(ports[0]) send-proxy-v2
            """
        let path = d.dir + "/haproxy.cfg"
        try (config + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        let pid = try spawnProcess([haproxy, "-db", "-f", path], output: d.dir + "/haproxy.log")
        defer { kill(pid, SIGKILL); var s: Int32 = 0; waitpid(pid, &s, 0) }
        try waitUntil(10, "haproxy to listen: \(readText(d.dir + "/haproxy.log") ?? "")") {
            // Seen in the kernel's table: a probe connection would be a client of its own.
            listeningInode(v1Port) != nil && listeningInode(v2Port) != nil
        }
        let a = try exchange(v1Port, "one\n", from: "127.0.0.2")
        #expect(a == "remote=127.0.0.2 via=127.0.0.1 local=\(v1Port)\none\n", "\(a)")
        let b = try exchange(v2Port, "two\n", from: "127.0.0.3")
        #expect(b == "remote=127.0.0.3 via=127.0.0.1 local=\(v2Port)\ntwo\n", "\(b)")
        // per_source sees the clients, not haproxy: 127.0.0.2 holds one, and its second is refused.
        let held = try connectOnly(v2Port, from: "127.0.0.2")
        defer { close(held) }
        try d.waitForLog("show: accepted", count: 3)
        #expect(try exchange(v1Port, "again\n", from: "127.0.0.2") == "busy\n")
        #expect(try exchange(v1Port, "four\n", from: "127.0.0.4").hasSuffix("four\n"))
        try d.waitForLog("reason=per-source")
        #expect(d.log.range(of: #"show: refused peer=127\.0\.0\.2:\d+ via=127\.0\.0\.1:\d+ reason=per-source"#, options: .regularExpression) != nil, "\(d.log)")
    }

    /// HAProxy terminating TLS and sending v2 with its SSL TLV, a CRC32C
    /// and the authority (SNI): the handler sees the client's TLS version
    /// and the name it asked for.
    @Test func haproxyV2WithTLSGivesTheSSLVariables() throws {
        guard let haproxy = ["/usr/sbin/haproxy", "/usr/bin/haproxy"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }),
              FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") else {
            throw TestFailure("haproxy or openssl is not installed: `make deps` installs them")
        }
        let (d, ports) = try startDaemon({ p in """
            services:
              show:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", 'echo "remote=$TCPREMOTEIP ssl=$PROXY_SSL_VERSION authority=$PROXY_AUTHORITY"; exec head -n 1']
                stderr: null
                proxy_protocol: {from: [127.0.0.1], version: v2}
            """ })
        let key = try runToEnd(["/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                "-keyout", d.dir + "/key.pem", "-out", d.dir + "/cert.pem", "-days", "1", "-subj", "/CN=front.test"])
        #expect(key.status == 0, "\(key.output)")
        let pem = (readText(d.dir + "/cert.pem") ?? "") + (readText(d.dir + "/key.pem") ?? "")
        try pem.write(toFile: d.dir + "/front.pem", atomically: true, encoding: .utf8)
        let front = freePort()
        try """
            global
                maxconn 100
            defaults
                mode tcp
                timeout connect 5s
                timeout client 30s
                timeout server 30s
            frontend tls
                bind 127.0.0.1:\(front) ssl crt \(d.dir)/front.pem
                default_backend show
            backend show
                server s 127.0.0.1:\(ports[0]) send-proxy-v2-ssl proxy-v2-options crc32c,authority

            """.write(toFile: d.dir + "/haproxy.cfg", atomically: true, encoding: .utf8)
        let pid = try spawnProcess([haproxy, "-db", "-f", d.dir + "/haproxy.cfg"], output: d.dir + "/haproxy.log")
        defer { kill(pid, SIGKILL); var st: Int32 = 0; waitpid(pid, &st, 0) }
        try waitUntil(10, "haproxy to listen: \(readText(d.dir + "/haproxy.log") ?? "")") { listeningInode(front) != nil }
        let client = try runToEnd(["/usr/bin/openssl", "s_client", "-connect", "127.0.0.1:\(front)", "-servername", "svc.example",
                                   "-tls1_3", "-quiet", "-ign_eof"], timeout: 20, stdin: "over tls\n")
        #expect(client.output.contains("remote=127.0.0.1 ssl=TLSv1.3 authority=svc.example\nover tls\n"), "\(client.output)\n\(d.log)")
    }

}
