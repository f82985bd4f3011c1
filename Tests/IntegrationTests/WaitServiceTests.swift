import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Sends `text` in one datagram to 127.0.0.1:`port` and returns the answer.
func datagram(_ port: UInt16, _ text: String, timeout: Int = 10) throws -> String {
    let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { close(fd) }
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    let bytes = Array(text.utf8)
    let sent = withSockaddr("127.0.0.1", port) { sa, len in bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, 0, sa, len) } }
    guard sent == bytes.count else { throw TestFailure("sendto: \(String(cString: strerror(errno)))") }
    var buffer = [UInt8](repeating: 0, count: 2048)
    let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    guard n >= 0 else { throw TestFailure("no answer from udp port \(port): \(String(cString: strerror(errno)))") }
    return String(decoding: buffer[0..<n], as: UTF8.self)
}

/// `wait: true` and UDP: the handler gets the socket itself.
@Suite(.timeLimit(.minutes(2))) struct WaitServiceTests {
    /// Answers every datagram for a second after the last, then exits: one
    /// handler serves a burst, and tells which pid it is.
    static let udpUpper = "import socket,os\ns=socket.socket(fileno=0)\ns.settimeout(1)\ntry:\n  while True:\n    d,a=s.recvfrom(2048); s.sendto(d.upper()+b' '+str(os.getpid()).encode()+b' '+os.environ['PROTO'].encode(),a)\nexcept socket.timeout:\n  pass\n"

    /// With SO_REUSEADDR on a UDP socket, any local user binding the same
    /// address with it too shares the service's datagrams (the kernel hands
    /// each to one of them): a UDP listener must not set it.
    @Test func nobodyElseCanBindAUDPServicesAddress() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              echo-udp:
                listen: 127.0.0.1:\(p[0])
                protocol: udp
                builtin: echo
            """ })
        #expect(d.isRunning)
        let thief = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(thief) }
        var one: Int32 = 1
        setsockopt(thief, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withSockaddr("127.0.0.1", ports[0]) { bind(thief, $0, $1) }
        #expect(bound != 0 && errno == EADDRINUSE, "another socket bound the service's address")
        #expect(try datagram(ports[0], "mine") == "mine")
    }

    @Test func aUDPWaitServiceAnswersEveryDatagramFromOneHandler() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              upper:
                listen: 127.0.0.1:\(p[0])
                protocol: udp
                wait: true
                exec: /usr/bin/python3
                args: ["-c", \(jsonQuote(Self.udpUpper))]
            """ })
        var pids: Set<String> = []
        for i in 0..<5 {
            let answer = try datagram(ports[0], "hello \(i)")
            let parts = answer.split(separator: " ")
            #expect(parts.count == 4 && parts[0] == "HELLO" && parts[1] == "\(i)" && parts[3] == "UDP", "\(answer)")
            if parts.count == 4 { pids.insert(String(parts[2])) }
        }
        #expect(pids.count == 1, "while its handler runs the master leaves the socket to it: \(pids)")
        try d.waitForLog("upper: exited")
        #expect(d.log.range(of: #"upper: started pid=\d+ address=127\.0\.0\.1:\d+/udp\n"#, options: .regularExpression) != nil, "\(d.log)")
        #expect(d.log.components(separatedBy: "upper: started").count - 1 == 1)
        #expect(try datagram(ports[0], "again").hasPrefix("AGAIN "), "after it exits the master watches the socket again")
        #expect(!d.log.contains("backoff"))
    }

    @Test func aTCPWaitHandlerAcceptsForItselfThenTheMasterServesAgain() throws {
        let script = "import socket,os\ns=socket.socket(fileno=0)\nfor i in range(3):\n  c,a=s.accept(); c.sendall(b'%d %d\\n' % (i, os.getpid())); c.close()\n"
        let (d, ports) = try startDaemon({ p in """
            services:
              acceptor:
                listen: 127.0.0.1:\(p[0])
                wait: true
                exec: /usr/bin/python3
                args: ["-c", \(jsonQuote(script))]
            """ })
        let answers = try (0..<3).map { _ in try exchange(ports[0]) }
        let first = answers.map { $0.split(separator: " ").last.map(String.init) ?? "" }
        #expect(answers.map { $0.split(separator: " ").first ?? "" } == ["0", "1", "2"], "\(answers)")
        #expect(Set(first).count == 1, "one handler accepted all three: \(answers)")
        try d.waitForLog("acceptor: exited")
        let fourth = try exchange(ports[0])
        #expect(fourth.hasPrefix("0 ") && !first.contains(String(fourth.split(separator: " ").last ?? "")), "a new handler: \(fourth)")
        #expect(d.handlerPidsOf("started").count == 2, "\(d.log)")
    }

    @Test func aUDPSocketHeldByAWaitHandlerIsNotReboundUnderIt() throws {
        // Answers what came in its first 2 seconds, then exits.
        let slow = "import socket,time\ns=socket.socket(fileno=0)\ntime.sleep(2)\ns.setblocking(False)\ntry:\n  while True:\n    d,a=s.recvfrom(100); s.sendto(b'old '+d,a)\nexcept BlockingIOError:\n  pass\n"
        let with = { (port: UInt16) in "services:\n  u:\n    listen: 127.0.0.1:\(port)\n    protocol: udp\n    wait: true\n    exec: /usr/bin/python3\n    args: [\"-c\", \(jsonQuote(slow))]\n" }
        let without = { (port: UInt16) in "services:\n  other:\n    listen: 127.0.0.1:\(port)\n    exec: /bin/cat\n" }
        let (d, ports) = try startDaemon({ p in with(p[0]) })
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        _ = withSockaddr("127.0.0.1", ports[0]) { sa, len in "1".withCString { sendto(fd, $0, 1, 0, sa, len) } }
        try d.waitForLog("u: started")
        // Removed and added back while the handler still has the socket.
        try d.rewrite(without(ports[0]))
        #expect(try runToEnd([swinetdBinary, "reload", "-c", d.controlPath]).status == 0)
        try d.rewrite(with(ports[0]))
        #expect(try runToEnd([swinetdBinary, "reload", "-c", d.controlPath]).status == 0)
        #expect(d.log.contains("u: deferred address=127.0.0.1:\(ports[0])/udp until-exit-of="), "\(d.log)")
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 100)
        let n = recv(fd, &buffer, buffer.count, 0)
        #expect(n > 0 && String(decoding: buffer[0..<max(n, 0)], as: UTF8.self) == "old 1", "the old handler still got its datagram")
        try d.waitForLog("u: exited")
        try d.waitForLog("u: listening address=127.0.0.1:\(ports[0])/udp", count: 2)
        #expect(try datagram(ports[0], "2").hasPrefix("old 2"), "a new socket and handler after the old one exited")
    }

    /// TFTP retransmits, or one request from several clients: datagrams
    /// alike in source and bytes are still each a datagram to answer. A
    /// handler that reads one and exits, with the next (identical) one
    /// waiting, did read: it must not be backed off.
    @Test func identicalDatagramsToAOneShotHandlerAreEachAnswered() throws {
        let once = "import socket\ns=socket.socket(fileno=0)\nd,a=s.recvfrom(2048)\ns.sendto(d.upper(),a)\n"
        let (d, ports) = try startDaemon({ p in """
            services:
              once:
                listen: 127.0.0.1:\(p[0])
                protocol: udp
                wait: true
                exec: /usr/bin/python3
                args: ["-c", \(jsonQuote(once))]
            """ })
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        // 20 a second, every one the same bytes from the same socket.
        for _ in 0..<20 {
            _ = withSockaddr("127.0.0.1", ports[0]) { sa, len in "same".withCString { sendto(fd, $0, 4, 0, sa, len) } }
            usleep(50_000)
        }
        // Each handler starts python: a busy machine may take a while for
        // 20 of them, but not the 1+2+4+8+16 s of a back-off.
        var answers = 0
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let deadline = Date().addingTimeInterval(15)
        var buffer = [UInt8](repeating: 0, count: 64)
        while answers < 20 && Date() < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 4 && String(decoding: buffer[0..<4], as: UTF8.self) == "SAME" { answers += 1 }
        }
        #expect(answers == 20, "\(answers) of 20 identical datagrams answered\n\(d.log)")
        #expect(!d.log.contains("backoff"), "\(d.log)")
    }

    @Test func aHandlerThatNeverReadsBacksOffAndRecoversOnReload() throws {
        let table = { (port: UInt16, exec: String) in """
            services:
              spin:
                listen: 127.0.0.1:\(port)
                protocol: udp
                wait: true
                \(exec)
            """ }
        let (d, ports) = try startDaemon({ p in table(p[0], "exec: /bin/true") })
        let cpuBefore = cpuSeconds(d.pid)
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        _ = withSockaddr("127.0.0.1", ports[0]) { sa, len in "x".withCString { sendto(fd, $0, 1, 0, sa, len) } }
        try d.waitForLog("spin: backoff address=127.0.0.1:\(ports[0])/udp delay=2.000s", timeout: 10)
        sleep(2)
        let starts = d.log.components(separatedBy: "spin: started").count - 1
        #expect(starts >= 2 && starts <= 4, "1 s, then 2 s between tries, not a loop: \(starts) starts")
        #expect(cpuSeconds(d.pid) - cpuBefore < 0.5, "the master stays near idle")
        // Fixed by a reload: the datagram still waiting is answered.
        try d.rewrite(table(ports[0], "exec: /usr/bin/python3\n    args: [\"-c\", \(jsonQuote(Self.udpUpper))]"))
        #expect(try runToEnd([swinetdBinary, "reload", "-c", d.controlPath]).status == 0)
        #expect(try datagram(ports[0], "fixed").hasPrefix("FIXED "))
    }
}

