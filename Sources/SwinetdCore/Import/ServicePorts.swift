#if canImport(Glibc)
import Glibc
#endif

/// The service names of /etc/services, as inetd and xinetd look them up:
/// a name (or alias) for a protocol gives a port and the official name; a
/// number is a port, whose official name (if any) says which builtin an
/// `internal` entry is.
enum ServicePorts {
    struct Entry: Equatable {
        var port: UInt16
        /// The first name of the /etc/services line ("auth" for ident), if any.
        var official: String?
    }

    /// The lookups made so far: getservbyname and getservbyport read
    /// /etc/services from the top each time, too slow for an inetd.conf of
    /// a million lines.
    struct Cache {
        var entries: [String: Entry?] = [:]

        mutating func lookup(_ field: String, proto: String) -> Entry? {
            let key = proto + "/" + field
            if let known = entries[key] { return known }
            let entry = ServicePorts.lookup(field, proto: proto)
            entries[key] = entry
            return entry
        }
    }

    static func lookup(_ field: String, proto: String) -> Entry? {
        if !field.isEmpty, field.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            guard field.count <= 5, let n = Int(field), n >= 1, n <= 65535 else { return nil }
            let port = UInt16(n)
            guard let s = getservbyport(Int32(port.bigEndian), proto) else { return Entry(port: port, official: nil) }
            return Entry(port: port, official: String(cString: s.pointee.s_name))
        }
        guard field.utf8.count < 256, !field.utf8.contains(0), let s = getservbyname(field, proto) else { return nil }
        return Entry(port: UInt16(bigEndian: UInt16(truncatingIfNeeded: s.pointee.s_port)), official: String(cString: s.pointee.s_name))
    }
}

/// Reading a configuration file for an importer: bounded, never blocking,
/// as text whatever bytes it holds.
enum ImportInput {
    static let limit = 64 << 20
    /// The longest logical line either importer takes; inetd itself reads 1024 or LINE_MAX.
    static let longestLine = 65_536

    struct Unreadable: Error { var message: String }

    static func lines(_ path: String) -> Result<[Substring], Unreadable> {
        switch FileBytes.read(path, limit: limit) {
        case .failure(let f): return .failure(Unreadable(message: "cannot read \(path): \(f.text)"))
        case .success(let bytes): return .success(lines(of: bytes))
        }
    }

    /// The lines of a file as inetd and xinetd read them: split at the byte
    /// "\n" (a "\r" before it dropped), each decoded alone. Splitting the
    /// decoded text instead misses every CRLF line end, since Swift's
    /// Character "\r\n" is not "\n".
    static func lines(of bytes: [UInt8]) -> [Substring] {
        bytes.split(separator: 10, omittingEmptySubsequences: false).map { line in
            Substring(String(decoding: line.last == 13 ? line.dropLast() : line, as: UTF8.self))
        }
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
    }

    /// The entries of a directory, sorted as the C locale sorts.
    static func directory(_ path: String) -> [String]? {
        guard let d = opendir(path) else { return nil }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }

    /// Fields split at spaces and tabs, as bytes: a space followed by a
    /// combining mark is one Character, but still a separator to inetd.
    static func words(_ line: Substring) -> [Substring] {
        line.unicodeScalars.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(Substring.init)
    }

    static func basename(_ path: String) -> String {
        String(path.split(separator: "/").last ?? Substring(path))
    }

    /// A listen entry for a host and port: numeric addresses as they are,
    /// "*" (or none) as the family's wildcard, localhost as loopback. Other
    /// names are resolved now (nil when they do not resolve).
    static func address(host: String?, port: UInt16, ipv6: Bool) -> [String]? {
        let h = host ?? "*"
        if h == "*" || h.isEmpty { return [ipv6 ? "[::]:\(port)" : "0.0.0.0:\(port)"] }
        if h == "localhost" { return [ipv6 ? "[::1]:\(port)" : "127.0.0.1:\(port)"] }
        var hints = addrinfo()
        hints.ai_family = ipv6 ? AF_INET6 : AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var res: UnsafeMutablePointer<addrinfo>?
        guard h.utf8.count < 256, getaddrinfo(h, nil, &hints, &res) == 0, let first = res else { return nil }
        defer { freeaddrinfo(first) }
        var out: [String] = []
        var p: UnsafeMutablePointer<addrinfo>? = first
        while let a = p {
            var buf = [CChar](repeating: 0, count: 64)
            if getnameinfo(a.pointee.ai_addr, a.pointee.ai_addrlen, &buf, socklen_t(buf.count), nil, 0, NI_NUMERICHOST) == 0 {
                let text = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let entry = ipv6 ? "[\(text)]:\(port)" : "\(text):\(port)"
                if !out.contains(entry) { out.append(entry) }
            }
            p = a.pointee.ai_next
        }
        return out.isEmpty ? nil : out
    }

    static func isNumericHost(_ h: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, h, &v4) == 1 || inet_pton(AF_INET6, h, &v6) == 1
    }
}
