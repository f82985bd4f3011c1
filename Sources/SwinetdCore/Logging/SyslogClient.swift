#if canImport(Glibc)
import Glibc
#endif

/// A syslog client of swinetd's own instead of syslog(3), whose send blocks
/// when the syslog daemon stops reading. Each line is one datagram on a
/// non-blocking AF_UNIX socket, in the format syslog(3) uses:
/// `<30>Dec  2 09:14:07 swinetd[812]: echo: accepted ...` (facility daemon,
/// the line's level as its severity: <27> error, <28> warning, <29> notice,
/// <30> info). When the daemon is gone (ENOENT, ECONNREFUSED: restarted)
/// the line is lost and the socket is connected again for the next one.
public final class SyslogClient {
    public static let defaultPath = "/dev/log"
    let path: String
    private(set) var fd: Int32 = -1
    private let pid = getpid()
    private var datagram: [UInt8] = []
    private var stampSecond: time_t = -1
    private var stamp: [UInt8] = []

    init(path: String) { self.path = path }

    deinit { if fd >= 0 { closeDescriptor(fd) } }

    /// Sends `line` (its trailing newline is dropped). False when it did not
    /// go: the socket is full (fd stays open: wait for writable) or gone.
    func send(_ line: ArraySlice<UInt8>, level: Log.Level) -> Bool {
        if fd < 0 && !connect() { return false }
        datagram.removeAll(keepingCapacity: true)
        datagram.append(contentsOf: "<\(3 << 3 + level.rawValue)>".utf8)
        datagram.append(contentsOf: timestamp())
        datagram.append(contentsOf: " swinetd[\(pid)]: ".utf8)
        datagram.append(contentsOf: line.last == 10 ? line.dropLast() : line)
        switch datagram.withUnsafeBytes({ buf in syscallResult { Glibc.send(fd, buf.baseAddress, buf.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) } }) {
        case .success: return true
        case .failure(.wouldBlock): return false
        case .failure: break
        }
        closeDescriptor(fd)
        fd = -1
        return false
    }

    private func connect() -> Bool {
        let s = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return false }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { closeDescriptor(s); return false }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes + [0]) }
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard r == 0 else { closeDescriptor(s); return false }
        fd = s
        return true
    }

    /// "Dec  2 09:14:07" in local time, formatted once a second.
    private func timestamp() -> [UInt8] {
        var now = time(nil)
        if now != stampSecond {
            var tm = Glibc.tm()
            localtime_r(&now, &tm)
            var buffer = [CChar](repeating: 0, count: 32)
            let n = strftime(&buffer, buffer.count, "%b %e %H:%M:%S", &tm)
            stamp = buffer.prefix(n).map { UInt8(bitPattern: $0) }
            stampSecond = now
        }
        return stamp
    }
}
