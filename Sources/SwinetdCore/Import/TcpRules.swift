/// A tcprules source file (ucspi-tcp's `tcpserver -x`), read as the rule
/// keys of one service: `allow`, `deny` and `env_by_source`.
///
/// tcpserver decides by the most specific rule that names the client's
/// address: the address itself, then `1.2.3.`, `1.2.`, `1.`, then the
/// default rule `:` (none: allow). swinetd's `deny` always wins over
/// `allow`, and `env_by_source` takes the first rule that matches: the
/// rules are written most specific first, so the same rule decides. Where
/// tcpserver would let in a client that a wider `deny` holds (an allow
/// nested in a deny), swinetd refuses it: that is noted. Rules by host
/// name (`=host`) or by remote user (`@`) have no equivalent: left out.
public struct TcpRules {
    public struct Rule: Equatable {
        public var prefixes: [String]
        /// The most specific first: for an address, 32; for `1.2.`, 16.
        public var length: Int
        public var allows: Bool
        public var env: [(String, String)]
        public var line: Int

        public static func == (a: Rule, b: Rule) -> Bool {
            a.prefixes == b.prefixes && a.length == b.length && a.allows == b.allows && a.line == b.line
                && a.env.map { "\($0.0)=\($0.1)" } == b.env.map { "\($0.0)=\($0.1)" }
        }
    }

    public init() {}

    /// Reads the file at `path` onto `service` (which has its address and
    /// handler already), noting what is not exact.
    public func apply(path: String, to service: inout ImportedService, result: inout ImportResult) {
        switch ImportInput.lines(path) {
        case .success(let lines): apply(lines: lines, path: path, to: &service, result: &result)
        case .failure(let u): result.unreadable = u.message
        }
    }

