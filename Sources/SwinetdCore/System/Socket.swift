#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// TCP and UDP sockets: listening (or bound, for UDP), accepting, and
/// naming the two ends.
enum Socket {
    /// Which step of opening a listener failed, for the log.
    struct ListenError: Error {
        var step: String
        var errno: Errno
        /// Said instead of the errno's text when there is more to say.
        var message: String? = nil
        var text: String { message ?? errno.text }
    }

    /// How a UNIX socket's file is made (mode, owner, group).
    struct FileMode {
        var mode: mode_t = 0o666
        var owner: uid_t?
        var group: gid_t?
    }

    /// A non-blocking, close-on-exec listening socket bound to `address`.
    /// IPv6 sockets set IPV6_V6ONLY, so nothing depends on the host's sysctl.
    static func listen(_ address: ListenAddress, backlog: Int, file: FileMode = FileMode()) -> Result<Int32, ListenError> {
        if let path = address.path {
            return UnixSocketFile.listen(path, mode: file.mode, owner: file.owner, group: file.group, backlog: Int32(backlog))
                .mapError { ListenError(step: $0.step, errno: $0.errno, message: $0.message) }
        }
        let family = address.family == .ipv4 ? AF_INET : AF_INET6
        let type = address.transport == .udp ? Int32(SOCK_DGRAM.rawValue) : Int32(SOCK_STREAM.rawValue)
        let fd: Int32
        switch syscallResult({ socket(family, type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }) {
        case .success(let d): fd = d
        case .failure(let e): return .failure(ListenError(step: "socket", errno: e))
        }
        var one: Int32 = 1
        // TCP: a restart binds again while old connections sit in TIME_WAIT.
        // Never UDP, which has no TIME_WAIT: there SO_REUSEADDR lets any
        // local user who sets it too bind the same address and take a share
        // of the service's datagrams.
        if address.transport == .tcp,
           case .failure(let e) = syscallResult({ setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) }) {
            closeDescriptor(fd)
            return .failure(ListenError(step: "setsockopt(SO_REUSEADDR)", errno: e))
        }
        // Without V6ONLY a [::] socket would also take IPv4 and clash with
        // 0.0.0.0: not setting it is an error, not a detail.
        if address.family == .ipv6,
           case .failure(let e) = syscallResult({ setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size)) }) {
            closeDescriptor(fd)
            return .failure(ListenError(step: "setsockopt(IPV6_V6ONLY)", errno: e))
        }
        let bound = withSockaddr(address) { sa, len in syscallResult { bind(fd, sa, len) } }
        if case .failure(let e) = bound {
            closeDescriptor(fd)
            return .failure(ListenError(step: "bind", errno: e))
        }
        if address.transport == .tcp, case .failure(let e) = syscallResult({ Glibc.listen(fd, Int32(backlog)) }) {
            closeDescriptor(fd)
            return .failure(ListenError(step: "listen", errno: e))
        }
        return .success(fd)
    }

    /// Changes the backlog of a listening socket in place (Linux allows listen() again).
    static func setBacklog(_ fd: Int32, _ backlog: Int) -> Result<Void, Errno> {
        syscallResult { Glibc.listen(fd, Int32(backlog)) }.map { _ in () }
    }

    enum AcceptResult {
        case accepted(Int32)
        case empty
        case failed(Errno)
    }

    /// accept4 with SOCK_CLOEXEC and without SOCK_NONBLOCK: the handler gets a
    /// blocking socket, and no other child inherits it. EINTR and ECONNABORTED
    /// are retried: the next connection in the queue is as good. EBADF,
    /// EINVAL, ENOTSOCK and EOPNOTSUPP mean the listener is not what swinetd
    /// thinks it is: a bug, which stops the master.
    /// With `nonBlocking` (the master's own control and metrics clients),
    /// the socket is non-blocking instead.
    static func accept(_ listener: Int32, peer: inout sockaddr_storage, nonBlocking: Bool = false) -> AcceptResult {
        let flags = Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        while true {
            var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &peer) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { clinux_accept4(listener, $0, &len, flags) }
            }
            if fd >= 0 { return .accepted(fd) }
            let e = Errno.current
            switch e {
            case .interrupted, .connectionAbort, .protocolError: continue
            case .wouldBlock: return .empty
            case .badFileDescriptor, .invalidArgument, .notSocket, .notSupportedOnSocket, .badAddress:
                fatalError("swinetd bug: accept4(\(listener)) failed with \(e.text)")
            default: return .failed(e)
            }
        }
    }

    /// The local end of an accepted socket.
    static func localName(_ fd: Int32, into storage: inout sockaddr_storage) -> Bool {
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        } == 0
    }

    /// Writes the IP of `storage` as text, NUL-terminated, into `buffer`
    /// (at least INET6_ADDRSTRLEN bytes) and returns the port.
    static func format(_ storage: inout sockaddr_storage, into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> UInt16 {
        withUnsafeMutablePointer(to: &storage) { p -> UInt16 in
            if p.pointee.ss_family == sa_family_t(AF_INET6) {
                return p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { s in
                    _ = withUnsafePointer(to: &s.pointee.sin6_addr) { inet_ntop(AF_INET6, $0, buffer, socklen_t(capacity)) }
                    return UInt16(bigEndian: s.pointee.sin6_port)
                }
            }
            return p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { s in
                dottedQuad(s.pointee.sin_addr, into: buffer)
                return UInt16(bigEndian: s.pointee.sin_port)
            }
        }
    }

    /// An IPv4 address as text, written by hand: glibc's inet_ntop formats
    /// it with sprintf, about 1% of the master's time per connection.
    private static func dottedQuad(_ addr: in_addr, into buffer: UnsafeMutablePointer<CChar>) {
        var at = 0
        withUnsafeBytes(of: addr.s_addr) { octets in
            for (i, octet) in octets.enumerated() {
                if i > 0 { buffer[at] = 46; at += 1 }
                let n = Int(octet)
                if n >= 100 { buffer[at] = CChar(48 + n / 100); at += 1 }
                if n >= 10 { buffer[at] = CChar(48 + n / 10 % 10); at += 1 }
                buffer[at] = CChar(48 + n % 10); at += 1
            }
        }
        buffer[at] = 0
    }

    private static func withSockaddr<R>(_ address: ListenAddress, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        switch address.family {
        case .ipv4:
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = address.port.bigEndian
            withUnsafeMutableBytes(of: &sin.sin_addr) { $0.copyBytes(from: address.ipOrPath) }
            return withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .ipv6:
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = address.port.bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { $0.copyBytes(from: address.ipOrPath) }
            return withUnsafePointer(to: &sin6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        case .unix:
            return UnixSocketFile.withAddress(address.path ?? "", body)
        }
    }
}

extension Socket {
    /// The address a socket is bound to, as the table would write it (with
    /// its transport from SO_TYPE); nil when it is not a bound TCP, UDP or
    /// UNIX stream socket.
    static func boundAddress(_ fd: Int32) -> ListenAddress? {
        var type: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &size) == 0 else { return nil }
        let transport: Transport
        switch type {
        case Int32(SOCK_STREAM.rawValue): transport = .tcp
        case Int32(SOCK_DGRAM.rawValue): transport = .udp
        default: return nil
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let ok = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafeBytes(of: &storage) { raw in
                let sin = raw.load(as: sockaddr_in.self)
                return ListenAddress(family: .ipv4, ipOrPath: withUnsafeBytes(of: sin.sin_addr) { Array($0) }, port: UInt16(bigEndian: sin.sin_port), transport: transport)
            }
        case AF_INET6:
            return withUnsafeBytes(of: &storage) { raw in
                let sin6 = raw.load(as: sockaddr_in6.self)
                return ListenAddress(family: .ipv6, ipOrPath: withUnsafeBytes(of: sin6.sin6_addr) { Array($0) }, port: UInt16(bigEndian: sin6.sin6_port), transport: transport)
            }
        case AF_UNIX:
            guard transport == .tcp else { return nil }
            let offset = MemoryLayout<sa_family_t>.size
            return withUnsafeBytes(of: &storage) { raw in
                let bytes = raw[offset..<min(Int(length), raw.count)]
                let path = Array(bytes.prefix { $0 != 0 })
                return path.isEmpty ? nil : ListenAddress(family: .unix, ipOrPath: path, port: 0)
            }
        default:
            return nil
        }
    }
}
