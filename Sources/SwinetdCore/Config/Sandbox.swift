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
    /// The system calls the handler may make (systemd's SystemCallFilter=
    /// and SystemCallErrorNumber=), by the same seccomp filter; nil: any.
    public var systemCalls: SystemCalls?
    /// systemd's ProtectSystem=: /usr and /boot read-only, /etc too
    /// (full), or everything but /dev, /proc, /sys and `readWritePaths` (strict).
    public var protectSystem = ProtectSystem.off
    /// systemd's ProtectHome=: /home, /root and /run/user empty and
    /// unreachable, or read-only.
    public var protectHome = ProtectHome.off
    /// Paths made read-only, writable again, or empty and unreachable, in
    /// that order (a later kind wins where they nest). Each resolved when
    /// the table is loaded, with no symlink left in it.
    public var readOnlyPaths: [String] = []
    public var readWritePaths: [String] = []
    public var inaccessiblePaths: [String] = []
    /// A /tmp and /var/tmp of the handler's own (systemd's PrivateTmp=):
    /// an empty tmpfs for each connection, gone when the handler ends.
    public var privateTmp = false
    /// The handler's root (systemd's RootDirectory=, inetd's chroot): exec
    /// and cwd are paths inside it.
    public var rootDirectory: String?

    public init() {}

    /// What makes `path` (on the host, outside any root_directory) unseen
    /// by the handler ("/root, which protect_home makes inaccessible"), or nil.
    func hides(_ path: String) -> String? {
        guard rootDirectory == nil else { return nil }
        func under(_ folder: String) -> Bool { path == folder || path.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/") }
        if protectHome == .on, let home = ["/home", "/root", "/run/user"].first(where: under) {
            return "\(home), which protect_home makes inaccessible"
        }
        if let hidden = inaccessiblePaths.first(where: under) { return "\(hidden), which inaccessible_paths lists" }
        return nil
    }

    /// Whether the handler needs a mount namespace of the service's own.
    var needsMountNamespace: Bool {
        protectSystem != .off || protectHome != .off || privateTmp
            || !readOnlyPaths.isEmpty || !readWritePaths.isEmpty || !inaccessiblePaths.isEmpty
    }
}

/// `system_calls`: an allow list (with systemd's @default always in it),
/// a deny list taken out of it (or, alone, out of everything), and what a
/// call that is not allowed does.
public struct SystemCalls: Equatable, Sendable, Codable {
    /// Names and @groups as written; nil: everything is allowed but `deny`.
    public var allow: [String]?
    public var deny: [String] = []
    public var action = Action.kill

    public enum Action: String, Equatable, Sendable, Codable {
        /// The whole process is killed with SIGSYS (systemd's default).
        case kill
        /// The call fails with EPERM and the handler goes on.
        case eperm = "EPERM"
    }

    public init(allow: [String]? = nil, deny: [String] = [], action: Action = .kill) {
        self.allow = allow
        self.deny = deny
        self.action = action
    }
}

public enum ProtectSystem: String, Equatable, Sendable, Codable, CaseIterable {
    case off = "false", on = "true", full, strict
}

public enum ProtectHome: String, Equatable, Sendable, Codable, CaseIterable {
    case off = "false", on = "true", readOnly = "read-only"
}

/// `sandbox:`, a preset of the isolation keys; a key written beside it
/// (at the same level: the service, or `defaults`) wins.
public enum SandboxPreset: String, Equatable, Sendable, Codable, CaseIterable {
    /// Every isolation key off (a service's way out of a `defaults` preset).
    case none
    /// For a typical line-based service: no new privileges, no
    /// capabilities, @system-service without @privileged and @resources,
    /// unix/inet/inet6 sockets only, protect_system: strict, protect_home,
    /// private_tmp.
    case strict

    var sandbox: Sandbox {
        var s = Sandbox()
        guard self == .strict else { return s }
        s.noNewPrivileges = true
        s.capabilities = []
        // Reading or writing another process's memory (process_vm_*, in
        // @ipc) reaches out of the filter into a process of the same uid.
        s.systemCalls = SystemCalls(allow: ["@system-service"], deny: ["@privileged", "@resources", "process_vm_readv", "process_vm_writev"],
                                    action: .kill)
        s.addressFamilies = ["unix", "inet", "inet6"].compactMap(AddressFamily.init(name:)).sorted { $0.number < $1.number }
        s.protectSystem = .strict
        s.protectHome = .on
        s.privateTmp = true
        return s
    }
}
