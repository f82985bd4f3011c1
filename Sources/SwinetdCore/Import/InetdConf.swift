/// Reads the classic inetd.conf (FreeBSD, OpenBSD, NetBSD, Debian's
/// openbsd-inetd, busybox), as those inetds parse it:
///
///     [host:]service socktype proto wait/nowait[/max-child[/max-conn-per-ip-per-min[/max-child-per-ip]]]
///         user[:group][/login-class] server-program [argv0 args...]
///
/// A line whose first character is # is a comment (one that reads as an
/// entry is a disabled entry); a line that starts with a space or a tab
/// continues the entry before it; a line `host:` alone sets the address of
/// the entries after it (`*:` resets it). OpenBSD's `nowait.max` is its
/// invocations per minute.
public struct InetdConf {
    public var includeDisabled = false
    /// Plain tcp and udp on both families, as Debian's openbsd-inetd reads
    /// them; else IPv4 only, as FreeBSD, OpenBSD, NetBSD and busybox do.
    public var dualStack = false

    public init(includeDisabled: Bool = false, dualStack: Bool = false) {
        self.includeDisabled = includeDisabled
        self.dualStack = dualStack
    }

    public func read(path: String) -> ImportResult {
        switch ImportInput.lines(path) {
        case .failure(let f):
            var result = ImportResult()
            result.unreadable = f.message
            return result
        case .success(let lines): return read(lines: lines, path: path)
        }
    }

