#if canImport(Glibc)
import Glibc
#endif

/// The internal services, as `swinetd builtin NAME [--udp]` runs them in a
/// handler: the connection (or the UDP socket) on descriptors 0 and 1,
/// blocking, like any handler's. RFC 862 echo, 863 discard, 867 daytime,
/// 868 time, 864 chargen, and 1413 auth answering HIDDEN-USER to every
/// well-formed query, as FreeBSD's internal auth does without options.
public enum BuiltinServices {
    /// Seconds from 1900 (RFC 868's epoch) to 1970.
    static let epoch1900: UInt64 = 2_208_988_800
    /// How long a UDP builtin waits for another datagram before it exits,
    /// and how long auth waits for its query.
    static let idle: Int = 1
    static let authTimeout: Int = 10
    /// The most datagrams a UDP builtin answers per second, all peers
    /// together (each peer also has a PeerBudget of its own).
    static let udpRate: UInt64 = 100
    /// The longest chargen datagram (RFC 864).
    static let chargenMaximum = 512

    public static func serve(_ b: Builtin, udp: Bool) -> Int32 {
        signal(SIGPIPE, SIG_IGN)   // a client gone is the end, not a crash
        return udp ? serveUDP(b) : serveStream(b)
    }

    // MARK: Streams (TCP and UNIX)

    static func serveStream(_ b: Builtin) -> Int32 {
        switch b {
        case .echo:
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { buf in syscallResult { read(0, buf.baseAddress, buf.count) } }
                guard case .success(let k) = n, k > 0 else { return 0 }
                guard reply(Array(buffer[0..<k])) else { return 0 }
            }
        case .discard:
            var buffer = [UInt8](repeating: 0, count: 65536)
            while case .success(let n) = buffer.withUnsafeMutableBytes({ buf in syscallResult { read(0, buf.baseAddress, buf.count) } }), n > 0 {}
            return 0
        case .daytime:
            _ = reply(Array(daytime().utf8))
            return 0
        case .time:
            _ = reply(timeBytes())
            return 0
        case .chargen:
            // Line after line until the client goes; a client that never
            // reads blocks this handler, never the master.
            var line = 0
            while reply(chargenLine(line)) { line += 1 }
            return 0
        case .auth:
            var tv = timeval(tv_sec: authTimeout, tv_usec: 0)
            setsockopt(0, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var query: [UInt8] = []
            var byte: UInt8 = 0
            while query.count < 1000, case .success(1) = syscallResult({ read(0, &byte, 1) }), byte != 10 { query.append(byte) }
            _ = reply(Array(authReply(String(decoding: query, as: UTF8.self)).utf8))
            return 0
        }
    }

    /// All of `bytes` to the client (descriptor 1); false once it is gone.
    static func reply(_ bytes: [UInt8]) -> Bool {
        if case .failure = writeAll(1, bytes) { return false }
        return true
    }

    // MARK: UDP

    static func serveUDP(_ b: Builtin) -> Int32 {
        var tv = timeval(tv_sec: idle, tv_usec: 0)
        setsockopt(0, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var own = sockaddr_storage()
        var ownLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &own) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(0, $0, &ownLength) } }
        let ownPort = port(of: own)
        var budget = TokenBucket(rate: udpRate, burst: udpRate, now: monotonicNanoseconds())
        var peers = PeerBudget()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var line = 0
        while true {
            var from = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let received = buffer.withUnsafeMutableBytes { raw in
                withUnsafeMutablePointer(to: &from) { address in
                    syscallResult { address.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(0, raw.baseAddress, raw.count, 0, $0, &length) } }
                }
            }
            guard case .success(let n) = received else { return 0 }   // idle for a second (or the socket failed): done
            let now = monotonicNanoseconds()
            guard shouldAnswer(sourcePort: port(of: from), ownPort: ownPort), peers.take(PeerBudget.key(from), now: now), budget.take(now: now) else { continue }
            let reply: [UInt8]
            switch b {
            case .echo: reply = Array(buffer[0..<n])
            case .discard: continue
            case .daytime: reply = Array(daytime().utf8)
            case .time: reply = timeBytes()
            case .chargen:
                // RFC 864: a datagram of 0 to 512 characters, the number the
                // server's to choose: as many as the request had, so a forged
                // request buys no more traffic than it cost.
                var out: [UInt8] = []
                let size = min(n, chargenMaximum)
                while out.count < size { out += chargenLine(line); line += 1 }
                reply = Array(out.prefix(size))
            case .auth: continue
            }
            _ = reply.withUnsafeBytes { raw in
                withUnsafePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(0, raw.baseAddress, raw.count, 0, $0, length) }
                }
            }
        }
    }

    /// Never to a privileged port nor to our own: the classic echo/chargen
    /// loop between two inetds starts with a datagram forged from one.
    static func shouldAnswer(sourcePort: UInt16, ownPort: UInt16) -> Bool {
        sourcePort >= 1024 && sourcePort != ownPort
    }

    static func port(of s: sockaddr_storage) -> UInt16 {
        var copy = s
        return withUnsafePointer(to: &copy) { p in
            p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    // MARK: The texts

    /// RFC 867 leaves the format open; this is the one it suggests.
    static func daytime(_ now: time_t = time(nil)) -> String {
        var t = now
        var parts = tm()
        gmtime_r(&t, &parts)
        var out = [CChar](repeating: 0, count: 64)
        let n = strftime(&out, out.count, "%A, %B %d, %Y %H:%M:%S-UTC\r\n", &parts)
        return String(decoding: out[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func timeBytes(_ now: time_t = time(nil)) -> [UInt8] {
        let seconds = UInt32(truncatingIfNeeded: UInt64(now) + epoch1900)
        return withUnsafeBytes(of: seconds.bigEndian) { Array($0) }
    }

    /// Line `n` of RFC 864's pattern: 72 of the 95 printable characters,
    /// starting one further on each line.
    static func chargenLine(_ n: Int) -> [UInt8] {
        (0..<72).map { UInt8(32 + (n + $0) % 95) } + [13, 10]
    }

    /// RFC 1413: "PORT , PORT" in, "PORT , PORT : ERROR : HIDDEN-USER" out.
    static func authReply(_ query: String) -> String {
        let parts = query.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: " \t\r") }
        if parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), (1...65535).contains(a), (1...65535).contains(b) {
            return "\(a) , \(b) : ERROR : HIDDEN-USER\r\n"
        }
        return "0 , 0 : ERROR : INVALID-PORT\r\n"
    }
}

private extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}
