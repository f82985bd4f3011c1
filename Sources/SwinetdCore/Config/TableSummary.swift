/// What `swinetd check` prints for a valid table: each service with every
/// default resolved, so an admin sees what will actually run.
public enum TableSummary {
    public static func render(_ table: ServiceTable, file: String) -> String {
        var out = "\(file): ok: \(table.services.count) service\(table.services.count == 1 ? "" : "s"), max_children \(table.maxChildren)\n"
        for s in table.services {
            out += "\(s.name)\(s.enabled ? "" : " (disabled)")\n"
            out += "  listen          \(s.addresses.map(\.description).joined(separator: " "))\n"
            out += "  exec            \(s.exec)\n"
            out += "  argv            \(s.argv.map(quote).joined(separator: " "))\n"
            if let c = s.credentials {
                out += "  user            \(s.user ?? "-") (uid \(c.uid), gid \(c.gid), groups \(c.groups.map(String.init).joined(separator: ",")))\n"
            } else {
                out += "  user            (swinetd's own)\n"
            }
            out += "  cwd             \(s.cwd)\n"
            out += "  env             \(s.env.isEmpty ? "(none)" : s.env.map { "\($0.0)=\(quote($0.1))" }.joined(separator: " "))\n"
            out += "  max_connections \(s.maxConnections)\n"
            out += "  backlog         \(s.backlog)\n"
            out += "  stderr          \(s.stderr.rawValue)\n"
        }
        return out
    }

    private static func quote(_ s: String) -> String {
        if !s.isEmpty && !s.contains(where: { $0 == " " || $0 == "\"" || $0 == "'" || $0 == "\\" }) { return s }
        return "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}
