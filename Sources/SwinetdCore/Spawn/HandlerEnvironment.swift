/// What a handler's environment holds, and nothing else: the table's `env`,
/// a safe PATH unless the table sets one, and the UCSPI-TCP facts about the
/// connection. The master's own environment never reaches a handler.
public enum HandlerEnvironment {
    public static let defaultPath = "/usr/local/bin:/usr/bin:/bin"

    /// Set per connection, in this order (see SpawnPlan's dynamic slots).
    public static let connectionVariables = ["TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT"]

    /// Names swinetd sets itself; a table that sets one is an error, because
    /// they are facts about the connection rather than settings.
    public static let reserved: Set<String> = Set(connectionVariables + ["PROTO", "SWINETD_SERVICE", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"])

    /// The entries that are the same for every connection of `service`.
    public static func fixedEntries(for service: ServiceConfig) -> [String] {
        var out: [String] = []
        var hasPath = false
        for v in service.env {
            if v.name == "PATH" { hasPath = true }
            out.append("\(v.name)=\(v.value)")
        }
        if !hasPath { out.append("PATH=\(defaultPath)") }
        out.append(service.transport == .udp ? "PROTO=UDP" : "PROTO=TCP")
        out.append("SWINETD_SERVICE=\(service.name)")
        if service.activation == .systemd {
            // LISTEN_PID is the handler's own pid: the spawn shim writes it.
            out.append("LISTEN_FDS=1")
            out.append("LISTEN_FDNAMES=\(service.name)")
        }
        return out
    }
}
