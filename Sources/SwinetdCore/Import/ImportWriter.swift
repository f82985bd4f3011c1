/// Writes imported services as a services.yaml that `swinetd check`
/// accepts: twins merged, names made unique, every value quoted as YAML
/// needs, and the result checked by the same loader `check` uses. A
/// service the check refuses on this host (its handler or user is not
/// here, or another service has its address) is written as a comment with
/// the reason, so the table still loads and nothing read is lost.
public enum ImportWriter {
    /// The table, how many of its services are not commented out, and
    /// `mismatch`: why the table must not be written (nil when it may): it
    /// does not hold exactly the services read, or it is too large for
    /// swinetd to read.
    public static func render(_ result: inout ImportResult, source: String) -> (table: String, served: Int, mismatch: String?) {
        var services = mergeTwins(result.services)
        for i in services.indices { services[i].listen = collapse(services[i].listen) }
        uniqueNames(&services)
        var commented: [Int: String] = [:]
        // Each round comments out every service the loader names (all of
        // them: a cap on diagnostics would make the rounds many); a handful
        // of rounds settles it (an address clash names the later service).
        var loader = TableLoader()
        loader.diagnosticLimit = Int.max
        for _ in 0..<8 {
            let text = document(services, commented: commented, source: source)
            // A table that swinetd would not read at all: say so before any loading (and its memory).
            if text.utf8.count > TableLoader.maxFileSize {
                return (text, 0, "the table would be \(text.utf8.count) bytes, more than the \(TableLoader.maxFileSize) a table may have (\(services.count) services)")
            }
            guard case .failure(let errors) = loader.load(bytes: Array(text.utf8), file: "import") else { break }
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
        let table = document(services, commented: commented, source: source)
        let served = services.indices.filter { commented[$0] == nil }.map { services[$0] }
        return (table, served.count, mismatch(table, served: served))
    }

    /// Why `table` does not hold exactly the services `served` (nil when it
    /// does), read back by the loader `check` uses: names, addresses,
    /// handlers, arguments and users as the importer has them. What the
    /// input holds must never turn into another service or another value
    /// on the way (a line break that only YAML sees, say).
    static func mismatch(_ table: String, served: [ImportedService]) -> String? {
        switch TableLoader().load(bytes: Array(table.utf8), file: "import") {
        case .failure(let errors):
            // With every service commented out the table is `services: {}`, which check refuses by design.
            if served.isEmpty, errors.diagnostics.count == 1, errors.diagnostics[0].message.hasPrefix("'services' is empty") { return nil }
            return "the table would not load: \(errors.diagnostics.first.map { comment($0.message) } ?? "no diagnostic")"
        case .success(let loaded):
            guard loaded.services.count == served.count else {
                return "the table would hold \(loaded.services.count) services, not the \(served.count) read"
            }
            for (got, want) in zip(loaded.services, served) {
                guard got.name == want.name else { return "the table would hold \(comment(got.name)) where \(comment(want.name)) was read" }
                var same = got.listen.map(\.text) == want.listen && got.enabled == want.enabled && got.builtin == want.builtin
                    && got.transport == want.transport && got.user == want.user && got.group == want.group
                // Variables from another program's file reach handlers: never another one on the way.
                same = same && got.admission.envBySource.map { $0.from.prefixes.map(\.description) } == want.envBySource.map(\.from)
                    && got.admission.envBySource.map { $0.env.map { "\($0.name)=\($0.value)" } }
                        == want.envBySource.map { $0.env.sorted { $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" } }
                if want.builtin == nil {
                    same = same && got.exec == want.exec && Array(got.argv.dropFirst()) == want.args && (want.argv0 == nil || got.argv.first == want.argv0)
                }
                guard same else { return "in the table \(comment(want.name)) would read back with other settings than were read" }
            }
            return nil
        }
    }

    /// inetd's tcp and tcp6 lines of one service become one service with both addresses.
    /// A twin is looked for only in the latest service of the same name and
    /// settings (in practice it is the next line), so that the work stays
    /// linear in the number of entries.
    static func mergeTwins(_ services: [ImportedService]) -> [ImportedService] {
        var out: [ImportedService] = []
        var taken: [Set<String>] = []
        var latest: [String: Int] = [:]
        for s in services {
            let key = s.twinKey
            let mine = sockets(s.listen)
            if let i = latest[key], taken[i].isDisjoint(with: mine) {
                out[i].listen += s.listen
                out[i].origin.lines += s.origin.lines
                taken[i].formUnion(mine)
            } else {
                latest[key] = out.count
                out.append(s)
                taken.append(mine)
            }
        }
        return out
    }

    /// The sockets a listen list opens: "P" is both wildcards.
    static func sockets(_ listen: [String]) -> Set<String> {
        Set(listen.flatMap { e in e.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) ? ["0.0.0.0:\(e)", "[::]:\(e)"] : [e] })
    }

    /// "0.0.0.0:P" and "[::]:P" together are the table's "P" (where the IPv4 one stood).
    static func collapse(_ listen: [String]) -> [String] {
        let present = Set(listen)
        var out: [String] = []
        for entry in listen {
            if entry.hasPrefix("0.0.0.0:"), present.contains("[::]:" + entry.dropFirst(8)) {
                out.append(String(entry.dropFirst(8)))
            } else if !(entry.hasPrefix("[::]:") && present.contains("0.0.0.0:" + entry.dropFirst(5))) {
                out.append(entry)
            }
        }
        return out
    }

    /// Two entries of one name (echo over TCP and UDP) get the transport as a suffix, then a number;
    /// so does a name of the master's own log lines (`reload` becomes `reload-tcp`).
    static func uniqueNames(_ services: inout [ImportedService]) {
        var taken: Set<String> = Validation.reservedNames
        // The next number to try for each base name: 20,000 echo lines must not count from 2 each time.
        var next: [String: Int] = [:]
        for i in services.indices {
            var name = sanitize(services[i].name)
            if taken.contains(name) {
                let v6 = services[i].listen.allSatisfy { $0.hasPrefix("[") }
                name += "-" + (services[i].transport == .udp ? "udp" : "tcp") + (v6 ? "6" : "")
            }
            let base = name
            var n = next[base, default: 2]
            while taken.contains(name) { name = "\(base)-\(n)"; n += 1 }
            next[base] = n
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

    /// Text from the input (a file name, a value) for a comment or a note:
    /// its first 300 characters, escaped to printable ASCII, so that it
    /// cannot end the comment's line for YAML nor forge a line of the report.
    static func comment(_ text: String) -> String {
        PrintableText.escaped(String(String.UnicodeScalarView(text.unicodeScalars.prefix(300))))
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
        if let stderr { key("stderr", stderr.rawValue) }
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
        if !envBySource.isEmpty {
            lines.append("    env_by_source:")
            for rule in envBySource {
                lines.append("      - {from: \(YAMLText.list(rule.from)), env: {" + rule.env.map { "\(YAMLText.scalar($0.0)): \(YAMLText.quoted($0.1))" }.joined(separator: ", ") + "}}")
            }
        }
        if let nice { key("nice", String(nice)) }
        if let umask { key("umask", YAMLText.quoted(umask)) }
        if !limits.isEmpty { key("limits", "{" + limits.map { "\($0.0): \(!$0.1.isEmpty && $0.1.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) ? $0.1 : YAMLText.scalar($0.1))" }.joined(separator: ", ") + "}") }
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

    /// Double-quoted, every character but printable ASCII escaped (see `PrintableText`).
    static func quoted(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            if c == "\"" { out += "\\\"" } else { PrintableText.append(c, to: &out) }
        }
        return out + "\""
    }

    static func list(_ items: [String]) -> String {
        "[" + items.map(scalar).joined(separator: ", ") + "]"
    }
}