    func read(lines: [Substring], path: String) -> ImportResult {
        var result = ImportResult()
        var defaultHost: String?
        var ports = ServicePorts.Cache()
        var i = 0
        while i < lines.count {
            let number = i + 1
            var text = String(lines[i])
            i += 1
            var disabled = false
            // By bytes: "#" or " " followed by a combining mark is one Character.
            if text.utf8.first == UInt8(ascii: "#") {
                guard includeDisabled else { continue }
                text = Self.disabledEntry(text)
                // Only a comment that reads as an entry is a disabled entry.
                guard Self.looksLikeEntry(text) else { continue }
                disabled = true
            } else {
                while i < lines.count, let c = lines[i].utf8.first, c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") {
                    // Past the longest line it is left out anyway: no need to grow it further.
                    if text.utf8.count <= ImportInput.longestLine { text += " " + lines[i] }
                    i += 1
                }
            }
            if text.utf8.count > ImportInput.longestLine {
                result.note(path, number, .leftOut, "the line is longer than \(ImportInput.longestLine) bytes")
                continue
            }
            var words = ImportInput.words(Substring(text)).map(String.init)
            if words.isEmpty { continue }
            // host: alone sets the address of the lines after it.
            if words.count == 1, words[0].hasSuffix(":") {
                if !disabled { defaultHost = String(words[0].dropLast()) }
                continue
            }
            if let s = entry(&words, path: path, line: number, defaultHost: defaultHost, ports: &ports, result: &result) {
                var s = s
                s.enabled = !disabled
                result.services.append(s)
            }
        }
        return result
    }

    /// A comment's text without its "#", and without the "<off>#" that
    /// Debian's `update-inetd --disable` puts before an entry it turns off
    /// (`#<off># finger stream tcp ...`).
    static func disabledEntry(_ comment: String) -> String {
        let text = comment.utf8.dropFirst()
        let off = "<off>#".utf8
        return String(decoding: text.starts(with: off) ? text.dropFirst(off.count) : text, as: UTF8.self)
    }

    static func looksLikeEntry(_ text: String) -> Bool {
        let w = ImportInput.words(Substring(text))
        guard w.count >= 6 else { return false }
        let socktypes: Set<Substring> = ["stream", "dgram", "raw", "rdm", "seqpacket"]
        let wait = w[3].split(whereSeparator: { $0 == "/" || $0 == "." || $0 == ":" }).first ?? ""
        return socktypes.contains(w[1]) && (wait == "wait" || wait == "nowait")
    }

    /// One entry, or nil with a note saying why it was left out.
    func entry(_ w: inout [String], path: String, line: Int, defaultHost: String?, ports: inout ServicePorts.Cache, result: inout ImportResult) -> ImportedService? {
        func leftOut(_ why: String) -> ImportedService? {
            result.note(path, line, .leftOut, why)
            return nil
        }
        guard w.count >= 6 else {
            return leftOut("an entry needs at least 6 fields (service, socket type, protocol, wait/nowait, user, server), not \(w.count)")
        }
        // [host:]service
        var field = w[0]
        var hosts: [String?] = [defaultHost]
        let protoField = w[2]
        if protoField != "unix", let colon = field.lastIndex(of: ":") {
            var host = String(field[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            field = String(field[field.index(after: colon)...])
            hosts = host.split(separator: ",").map { String($0) }
            if hosts.isEmpty { hosts = [nil] }
        }
        let shown = ImportWriter.comment(field)
        // socket type
        let socktype = w[1].split(separator: ":").first.map(String.init) ?? w[1]
        guard socktype == "stream" || socktype == "dgram" else {
            if ["raw", "rdm", "seqpacket"].contains(socktype) { return leftOut("\(shown): socket type \(socktype) is not served by swinetd (stream and dgram are)") }
            return leftOut("\(shown): unknown socket type '\(ImportWriter.comment(w[1]))': stream or dgram")
        }
        var notes: [String] = []
        if w[1].contains(":") { notes.append("the accept filter \(ImportWriter.comment(w[1])) is not set (swinetd sets none)") }
        // protocol[,sndbuf=N][,rcvbuf=N]
        let protoParts = protoField.split(separator: ",").map(String.init)
        let proto = protoParts.first ?? protoField
        if protoParts.count > 1 { notes.append("the socket buffer sizes \(protoParts.dropFirst().joined(separator: ",")) are not set (swinetd keeps the kernel's)") }
        if proto.hasPrefix("rpc/") {
            return leftOut("\(shown) is an RPC service (\(proto)): swinetd serves no RPC, which needs rpcbind registration")
        }
        if field.hasPrefix("tcpmux/") || field == "tcpmux" {
            return leftOut("\(shown): swinetd serves no TCPMUX (RFC 1078)")
        }
        var s = ImportedService(name: field, file: path, line: line)
        var families: [Bool] = []   // false: IPv4, true: IPv6
        switch proto {
        case "tcp", "udp": families = dualStack ? [false, true] : [false]
        case "tcp4", "udp4": families = [false]
        case "tcp6", "udp6": families = [true]
        case "tcp46", "udp46": families = [false, true]
        case "unix": break
        default: return leftOut("\(shown): unknown protocol '\(ImportWriter.comment(proto))': tcp, udp, tcp4, tcp6, tcp46 (and udp's), or unix")
        }
        let isUDP = proto.hasPrefix("udp")
        if (isUDP && socktype == "stream") || (proto.hasPrefix("tcp") && socktype == "dgram") {
            return leftOut("\(shown): socket type \(socktype) does not go with protocol \(proto)")
        }
        s.transport = isUDP ? .udp : .tcp
        // wait/nowait[/max-child[/per-ip-per-min[/per-ip]]] or wait.max (OpenBSD) or wait:max (NetBSD)
        let waitField = w[3]
        let bsdStyle = waitField.contains("/")
        let waitParts = waitField.split(separator: bsdStyle ? "/" : (waitField.contains(".") ? "." : ":"), omittingEmptySubsequences: false).map(String.init)
        guard waitParts[0] == "wait" || waitParts[0] == "nowait" else {
            return leftOut("\(shown): the fourth field must be wait or nowait, not '\(ImportWriter.comment(waitField))'")
        }
        s.wait = waitParts[0] == "wait"
        var numbers: [Int] = []
        for part in waitParts.dropFirst() {
            guard !part.isEmpty, part.count <= 9, part.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(part) else {
                return leftOut("\(shown): '\(ImportWriter.comment(part))' in '\(ImportWriter.comment(waitField))' is not a number")
            }
            numbers.append(n)
        }
        if bsdStyle && numbers.count > 3 { return leftOut("\(shown): '\(ImportWriter.comment(waitField))' has more than three limits") }
        if !bsdStyle && numbers.count > 1 { return leftOut("\(shown): '\(ImportWriter.comment(waitField))' has more than one limit") }
        // user[:group][/login-class] or user.group
        var userField = w[4]
        if let slash = userField.firstIndex(of: "/") {
            notes.append("the login class \(ImportWriter.comment(String(userField[userField.index(after: slash)...]))) is not applied (Linux has none; use limits)")
            userField = String(userField[..<slash])
        }
        if let sep = userField.firstIndex(of: ":") ?? userField.firstIndex(of: ".") {
            s.group = String(userField[userField.index(after: sep)...])
            userField = String(userField[..<sep])
        }
        if userField.isEmpty { return leftOut("\(shown): no user") }
        s.user = userField
        if s.group?.isEmpty == true { s.group = nil }
        // server program and arguments (argv[0] first)
        let server = w[5]
        let args = Array(w.dropFirst(6))
        // Addresses
        if proto == "unix" {
            guard socktype == "stream" else { return leftOut("\(shown): a UNIX datagram socket is not served by swinetd (UNIX stream sockets are)") }
            guard field.hasPrefix("/") else { return leftOut("\(shown): a UNIX socket needs an absolute path") }
            s.listen = [field]
            s.name = ImportInput.basename(field).split(separator: ".").first.map(String.init) ?? "unix"
        } else {
            guard let entry = ports.lookup(field, proto: isUDP ? "udp" : "tcp") else {
                return leftOut("\(shown): no such service in /etc/services for \(isUDP ? "udp" : "tcp") (write the port number)")
            }
            for host in hosts {
                // A numeric address has its family, whatever the protocol says.
                let own = host.map { h in ImportInput.isNumericHost(h) ? [h.contains(":")] : families } ?? families
                for ipv6 in own where families.contains(ipv6) {
                    guard let addresses = ImportInput.address(host: host, port: entry.port, ipv6: ipv6) else {
                        return leftOut("\(shown): the host '\(ImportWriter.comment(host ?? ""))' does not resolve\(ipv6 ? " to an IPv6 address" : " to an IPv4 address")")
                    }
                    if let host, host != "*", host != "localhost", !ImportInput.isNumericHost(host) {
                        notes.append("the host name \(ImportWriter.comment(host)) is written as the address it has now, \(addresses.joined(separator: ", "))")
                    }
                    s.listen += addresses.filter { !s.listen.contains($0) }
                }
            }
            if s.listen.isEmpty { return leftOut("\(shown): the address \(hosts.compactMap { $0 }.joined(separator: ",")) is not of the family \(proto) listens on") }
            if server == "internal" {
                guard let official = entry.official, let builtin = Builtin(rawValue: official == "ident" ? "auth" : official),
                      !(isUDP && !builtin.servesUDP) else {
                    return leftOut("\(shown): no builtin serves it (swinetd's are echo, discard, daytime, time, chargen and auth)")
                }
                s.builtin = builtin
                s.user = s.user == "root" ? nil : s.user
                if !args.isEmpty { notes.append("the internal \(builtin.rawValue)'s options \(ImportWriter.comment(args.joined(separator: " "))) are not carried over (swinetd's \(builtin.rawValue) has none\(builtin == .auth ? "; it answers HIDDEN-USER" : ""))") }
                if s.wait && !isUDP { s.wait = false }
                s.name = field.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) ? official : field
            }
        }
        if s.builtin == nil {
            guard server.hasPrefix("/") else { return leftOut("\(shown): the server program must be an absolute path or internal, not '\(ImportWriter.comment(server))'") }
            s.exec = server
            if let first = args.first, first != ImportInput.basename(server) { s.argv0 = first }
            s.args = Array(args.dropFirst())
        }
        // The limits of the wait field.
        if bsdStyle {
            if let maxChild = numbers.first, maxChild > 0 {
                if s.wait { notes.append("max-child \(maxChild) does not apply to a wait service") } else { s.maxConnections = maxChild }
            }
            if numbers.count > 1, numbers[1] > 0 {
                if s.wait { notes.append("max-connections-per-ip-per-minute does not apply to a wait service") } else { s.sourceRate = "\(numbers[1])/min"; s.groupByAddress = true }
            }
            if numbers.count > 2, numbers[2] > 0 {
                if s.wait { notes.append("max-child-per-ip does not apply to a wait service") } else { s.perSource = numbers[2]; s.groupByAddress = true }
            }
        } else if let max = numbers.first {
            if s.wait {
                notes.append("the rate \(max)/min does not apply to a wait service in swinetd")
            } else {
                s.rate = "\(max)/min"
                notes.append("over \(max) connections a minute inetd stops the service for ten minutes; swinetd's rate: \(max)/min makes the extra connections wait instead")
            }
        }
        for n in notes { result.note(path, line, .approximated, "\(shown): \(n)") }
        return s
    }
}