    public func apply(lines: [Substring], path: String, to service: inout ImportedService, result: inout ImportResult) {
        var rules: [Rule] = []
        var defaultRule: Rule?
        for (i, raw) in lines.enumerated() {
            let line = i + 1
            let text = String(raw.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
            if text.isEmpty || text.hasPrefix("#") { continue }
            func leftOut(_ why: String) { result.note(path, line, .leftOut, "\(ImportWriter.comment(String(text.prefix(80)))): \(why)") }
            guard let colon = text.firstIndex(of: ":") else { leftOut("not a rule (ADDRESS:allow or ADDRESS:deny)"); continue }
            let address = String(text[..<colon])
            guard let (allows, env) = instructions(String(text[text.index(after: colon)...])) else {
                leftOut("the instructions are not allow or deny, with VAR=\"value\" settings after commas")
                continue
            }
            if address.isEmpty {
                // tcprules keeps the first of a key: a second default never decides.
                if defaultRule == nil { defaultRule = Rule(prefixes: [], length: 0, allows: allows, env: env, line: line) }
                continue
            }
            if address.hasPrefix("=") { leftOut("a rule by host name: swinetd matches addresses only"); continue }
            if address.contains("@") { leftOut("a rule by remote user (TCPREMOTEINFO): swinetd makes no RFC 1413 lookups"); continue }
            guard let (prefixes, length) = Self.prefixes(address) else {
                leftOut("'\(ImportWriter.comment(address))' is none of the forms tcpserver looks up (1.2.3.4, 1.2.3.4-7, 1.2.3., 1.2., 1.)")
                continue
            }
            rules.append(Rule(prefixes: prefixes, length: length, allows: allows, env: env, line: line))
        }
        rules = Self.firstOfEachKey(rules)
        rules.sort { $0.length > $1.length || ($0.length == $1.length && $0.line < $1.line) }
        let defaultAllows = defaultRule?.allows ?? true
        let allowRules = rules.filter(\.allows), denyRules = rules.filter { !$0.allows }
        func within(_ inner: Rule, _ outer: Rule) -> Bool {
            inner.length > outer.length && inner.prefixes.allSatisfy { p in outer.prefixes.contains { Self.contains($0, p) } }
        }
        if defaultAllows {
            service.deny += denyRules.flatMap(\.prefixes)
        } else {
            service.allow += allowRules.flatMap(\.prefixes)
            // A deny inside an allowed network still refuses; one outside every allow is the default's already.
            service.deny += denyRules.filter { d in allowRules.contains { within(d, $0) } }.flatMap(\.prefixes)
        }
        for a in allowRules {
            if let d = denyRules.first(where: { within(a, $0) && service.deny.contains($0.prefixes[0]) }) {
                result.note(path, a.line, .approximated, "\(a.prefixes.joined(separator: " ")) is allowed inside \(d.prefixes.joined(separator: " ")) (line \(d.line)), which is denied: in swinetd deny always wins, so it is refused")
            }
        }
        // Variables: every allow rule, most specific first (one without
        // variables still stops a wider rule's from applying), then the default's.
        if allowRules.contains(where: { !$0.env.isEmpty }) || !(defaultRule?.env.isEmpty ?? true) {
            service.envBySource = allowRules.map { ($0.prefixes, $0.env) }
            if let d = defaultRule, d.allows, !d.env.isEmpty { service.envBySource.append((["0.0.0.0/0", "::/0"], d.env)) }
        }
        for r in rules + (defaultRule.map { [$0] } ?? []) where !r.allows && !r.env.isEmpty {
            result.note(path, r.line, .approximated, "variables on a deny rule have no effect: not carried over")
        }
    }

    /// tcprules writes one key per address (a range is its addresses) and
    /// per prefix, and the first line of a key is the one tcpserver finds:
    /// what a later rule says of a key an earlier one has is dropped, so
    /// no two rules of one length overlap (the most specific then decides
    /// alone, as in tcpserver).
    static func firstOfEachKey(_ rules: [Rule]) -> [Rule] {
        var takenPrefixes: Set<String> = []
        var takenAddresses: Set<UInt32> = []
        var out: [Rule] = []
        for var r in rules {
            if r.length < 32 {
                guard takenPrefixes.insert(r.prefixes[0]).inserted else { continue }
                out.append(r)
                continue
            }
            let addresses = r.prefixes.flatMap(Self.addresses).filter { takenAddresses.insert($0).inserted }
            guard !addresses.isEmpty else { continue }
            r.prefixes = Self.blocks(addresses)
            out.append(r)
        }
        return out
    }

    /// The addresses of an IPv4 network written "a.b.c.d/n".
    static func addresses(_ prefix: String) -> [UInt32] {
        guard case .success(let p) = AddressPrefix.parse(prefix), p.isIPv4 else { return [] }
        let first = UInt32(truncatingIfNeeded: p.low)
        return (0..<(UInt32(1) << UInt32(32 - p.length))).map { first + $0 }
    }

    /// Addresses (ascending runs within one /24) as the fewest aligned blocks.
    static func blocks(_ addresses: [UInt32]) -> [String] {
        var out: [String] = []
        let sorted = addresses.sorted()
        var i = 0
        while i < sorted.count {
            var size: UInt32 = 1
            while sorted[i] % (size * 2) == 0, i + Int(size * 2) <= sorted.count, sorted[i + Int(size * 2) - 1] == sorted[i] + size * 2 - 1, size < 256 { size *= 2 }
            let a = sorted[i]
            out.append("\(a >> 24).\((a >> 16) & 255).\((a >> 8) & 255).\(a & 255)/\(32 - size.trailingZeroBitCount)")
            i += Int(size)
        }
        return out
    }

    /// `allow` or `deny`, then `,VAR="value"` settings (any character may
    /// delimit the value, as tcprules reads it).
    func instructions(_ text: String) -> (Bool, [(String, String)])? {
        let chars = Array(text)
        var i = 0
        var action = ""
        while i < chars.count && chars[i] != "," { action.append(chars[i]); i += 1 }
        guard action == "allow" || action == "deny" else { return nil }
        var env: [(String, String)] = []
        while i < chars.count {
            guard chars[i] == "," else { return nil }
            i += 1
            var name = ""
            while i < chars.count && chars[i] != "=" && chars[i] != "," { name.append(chars[i]); i += 1 }
            guard i < chars.count, chars[i] == "=", !name.isEmpty, i + 1 < chars.count else { return nil }
            let delimiter = chars[i + 1]
            i += 2
            var value = ""
            while i < chars.count && chars[i] != delimiter { value.append(chars[i]); i += 1 }
            guard i < chars.count else { return nil }
            i += 1
            // Set in order, as tcpserver does: a name given twice keeps its last value.
            env.removeAll { $0.0 == name }
            env.append((name, value))
        }
        return (action == "allow", env)
    }

    /// The networks an address of tcprules names, and how specific it is.
    static func prefixes(_ address: String) -> ([String], Int)? {
        var parts = address.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        // As tcpserver writes an address: no leading zero (010 never matches).
        func octet(_ s: String) -> Int? {
            guard !s.isEmpty, s.count <= 3, s.allSatisfy({ $0.isASCII && $0.isNumber }), s == "0" || !s.hasPrefix("0"),
                  let n = Int(s), n <= 255 else { return nil }
            return n
        }
        if parts.last == "" {
            parts.removeLast()
            guard (1...3).contains(parts.count) else { return nil }
            let octets = parts.compactMap(octet)
            guard octets.count == parts.count else { return nil }
            let length = octets.count * 8
            return ([(octets + Array(repeating: 0, count: 4 - octets.count)).map(String.init).joined(separator: ".") + "/\(length)"], length)
        }
        guard parts.count == 4 else { return nil }
        let head = parts[0..<3].compactMap(octet)
        guard head.count == 3 else { return nil }
        let last = parts[3].split(separator: "-", omittingEmptySubsequences: false).map(String.init)
        guard let low = octet(last[0]) else { return nil }
        let high = last.count == 2 ? octet(last[1]) : (last.count == 1 ? low : nil)
        guard let high, high >= low else { return nil }
        // The range as the fewest aligned blocks.
        var out: [String] = []
        var start = low
        while start <= high {
            var size = 1
            while start % (size * 2) == 0 && start + size * 2 - 1 <= high { size *= 2 }
            out.append(head.map(String.init).joined(separator: ".") + ".\(start)/\(32 - size.trailingZeroBitCount)")
            start += size
        }
        return (out, 32)
    }

    /// Whether IPv4 network `outer` ("a.b.c.d/n") holds network `inner`.
    static func contains(_ outer: String, _ inner: String) -> Bool {
        guard case .success(let o) = AddressPrefix.parse(outer), case .success(let i) = AddressPrefix.parse(inner), i.length >= o.length else { return false }
        return o.matches(PeerAddress(isIPv4: i.isIPv4, high: i.high, low: i.low))
    }
}
