/// Which keys fit which kind of service: a wait service's handler gets the
/// socket itself (it accepts, or reads datagrams, on its own), so the keys
/// that decide about single connections cannot apply to it; and UDP is
/// served only that way, since the master never reads a datagram.
extension Validation {
    static let perConnectionKeys: [ServiceKey] = [
        .maxConnections, .allow, .deny, .perSource, .sourcePrefix, .rate, .rateBurst, .sourceRate, .refuseMessage,
    ]

    /// false when they do not fit (each misfit reported).
    mutating func waitFits(name: String, nameNode: Int, transport: Transport, wait: Bool, own: Settings, defaults: Settings) -> Bool {
        if transport == .udp && !wait {
            let node = own.keyNodes[.wait] ?? own.keyNodes[.protocol] ?? nameNode
            error(node, "service '\(name)' uses udp, which needs 'wait: true': the master never reads a datagram, so the handler gets the socket and reads them itself")
            return false
        }
        guard wait else { return true }
        var ok = true
        for key in Self.perConnectionKeys {
            if let node = own.keyNodes[key] {
                error(node, "'\(key.name)' does not apply to a wait service: its handler \(transport == .udp ? "reads the datagrams" : "accepts the connections") itself")
                ok = false
            } else if key != .maxConnections, defaults.present.contains(key) {
                error(own.keyNodes[.wait] ?? nameNode, "'\(key.name)' in 'defaults' cannot apply to wait service '\(name)', whose handler \(transport == .udp ? "reads the datagrams" : "accepts the connections") itself")
                ok = false
            }
        }
        return ok
    }
}
