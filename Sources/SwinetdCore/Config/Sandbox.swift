/// What a service's handlers are kept from, beyond the user they run as:
/// set up by the child between clone and execve (CSpawn), for every
/// handler the service starts after the table that says so is loaded.
/// Each key mirrors a systemd directive (swinetd.yaml(5), ISOLATION).
public struct Sandbox: Equatable, Sendable, Codable {
    /// PR_SET_NO_NEW_PRIVS (systemd's NoNewPrivileges=): a setuid or setgid
    /// program, or one with file capabilities, gains nothing when the
    /// handler or anything it starts runs it.
    public var noNewPrivileges = false

    public init(noNewPrivileges: Bool = false) {
        self.noNewPrivileges = noNewPrivileges
    }
}
