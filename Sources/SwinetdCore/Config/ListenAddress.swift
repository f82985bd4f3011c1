#if canImport(Glibc)
import Glibc
#endif

/// One concrete socket address a service listens on. A table entry such as
/// `7007` or `localhost:7007` expands to several of these; listeners are kept
/// across reloads by this value.
public struct ListenAddress: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public enum Family: String, Hashable, Sendable, Codable { case ipv4, ipv6, unix }

    public var family: Family
    /// 4 or 16 bytes in network order; for a UNIX socket, its path's bytes.
    public var ipOrPath: [UInt8]
    public var port: UInt16
    /// TCP and UDP sockets of one ip:port are two addresses (both can be bound).
    public var transport: Transport = .tcp

    /// `ipOrPath` keeps the key it was encoded under before its rename: an
    /// upgrade hands the new image the old one's addresses.
    enum CodingKeys: String, CodingKey { case family, ipOrPath = "ip", port, transport }

    public init(family: Family, ipOrPath: [UInt8], port: UInt16, transport: Transport = .tcp) {
        self.family = family
        self.ipOrPath = ipOrPath
        self.port = port
        self.transport = transport
    }

    /// The same address for `transport`.
    public func with(_ transport: Transport) -> ListenAddress {
        var a = self
        a.transport = transport
        return a
    }

    public var isWildcard: Bool { family != .unix && ipOrPath.allSatisfy { $0 == 0 } }

    /// A UNIX socket's path.
    public var path: String? { family == .unix ? String(decoding: ipOrPath, as: UTF8.self) : nil }

    /// The longest path a UNIX socket address holds (sun_path less its NUL).
    public static let longestPath = 107

    /// IPv4 first, then by address bytes, then port: a stable order for logs.
    public static func < (a: ListenAddress, b: ListenAddress) -> Bool {
        if a.transport != b.transport { return a.transport == .tcp }
        if a.family != b.family { return a.family == .ipv4 }
        if a.ipOrPath != b.ipOrPath { return a.ipOrPath.lexicographicallyPrecedes(b.ipOrPath) }
        return a.port < b.port
    }

    /// `127.0.0.1:7007` or `[::1]:7007`; a UDP address ends in `/udp`; a
    /// UNIX socket is its path.
    public var description: String {
        if let path { return path }
        let text = ListenAddress.endpointText(ListenAddress.text(family: family, ipOrPath: ipOrPath), port, ipv6: family == .ipv6)
        return transport == .udp ? text + "/udp" : text
    }

    /// `ip:port`, or `[ip]:port` for IPv6: an address in the table, and a
    /// peer in the log, are written so.
    static func endpointText(_ ip: String, _ port: UInt16, ipv6: Bool) -> String {
        ipv6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }

    static func text(family: Family, ipOrPath: [UInt8]) -> String {
        if family == .unix { return String(decoding: ipOrPath, as: UTF8.self) }
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        ipOrPath.withUnsafeBytes { raw in
            _ = inet_ntop(family == .ipv4 ? AF_INET : AF_INET6, raw.baseAddress, &out, socklen_t(out.count))
        }
        return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Two addresses that cannot both be bound: equal, or the same port and
    /// family where one is the wildcard.
    public func conflicts(with other: ListenAddress) -> Bool {
        transport == other.transport && family == other.family && port == other.port && (ipOrPath == other.ipOrPath || isWildcard || other.isWildcard)
    }

    /// Whether `text` is a form whose IPv6 socket is only implied (`PORT`,
    /// `localhost:PORT`): skipped, with a log line, on a host without IPv6.
    public static func impliesIPv6(_ text: String) -> Bool {
        text.allSatisfy(\.isNumber) || text.hasPrefix("localhost:")
    }

    /// Parses one `listen` entry. The forms, and the sockets each opens:
    /// - `PORT`: `0.0.0.0:PORT` and `[::]:PORT` (IPV6_V6ONLY set, so two sockets)
    /// - `IPV4:PORT`, `0.0.0.0:PORT`: that IPv4 address
    /// - `[IPV6]:PORT`, `[::]:PORT`: that IPv6 address, IPV6_V6ONLY set
    /// - `localhost:PORT`: `127.0.0.1:PORT` and `[::1]:PORT` (fixed; /etc/hosts is not read)
    /// - `/ABSOLUTE/PATH`: a UNIX stream socket at that path
    public static func parse(_ text: String) -> Result<[ListenAddress], AddressError> {
        if text.isEmpty { return .failure(.init("empty address")) }
        if text.hasPrefix("/") {
            // A UNIX stream socket.
            guard text.utf8.count <= longestPath else {
                return .failure(.init("the socket path '\(text)' is \(text.utf8.count) bytes: at most \(longestPath)"))
            }
            guard !text.hasSuffix("/") else { return .failure(.init("the socket path '\(text)' names a directory")) }
            return .success([ListenAddress(family: .unix, ipOrPath: Array(text.utf8), port: 0)])
        }
        if text.allSatisfy(\.isNumber) {
            return port(text).map { [
                ListenAddress(family: .ipv4, ipOrPath: [0, 0, 0, 0], port: $0),
                ListenAddress(family: .ipv6, ipOrPath: [UInt8](repeating: 0, count: 16), port: $0),
            ] }
        }
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                return .failure(.init("malformed address '\(text)': missing ']' after the IPv6 address"))
            }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), rest.count > 1 else {
                return .failure(.init("malformed address '\(text)': expected [IPV6]:PORT"))
            }
            guard let ip = pton(AF_INET6, host, 16) else {
                return .failure(.init("malformed address '\(text)': '\(host)' is not an IPv6 address"))
            }
            return port(String(rest.dropFirst())).map { [ListenAddress(family: .ipv6, ipOrPath: ip, port: $0)] }
        }
        guard let colon = text.lastIndex(of: ":") else {
            return .failure(.init("malformed address '\(text)': expected PORT, IPV4:PORT, [IPV6]:PORT or localhost:PORT"))
        }
        let host = String(text[..<colon])
        let portText = String(text[text.index(after: colon)...])
        if host.contains(":") {
            return .failure(.init("malformed address '\(text)': write an IPv6 address in brackets, as [\(host)]:\(portText)"))
        }
        if host == "localhost" {
            return port(portText).map { [
                ListenAddress(family: .ipv4, ipOrPath: [127, 0, 0, 1], port: $0),
                ListenAddress(family: .ipv6, ipOrPath: [UInt8](repeating: 0, count: 15) + [1], port: $0),
            ] }
        }
        guard let ip = pton(AF_INET, host, 4) else {
            return .failure(.init("malformed address '\(text)': '\(host)' is not an IPv4 address (host names other than localhost are not resolved)"))
        }
        return port(portText).map { [ListenAddress(family: .ipv4, ipOrPath: ip, port: $0)] }
    }

    public struct AddressError: Error, Equatable {
        public var message: String
        init(_ message: String) { self.message = message }
    }

    private static func port(_ text: String) -> Result<UInt16, AddressError> {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            return .failure(.init("malformed port '\(text)': expected a number from 1 to 65535"))
        }
        guard text.utf8.count <= 5, let n = Int(text), n >= 1, n <= 65535 else {
            return .failure(.init("port \(text) out of range: expected 1 to 65535"))
        }
        return .success(UInt16(n))
    }

    private static func pton(_ family: Int32, _ host: String, _ size: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: size)
        let ok = out.withUnsafeMutableBytes { inet_pton(family, host, $0.baseAddress) }
        return ok == 1 ? out : nil
    }
}
