import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The internal services, over TCP and UDP, through the real binary.
@Suite(.timeLimit(.minutes(2))) struct BuiltinTests {
    static func table(_ p: [UInt16]) -> String { """
        services:
          echo:
            listen: 127.0.0.1:\(p[0])
            builtin: echo
            deny: [127.0.0.9]
          discard:
            listen: 127.0.0.1:\(p[1])
            builtin: discard
          daytime:
            listen: 127.0.0.1:\(p[2])
            builtin: daytime
          time:
            listen: 127.0.0.1:\(p[3])
            builtin: time
          chargen:
            listen: 127.0.0.1:\(p[4])
            builtin: chargen
          auth:
            listen: 127.0.0.1:\(p[5])
            builtin: auth
          echo-udp:
            listen: 127.0.0.1:\(p[0])
            protocol: udp
            builtin: echo
          daytime-udp:
            listen: 127.0.0.1:\(p[2])
            protocol: udp
            builtin: daytime
          time-udp:
            listen: 127.0.0.1:\(p[3])
            protocol: udp
            builtin: time
          chargen-udp:
            listen: 127.0.0.1:\(p[4])
            protocol: udp
            builtin: chargen
          discard-udp:
            listen: 127.0.0.1:\(p[1])
            protocol: udp
            builtin: discard
        """
    }

    static func chargenLine(_ n: Int) -> String {
        String(decoding: (0..<72).map { UInt8(32 + (n + $0) % 95) }, as: UTF8.self) + "\r\n"
    }

    @Test func eachBuiltinAnswersAsItsRFCSays() throws {
        let (d, p) = try startDaemon({ Self.table($0) }, ports: 6)
        #expect(try exchange(p[0], "hello\n") == "hello\n")
        #expect(try exchange(p[0], "x", from: "127.0.0.9") == "", "deny applies to a builtin like any service")
        #expect(try exchange(p[1], "into the void\n") == "")
        let day = try exchange(p[2])
        #expect(day.range(of: #"^[A-Z][a-z]+day, [A-Z][a-z]+ \d\d, \d{4} \d\d:\d\d:\d\d-UTC\r\n$"#, options: .regularExpression) != nil, "\(day)")
        let t = Array(try exchangeBytes(p[3]))
        #expect(t.count == 4)
        if t.count == 4 {
            let seconds = UInt64(t[0]) << 24 | UInt64(t[1]) << 16 | UInt64(t[2]) << 8 | UInt64(t[3])
            #expect(abs(Int64(seconds) - Int64(time(nil)) - 2_208_988_800) < 5, "RFC 868: seconds since 1900")
        }
        #expect(try exchange(p[5], "6191, 23\r\n") == "6191 , 23 : ERROR : HIDDEN-USER\r\n")
        #expect(try exchange(p[5], "nonsense\r\n") == "0 , 0 : ERROR : INVALID-PORT\r\n")
        // chargen: the first lines of RFC 864's pattern.
        let fd = try connectOnly(p[4])
        defer { close(fd) }
        var got: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while got.count < 74 * 3 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { break }
            got += buffer[0..<n]
        }
        #expect(String(decoding: got.prefix(74 * 3), as: UTF8.self) == Self.chargenLine(0) + Self.chargenLine(1) + Self.chargenLine(2))

        #expect(try datagram(p[0], "udp echo") == "udp echo")
        #expect(try datagram(p[2], "?").hasSuffix("-UTC\r\n"))
        #expect(try datagram(p[3], "?").isEmpty == false)
        #expect(try datagram(p[4], "0123456789") == String(Self.chargenLine(0).prefix(10)), "as many characters as asked with")
        #expect(throws: (any Error).self, "discard answers nothing") { try datagram(p[1], "void", timeout: 1) }
        #expect(d.log.contains("echo: refused peer=127.0.0.9:"))
    }

    @Test func chargenToClientsThatReadSlowlyOrNeverStallsNothing() throws {
        let (d, p) = try startDaemon({ Self.table($0) }, ports: 6)
        let never = try connectOnly(p[4])
        defer { close(never) }
        let slow = try connectOnly(p[4])
        defer { close(slow) }
        try d.waitForLog("chargen: accepted", count: 2)
        let rss = rssKB(d.pid)
        var buffer = [UInt8](repeating: 0, count: 100)
        for i in 0..<20 {
            _ = recv(slow, &buffer, buffer.count, 0)
            #expect(try exchange(p[0], "\(i)\n") == "\(i)\n")
        }
        if !underAddressSanitizer { #expect(rssKB(d.pid) < rss + 2048, "the master does not buffer for chargen's clients") }
        #expect(try datagram(p[0], "still") == "still")
    }

    @Test func udpBuiltinsDoNotFeedALoopOrAFlood() throws {
        let (d, p) = try startDaemon({ Self.table($0) }, ports: 6)
        if geteuid() == 0 {
            // A datagram from a privileged port (another inetd's echo, say) gets no answer.
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(fd) }
            var bound = false
            for port in UInt16(600)..<UInt16(1000) where withSockaddr("127.0.0.1", port, { bind(fd, $0, $1) }) == 0 { bound = true; break }
            #expect(bound)
            var tv = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            _ = withSockaddr("127.0.0.1", p[0]) { sa, len in "loop".withCString { sendto(fd, $0, 4, 0, sa, len) } }
            var byte: UInt8 = 0
            #expect(recv(fd, &byte, 1, 0) < 0, "no answer to a port below 1024")
        }
        // 1000 datagrams at once: at most the rate's worth of answers.
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var size: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, 4)
        for _ in 0..<1000 { _ = withSockaddr("127.0.0.1", p[0]) { sa, len in "x".withCString { sendto(fd, $0, 1, 0, sa, len) } } }
        // The first answer may wait for a handler to start on a busy machine.
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var answers = 0
        var byte: UInt8 = 0
        if recv(fd, &byte, 1, 0) > 0 { answers += 1 }
        let start = Date()
        tv = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        while answers > 0, recv(fd, &byte, 1, 0) > 0 { answers += 1 }
        let seconds = Date().timeIntervalSince(start)
        #expect(answers > 0 && Double(answers) <= 5 * (seconds + 1) + 20, "one peer: \(answers) answers in \(seconds) s\n\(d.log)")
        #expect(try datagram(p[0], "another peer") == "another peer", "the budget is each peer's own")
    }

    /// A builtin and another server that answers whatever it gets (another
    /// host's echo, 20 ms away: here the test's own socket, answering each
    /// datagram 20 ms later) set bouncing by one forged datagram. Under the
    /// 100 a second cap such a bounce went on for ever; each peer's budget
    /// now runs out and the bounce dies.
    @Test(arguments: ["echo", "chargen"]) func aBounceWithASlowReflectorDiesOut(_ builtin: String) throws {
        let (d, p) = try startDaemon({ p in """
            services:
              reflected:
                listen: 127.0.0.1:\(p[0])
                protocol: udp
                builtin: \(builtin)
            """ })
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        var tv = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let forged = Array("a forged datagram, as from another server".utf8)
        _ = withSockaddr("127.0.0.1", p[0]) { sa, len in forged.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, len) } }
        var buffer = [UInt8](repeating: 0, count: 1024)
        var arrivals: [Date] = []
        let start = Date()
        while Date().timeIntervalSince(start) < 8 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n >= 0 else { continue }
            arrivals.append(Date())
            usleep(20_000)
            _ = withSockaddr("127.0.0.1", p[0]) { sa, len in buffer.withUnsafeBytes { sendto(fd, $0.baseAddress, n, 0, sa, len) } }
        }
        let late = arrivals.filter { $0.timeIntervalSince(start) > 5 }.count
        #expect(arrivals.count > 1, "the bounce began: \(arrivals.count)\n\(d.log)")
        #expect(late == 0, "\(arrivals.count) answers, \(late) of them after 5 s: still bouncing")
    }

    /// A package update renames a new binary over the running one
    /// (`/proc/self/exe` then reads `PATH (deleted)`): the builtins a reload
    /// sets up run the binary now at the path swinetd was started from.
    @Test func builtinsServeAfterANewBinaryIsRenamedOverTheRunningOne() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let binary = dir + "/swinetd"
        try FileManager.default.copyItem(atPath: swinetdBinary, toPath: binary)
        let (d, p) = try startDaemon(launcher: ["/bin/sh", "-c", "shift; exec \"\(binary)\" \"$@\"", "sh"], { p in
            "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", builtin: echo}\n"
        })
        #expect(try exchange(p[0], "before\n") == "before\n")
        // As dpkg and install(1) do: a new file, renamed over the old one.
        try FileManager.default.copyItem(atPath: swinetdBinary, toPath: dir + "/swinetd.dpkg-new")
        #expect(rename(dir + "/swinetd.dpkg-new", binary) == 0)
        // A change to the table, so the reload builds every builtin again.
        try d.rewrite("services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", builtin: echo, max_connections: 5}\n")
        let r = try runToEnd([swinetdBinary, "reload", "-c", d.controlPath], timeout: 30)
        #expect(r.status == 0, "\(r.output)")
        #expect(try exchange(p[0], "after\n") == "after\n", "\(d.log)")
        #expect(!d.log.contains("exec-failed"), "\(d.log)")
    }
}

/// Connects, half-closes, and reads to EOF, as bytes.
func exchangeBytes(_ port: UInt16) throws -> [UInt8] {
    let fd = try connectOnly(port)
    defer { close(fd) }
    var tv = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    shutdown(fd, Int32(SHUT_WR))
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 256)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { return out }
        out += buffer[0..<n]
    }
}
