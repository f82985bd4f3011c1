/// What a service's handlers are kept from, beyond the user they run as:
/// set up by the child between clone and execve (CSpawn), for every
/// handler the service starts after the table that says so is loaded.
/// Each key mirrors a systemd directive (swinetd.yaml(5), ISOLATION).
public struct Sandbox: Equatable, Sendable, Codable {
    /// PR_SET_NO_NEW_PRIVS (systemd's NoNewPrivileges=): a setuid or setgid
    /// program, or one with file capabilities, gains nothing when the
    /// handler or anything it starts runs it.
    public var noNewPrivileges = false
    /// The only capabilities the handler may have (systemd's
    /// CapabilityBoundingSet= and AmbientCapabilities=): as root, its
    /// bounding set is cut to these; as another user, these are its
    /// ambient set, so the program it runs has them. nil: as its user has.
    public var capabilities: [Capability]?
    /// A network namespace of the service's own, empty (systemd's
    /// PrivateNetwork=): the handler keeps the connection it was given but
    /// reaches no network, the host's loopback included. Made once per
    /// service (SpawnPlan), entered by each handler.
    public var privateNetwork = false
    /// The only families socket(2) may make (systemd's
    /// RestrictAddressFamilies=), by a seccomp filter; nil: any.
    public var addressFamilies: [AddressFamily]?

    public init(noNewPrivileges: Bool = false, capabilities: [Capability]? = nil, privateNetwork: Bool = false,
                addressFamilies: [AddressFamily]? = nil) {
        self.noNewPrivileges = noNewPrivileges
        self.capabilities = capabilities
        self.privateNetwork = privateNetwork
        self.addressFamilies = addressFamilies
    }
}