extension Daemon {
    /// Pids of the `event` lines (accepted, started) in the log.
    func handlerPidsOf(_ event: String) -> [Int32] {
        logLines.filter { $0.contains(": \(event) pid=") && !$0.hasPrefix("swinetd: ") }.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("pid=") }.flatMap { Int32($0.dropFirst(4)) }
        }
    }
}

/// `activation: systemd`: the socket on descriptor 3, as sd_listen_fds(3) expects.
@Suite(.timeLimit(.minutes(2))) struct SocketActivationTests {
    static let check = "import os,socket\nok = os.environ.get('LISTEN_FDS') == '1' and os.environ.get('LISTEN_PID') == str(os.getpid()) and os.environ.get('LISTEN_FDNAMES') == os.environ['SWINETD_SERVICE']\nfds = sorted(int(f) for f in os.listdir('/proc/self/fd'))\nreport = ('%s in=%s out=%s fds=%s\\n' % (ok, os.readlink('/proc/self/fd/0'), os.readlink('/proc/self/fd/1'), fds)).encode()\n"

    @Test func aHandlerGetsItsSocketOnDescriptor3WithListenVariables() throws {
        let nowait = Self.check + "socket.socket(fileno=3).sendall(report)\n"
        let wait = Self.check + "s = socket.socket(fileno=3)\nc, a = s.accept()\nc.sendall(report)\n"
        let (d, ports) = try startDaemon({ p in """
            services:
              sd:
                listen: 127.0.0.1:\(p[0])
                exec: /usr/bin/python3
                args: ["-c", \(jsonQuote(nowait))]
                activation: systemd
                stderr: null
              sdwait:
                listen: 127.0.0.1:\(p[1])
                wait: true
                exec: /usr/bin/python3
                args: ["-c", \(jsonQuote(wait))]
                activation: systemd
                stderr: null
            """ }, ports: 2)
        for port in ports {
            let out = try exchange(port)
            // python itself opens a descriptor for listdir: 4 is that one.
            #expect(out == "True in=/dev/null out=/dev/null fds=[0, 1, 2, 3, 4]\n", "\(out)")
        }
        _ = d
    }
}
