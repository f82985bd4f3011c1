/// Writes imported services as a services.yaml that `swinetd check`
/// accepts: twins merged, names made unique, every value quoted as YAML
/// needs, and the result checked by the same loader `check` uses. A
/// service the check refuses on this host (its handler or user is not
/// here, or another service has its address) is written as a comment with
/// the reason, so the table still loads and nothing read is lost.
public enum ImportWriter {
    /// The table, and how many of its services are not commented out.
    public static func render(_ result: inout ImportResult, source: String) -> (table: String, served: Int) {
        var services = mergeTwins(result.services)
        for i in services.indices { services[i].listen = collapse(services[i].listen) }
        uniqueNames(&services)
        var commented: [Int: String] = [:]
        // Each round comments out the services the loader names; a handful
        // of rounds settles it (an address clash names the later service).
        for _ in 0..<8 {
            let text = document(services, commented: commented, source: source)
            guard case .failure(let errors) = TableLoader().load(bytes: Array(text.utf8), file: "import") else { break }
            let owners = lineOwners(services, commented: commented, source: source)
            var progressed = false
            for d in errors.diagnostics {
                guard let line = d.mark?.line, let index = owners[line], commented[index] == nil else { continue }
                commented[index] = d.message
                progressed = true
            }
            if !progressed {
                // Nothing maps to a service (should not happen): comment everything out.
                for i in services.indices where commented[i] == nil { commented[i] = errors.diagnostics.first?.message ?? "refused by check" }
            }
        }
        for (i, reason) in commented.sorted(by: { $0.key < $1.key }) {
            let s = services[i]
            result.note(s.origin.file, s.origin.lines.first, .commentedOut, "\(s.name): \(reason)")
        }
        return (document(services, commented: commented, source: source), services.count - commented.count)
    }

    /// inetd's tcp and tcp6 lines of one service become one service with both addresses.
    static func mergeTwins(_ services: [ImportedService]) -> [ImportedService] {
        var out: [ImportedService] = []
        for s in services {
            if let i = out.firstIndex(where: { $0.name == s.name && $0.isTwin(of: s) && sockets($0.listen).isDisjoint(with: sockets(s.listen)) }) {
                out[i].listen += s.listen
                out[i].origin.lines += s.origin.lines
                out[i].listen = collapse(out[i].listen)
            } else {
                out.append(s)
            }
        }
        return out
    }

    /// The sockets a listen list opens: "P" is both wildcards.
    static func sockets(_ listen: [String]) -> Set<String> {
        Set(listen.flatMap { e in e.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) ? ["0.0.0.0:\(e)", "[::]:\(e)"] : [e] })
    }

    /// "0.0.0.0:P" and "[::]:P" together are the table's "P".
    static func collapse(_ listen: [String]) -> [String] {
        var out = listen
        for entry in listen where entry.hasPrefix("0.0.0.0:") {
            let port = String(entry.dropFirst(8))
            if let v6 = out.firstIndex(of: "[::]:\(port)"), let v4 = out.firstIndex(of: entry) {
                out[v4] = port
                out.remove(at: v6)
            }
        }
        return out
    }

    /// Two entries of one name (echo over TCP and UDP) get the transport as a suffix, then a number;
    /// so does a name of the master's own log lines (`reload` becomes `reload-tcp`).
    static func uniqueNames(_ services: inout [ImportedService]) {
        var taken: Set<String> = Validation.reservedNames
        for i in services.indices {
            var name = sanitize(services[i].name)
            if taken.contains(name) {
                let v6 = services[i].listen.allSatisfy { $0.hasPrefix("[") }
                name += "-" + (services[i].transport == .udp ? "udp" : "tcp") + (v6 ? "6" : "")
            }
            var n = 2
            let base = name
            while taken.contains(name) { name = "\(base)-\(n)"; n += 1 }
            taken.insert(name)
            services[i].name = name
        }
    }

    static func sanitize(_ name: String) -> String {
        let ok = String(name.unicodeScalars.map { c -> Character in
            (c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "." || c == "_" || c == "-")) ? Character(c) : "-"
        })
        return ok.isEmpty ? "service" : String(ok.prefix(64))
    }

    // MARK: The document

    static func header(source: String, empty: Bool = false) -> String {
        """
        # Imported by swinetd import from \(comment(source)).
        # Check it with swinetd check -f FILE; see swinetd.yaml(5).

        defaults:
          # inetd and xinetd give a handler the connection on stderr too.
          stderr: socket

        services:\(empty ? " {}" : "")

        """
    }

    static func document(_ services: [ImportedService], commented: [Int: String], source: String) -> String {
        var out = header(source: source, empty: services.count == commented.count)
        for (i, s) in services.enumerated() {
            out += block(s, commented: commented[i])
        }
        return out
    }

    /// Which service each line of the document belongs to.
    static func lineOwners(_ services: [ImportedService], commented: [Int: String], source: String) -> [Int: Int] {
        var owners: [Int: Int] = [:]
        var line = header(source: source).split(separator: "\n", omittingEmptySubsequences: false).count
        for (i, s) in services.enumerated() {
            let n = block(s, commented: commented[i]).split(separator: "\n", omittingEmptySubsequences: false).count - 1
            for l in line..<(line + n) { owners[l] = i }
            line += n
        }
        return owners
    }

    static func block(_ s: ImportedService, commented reason: String?) -> String {
        let body = s.rendered(includeOrigin: true)
        guard let reason else { return body }
        var out = "  # \(comment(s.name)): not served here: \(comment(reason))\n"
        for line in body.split(separator: "\n", omittingEmptySubsequences: true) {
            out += "  #" + line.dropFirst(1) + "\n"
        }
        return out + "\n"
    }

    static func comment(_ text: String) -> String {
        String(text.unicodeScalars.map { ($0.value < 32 || $0.value == 127) ? " " : Character($0) }.prefix(300))
    }
}

