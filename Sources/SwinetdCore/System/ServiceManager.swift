#if canImport(Glibc)
import Glibc
#endif

/// sd_notify(3)'s protocol, written directly (no libsystemd): when
/// `NOTIFY_SOCKET` is set, each state change is one datagram of
/// `KEY=VALUE` lines to that AF_UNIX socket (a path, or `@name` for the
/// abstract namespace). `READY=1` once every address listens;
/// `RELOADING=1` with `MONOTONIC_USEC=` as a reload (or an upgrade) starts
/// and `READY=1` with a `STATUS=` as it ends; `STOPPING=1` as it stops.
/// Sent without waiting: a service manager that does not read loses a
/// message, never the master's time.
public final class ServiceManager {
    private let fd: Int32
    private var address = sockaddr_un()
    private var length: socklen_t = 0

    /// The notifier `NOTIFY_SOCKET` names, or nil when it is unset or unusable.
    public static func fromEnvironment() -> ServiceManager? {
        guard let value = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !value.isEmpty else { return nil }
        return ServiceManager(path: value)
    }

    init?(path: String) {
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        guard bytes.first == UInt8(ascii: "/") || abstract else { return nil }
        if abstract { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes + (abstract ? [] : [0])) }
        // An abstract name's length is exact; a path's includes its NUL.
        length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return nil }
    }

    deinit { closeDescriptor(fd) }

    @discardableResult
    public func send(_ fields: [(String, String)]) -> Bool {
        let text = fields.map { "\($0.0)=\($0.1.replacingNewlines())" }.joined(separator: "\n") + "\n"
        let bytes = Array(text.utf8)
        let n = withUnsafePointer(to: &address) { a in
            a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { Glibc.sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
        return n == bytes.count
    }

    public func ready(status: String) { send([("READY", "1"), ("STATUS", status)]) }

    public func reloading(status: String) {
        send([("RELOADING", "1"), ("MONOTONIC_USEC", String(monotonicNanoseconds() / 1000)), ("STATUS", status)])
    }

    public func stopping() { send([("STOPPING", "1"), ("STATUS", "stopping")]) }
}

extension String {
    /// One line: a STATUS= value must not start another KEY=.
    func replacingNewlines() -> String {
        String(unicodeScalars.map { $0 == "\n" || $0 == "\r" ? " " : Character($0) })
    }
}
