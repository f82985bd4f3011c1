import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Connections waiting for their PROXY header, or ready while one is held:
/// their slots, their stderr, an upgrade across them, health checks.
@Suite(.timeLimit(.minutes(2))) struct ProxyWaitingTests {
    static func table(_ port: UInt16, _ extra: String = "", from: String = "127.0.0.1") -> String {
        ProxyProtocolTests.table(port, extra, from: from)
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

}
