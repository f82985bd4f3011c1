/// What a handler's environment holds, and nothing else: the table's `env`,
/// a safe PATH unless the table sets one, and the UCSPI-TCP facts about the
/// connection. The master's own environment never reaches a handler.
public enum HandlerEnvironment {
    public static let defaultPath = "/usr/local/bin:/usr/bin:/bin"

    /// Set per connection, in this order (see SpawnPlan's dynamic slots).
    public static let connectionVariables = ["TCPREMOTEIP", "TCPREMOTEPORT", "TCPLOCALIP", "TCPLOCALPORT"]
    /// The same for a UNIX socket, with ucspi-unix's names: the peer's
    /// credentials (SO_PEERCRED) and the socket's path.
    public static let unixConnectionVariables = ["UNIXREMOTEEUID", "UNIXREMOTEEGID", "UNIXREMOTEPID", "UNIXLOCALPATH"]

    static func connectionVariables(for service: ServiceConfig) -> [String] {
        service.isUnix ? unixConnectionVariables : connectionVariables
    }

    /// Names swinetd sets itself; a table that sets one is an error, because
    /// they are facts about the connection rather than settings.
    public static let reserved: Set<String> = Set(connectionVariables + unixConnectionVariables
        + ["PROTO", "SWINETD_SERVICE", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"]
        + ProxyFacts.peerNames + ProxyFacts.tlvNames)

    /// The entries that are the same for every connection of `service`.
    public static func fixedEntries(for service: ServiceConfig) -> [String] {
        var out: [String] = []
        var hasPath = false
        for v in service.env {
            if v.name == "PATH" { hasPath = true }
            out.append("\(v.name)=\(v.value)")
        }
        if !hasPath { out.append("PATH=\(defaultPath)") }
        out.append(service.isUnix ? "PROTO=UNIX" : service.transport == .udp ? "PROTO=UDP" : "PROTO=TCP")
        out.append("SWINETD_SERVICE=\(service.name)")
        if service.activation == .systemd {
            // LISTEN_PID is the handler's own pid: the spawn shim writes it.
            out.append("LISTEN_FDS=1")
            out.append("LISTEN_FDNAMES=\(service.name)")
        }
        return out
    }
}
