#if canImport(Glibc)
import Glibc
#endif

/// The new binary's trial run before an upgrade execs it in place: the
/// running master starts `NEW upgrade-preflight -- <its own arguments>` in
/// a child, with a state like the one the exec would hand over in
/// `SWINETD_UPGRADE_FD`. The new binary parses the master's command line,
/// reads that state and checks the table, and confirms on stderr. Only
/// then does the master exec it: a binary that crashes at start, rejects
/// the master's flags, cannot read this version's state, or is no swinetd
/// at all (which never prints the confirmation) fails here, in a child,
/// and the master serves on unchanged.
public enum UpgradePreflight {
    public static let command = "upgrade-preflight"
    /// The line the running master looks for in the pre-flight's output.
    public static let confirmation = "swinetd upgrade-preflight: ok"

    /// Runs the checks; returns the exit status (diagnostics on stderr).
    public static func run(configPath: String) -> Int32 {
        guard let fd = InheritedDescriptors.upgradeState else {
            write(stderr: "swinetd \(command): no upgrade state was handed over\n")
            return 2
        }
        guard let state = UpgradeState.read(fd) else {
            write(stderr: "swinetd \(SwinetdVersion.current) cannot read the running swinetd's upgrade state\n")
            return 1
        }
        closeDescriptor(fd)
        switch TableLoader().load(path: configPath) {
        case .failure(let errors):
            for line in errors.lines { write(stderr: line + "\n") }
            return 1
        case .success:
            write(stderr: "\(confirmation) version=\(state.version)->\(SwinetdVersion.current)\n")
            return 0
        }
    }

    private static func write(stderr line: String) {
        writeAll(2, Array(line.utf8))
    }
}