extension ImportedService {
    /// The service as lines of the `services:` map (two spaces in).
    func rendered(includeOrigin: Bool) -> String {
        var lines: [String] = []
        func key(_ k: String, _ v: String) { lines.append("    \(k): \(v)") }
        if includeOrigin { lines.append("  # from \(ImportWriter.comment(origin.text))") }
        lines.append("  \(YAMLText.scalar(name)):")
        key("listen", listen.count == 1 ? YAMLText.scalar(listen[0]) : YAMLText.list(listen))
        if transport == .udp { key("protocol", "udp") }
        if !enabled { key("enabled", "false") }
        if let builtin { key("builtin", builtin.rawValue) }
        if let exec { key("exec", YAMLText.scalar(exec)) }
        if let argv0 { key("argv0", YAMLText.scalar(argv0)) }
        if !args.isEmpty { key("args", YAMLText.list(args)) }
        if wait && !(builtin != nil && transport == .udp) { key("wait", "true") }
        if let user { key("user", YAMLText.scalar(user)) }
        if let group { key("group", YAMLText.scalar(group)) }
        if let maxConnections { key("max_connections", String(maxConnections)) }
        if let perSource { key("per_source", String(perSource)) }
        if let sourceRate { key("source_rate", YAMLText.scalar(sourceRate)) }
        if groupByAddress { key("source_prefix", "{ipv4: 32, ipv6: 128}") }
        if let rate { key("rate", YAMLText.scalar(rate)) }
        if !allow.isEmpty { key("allow", YAMLText.list(allow)) }
        if !deny.isEmpty { key("deny", YAMLText.list(deny)) }
        if !env.isEmpty { key("env", "{" + env.map { "\(YAMLText.scalar($0.0)): \(YAMLText.scalar($0.1))" }.joined(separator: ", ") + "}") }
        if let nice { key("nice", String(nice)) }
        if let umask { key("umask", YAMLText.quoted(umask)) }
        if !limits.isEmpty { key("limits", "{" + limits.map { "\($0.0): \($0.1.allSatisfy(\.isNumber) ? $0.1 : YAMLText.scalar($0.1))" }.joined(separator: ", ") + "}") }
        return lines.joined(separator: "\n") + "\n\n"
    }
}

/// YAML scalars written so that any bytes read survive: plain when that
/// cannot be misread, double-quoted with escapes otherwise.
enum YAMLText {
    static func scalar(_ s: String) -> String {
        let safe = !s.isEmpty && s.unicodeScalars.allSatisfy { c in
            c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || "/._-+@%=".unicodeScalars.contains(c))
        }
        let misread = ["true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"].contains(s.lowercased())
            || Double(s) != nil || s.first == "-" || s.first == "%" || s.first == "@"
        return safe && !misread ? s : quoted(s)
    }

    static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 || c.value == 0x7F || (0x80..<0xA0).contains(c.value) || c.value == 0xFEFF || (0xD800...0xDFFF).contains(c.value) {
                    let hex = String(c.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out + "\""
    }

    static func list(_ items: [String]) -> String {
        "[" + items.map(scalar).joined(separator: ", ") + "]"
    }
}
