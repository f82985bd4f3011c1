import Foundation
import Testing
@testable import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

/// Reading the isolation keys added with system_calls: the filter's
/// lists, the file-system keys' paths, and how `sandbox:` presets combine
/// with keys written beside them.
@Suite struct SandboxKeyTests {
    func load(_ yaml: String) throws -> ServiceTable {
        try TableLoader().load(bytes: Array(yaml.utf8), file: "t.yaml").get()
    }

    @Test func systemCallsReadListsGroupsAndAnAction() throws {
        let t = try load("""
        services:
          a: {listen: "7100", exec: /bin/cat, system_calls: {allow: ["@system-service", mount], deny: ["@privileged"]}}
          b: {listen: "7101", exec: /bin/cat, system_calls: {deny: [ptrace], action: EPERM}}
        """)
        #expect(t["a"]?.sandbox.systemCalls == SystemCalls(allow: ["@system-service", "mount"], deny: ["@privileged"], action: .kill), "kill unless told")
        #expect(t["b"]?.sandbox.systemCalls == SystemCalls(allow: nil, deny: ["ptrace"], action: .eperm))
        func errors(_ value: String) -> [String] {
            diagnostics("services:\n  s: {listen: \"7100\", exec: /bin/cat, system_calls: \(value)}\n")
        }
        #expect(errors("{deny: [\"@mout\"]}") == ["t.yaml:2:61: error: unknown system call group '@mout'; did you mean '@mount'?"])
        #expect(errors("{deny: [ptrce]}") == ["t.yaml:2:61: error: unknown system call 'ptrce'; did you mean 'ptrace'?"])
        #expect(errors("{deny: [execve]}") == ["t.yaml:2:53: error: 'system_calls' denies execve: the handler could never be started"])
        #expect(errors("{deny: [exit_group], action: EPERM}") == ["t.yaml:2:53: error: 'system_calls' denies exit_group: a handler could never end"])
        #expect(errors("{deny: [\"@default\"]}").first?.hasSuffix("the handler could never be started") == true, "through a group")
        #expect(errors("{deny: [mmap2, socketcall]}") == [], "another architecture's names are skipped here")
        #expect(errors("{action: kill}") == ["t.yaml:2:53: error: 'system_calls' needs 'allow', 'deny' or both"])
        #expect(errors("{deny: [mount], action: die}") == ["t.yaml:2:77: error: 'system_calls.action' must be kill or EPERM"])
        #expect(errors("{dney: [mount]}") == ["t.yaml:2:54: error: unknown key 'dney' in 'system_calls' (allow, deny, action); did you mean 'deny'?"])
        #expect(errors("[mount]") == ["t.yaml:2:53: error: 'system_calls' must be a map: {allow: [@system-service], deny: [@privileged], action: kill}"])
    }

    /// Every group a group names exists, and @system-service has what a
    /// shell needs but none of the calls a sandbox is for.
    @Test func theGroupsHoldTogether() throws {
        for (name, members) in SystemCallGroups.all {
            for m in members where m.hasPrefix("@") { #expect(SystemCallGroups.all[m] != nil, "\(name) names \(m)") }
        }
        let service = Set(SystemCallGroups.expand("@system-service") ?? [])
        #expect(service.isSuperset(of: ["read", "write", "execve", "openat", "mmap", "clone", "wait4", "socket"]))
        #expect(service.isDisjoint(with: ["mount", "ptrace", "reboot", "init_module", "kexec_load", "swapon"]))
    }

    @Test func pathsMustBeAbsoluteCleanAndThere() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/swinetd-keys-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let t = try load("services:\n  s: {listen: \"7100\", exec: /bin/cat, read_write_paths: [\(dir)/data, \(dir)//data/], protect_system: strict}\n")
        #expect(t["s"]?.sandbox.readWritePaths == [dir + "/data"], "resolved, once")
        #expect(t["s"]?.sandbox.protectSystem == .strict)
        func errors(_ key: String, _ value: String) -> [String] {
            diagnostics("services:\n  s: {listen: \"7100\", exec: /bin/cat, \(key): \(value)}\n")
        }
        #expect(errors("read_only_paths", "[srv]") == ["t.yaml:2:57: error: 'read_only_paths' must list absolute paths, not 'srv'"])
        #expect(errors("inaccessible_paths", "[\(dir)/../x]").first?.hasSuffix("must not contain '.' or '..'") == true)
        #expect(errors("read_only_paths", "[\(dir)/missing]") == ["t.yaml:2:57: error: 'read_only_paths' \(dir)/missing: No such file or directory"])
        #expect(errors("protect_system", "maybe") == ["t.yaml:2:55: error: 'protect_system' must be false, true, full or strict"])
        #expect(errors("protect_home", "yes") == ["t.yaml:2:53: error: 'protect_home' must be false, true or read-only"])
        var tmp = stat()
        if geteuid() == 0 && stat("/tmp", &tmp) == 0 && tmp.st_mode & 0o7777 == 0o1777 {
            // A folder in /tmp itself: anyone could have put it there, or swap it.
            let inTmp = "/tmp/swinetd-keys-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try #require(mkdir(inTmp, 0o755) == 0)
            defer { rmdir(inTmp) }
            #expect(errors("read_write_paths", "[\(inTmp)]").first?.contains("others can write (mode 1777): swinetd as root does not set a handler's view up through it") == true,
                    "\(errors("read_write_paths", "[\(inTmp)]"))")
        }
    }

    @Test func rootDirectoryHoldsExecAndCwd() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/swinetd-root-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/jail/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let got = diagnostics("services:\n  s: {listen: \"7100\", exec: /bin/cat, root_directory: \(dir)/jail}\n")
        #expect(got == ["t.yaml:2:29: error: 'exec' /bin/cat: No such file or directory (inside root_directory \(dir)/jail)"], "\(got)")
        // An exec from defaults is checked inside the service's own root.
        let inherited = diagnostics("defaults:\n  exec: /bin/cat\nservices:\n  s: {listen: \"7100\", root_directory: \(dir)/jail}\n")
        #expect(inherited == ["t.yaml:4:23: error: 'exec' /bin/cat from defaults: No such file or directory (inside root_directory \(dir)/jail)"], "\(inherited)")
        try FileManager.default.copyItem(atPath: "/bin/cat", toPath: dir + "/jail/bin/cat")
        let t = try load("defaults:\n  root_directory: \(dir)/jail\nservices:\n  s: {listen: \"7100\", exec: /bin/cat}\n")
        #expect(t["s"]?.sandbox.rootDirectory == dir + "/jail", "from defaults, exec checked inside it")
        // An absolute symlink in the root leads inside it, as the handler
        // will see it (one to a file the root lacks is not there); one to
        // the root's own file is refused all the same, since the trust
        // walk on the host would judge another file: name the file.
        try FileManager.default.createSymbolicLink(atPath: dir + "/jail/bin/inside", withDestinationPath: "/bin/cat")
        try FileManager.default.createSymbolicLink(atPath: dir + "/jail/bin/outside", withDestinationPath: "/usr/bin/cat")
        #expect(diagnostics("services:\n  s: {listen: \"7100\", exec: /bin/inside, root_directory: \(dir)/jail}\n")
                == ["t.yaml:2:29: error: 'exec' /bin/inside is reached through a symlink inside root_directory \(dir)/jail: name the file itself"])
        #expect(diagnostics("services:\n  s: {listen: \"7100\", exec: /bin/outside, root_directory: \(dir)/jail}\n")
                == ["t.yaml:2:29: error: 'exec' /bin/outside: No such file or directory (inside root_directory \(dir)/jail)"])
    }

    /// A level's own key beats its preset; the service's level beats
    /// `defaults`; `none` turns a preset in `defaults` off.
    @Test func presetsGiveWayToKeysWrittenBesideThem() throws {
        let t = try load("""
        defaults:
          sandbox: strict
          private_network: true
        services:
          own: {listen: "7100", exec: /bin/cat, private_tmp: false}
          none: {listen: "7101", exec: /bin/cat, sandbox: none}
          mine: {listen: "7102", exec: /bin/cat, sandbox: strict, protect_system: full}
          plain: {listen: "7103", exec: /bin/cat, sandbox: none, no_new_privileges: true}
        """)
        var strict = SandboxPreset.strict.sandbox
        strict.privateNetwork = true
        strict.privateTmp = false
        #expect(t["own"]?.sandbox == strict, "defaults' preset and key, the service's key")
        #expect(t["none"]?.sandbox == Sandbox(), "none: all off, defaults' keys included")
        #expect(t["mine"]?.sandbox.protectSystem == .full && t["mine"]?.sandbox.privateNetwork == false,
                "its own preset beats defaults' key")
        #expect(t["plain"]?.sandbox.noNewPrivileges == true && t["plain"]?.sandbox.privateTmp == false)
        #expect(diagnostics("services:\n  s: {listen: \"7100\", exec: /bin/cat, sandbox: tight}\n")
                == ["t.yaml:2:48: error: 'sandbox' must be none or strict"])
    }

    /// root_directory does not combine with what would protect the host's
    /// paths instead of the root's, nor with a builtin (swinetd's binary
    /// is not in the root, and whoever can write that path there would run
    /// as the handler).
    @Test func rootDirectoryRefusesWhatWouldMissIt() throws {
        let dir = FileManager.default.temporaryDirectory.path + "/swinetd-jail-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/jail/bin", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        try FileManager.default.copyItem(atPath: "/bin/cat", toPath: dir + "/jail/bin/cat")
        #expect(diagnostics("services:\n  s: {listen: \"7100\", exec: /bin/cat, root_directory: \(dir)/jail, protect_system: full}\n")
                .first?.contains("'root_directory' cannot be combined with protect_system, protect_home or the path lists") == true)
        #expect(diagnostics("services:\n  s: {listen: \"7100\", builtin: echo, root_directory: \(dir)/jail}\n")
                .first?.contains("'root_directory' does not apply to a builtin") == true)
        let withTmp = "services:\n  s: {listen: \"7100\", exec: /bin/cat, root_directory: \(dir)/jail, private_tmp: true}\n"
        #expect(diagnostics(withTmp).first?.contains("'private_tmp' mounts on /tmp inside root_directory, but /tmp: No such file or directory") == true)
        try FileManager.default.createDirectory(atPath: dir + "/jail/tmp", withIntermediateDirectories: false)
        #expect(diagnostics(withTmp) == [])
        #expect(diagnostics("services:\n  s: {listen: \"7100\", exec: /bin/cat, protect_system: strict, read_write_paths: [/proc]}\n")
                .first?.contains("'read_write_paths' cannot list /proc") == true)
        if geteuid() == 0 {
            // As outside a root: a handler in a folder another user owns is refused
            // (they could put their own program there and have root run it).
            let nobody = getpwnam("nobody")!.pointee.pw_uid
            try #require(chown(dir + "/jail/bin", nobody, 0) == 0)
            #expect(diagnostics(withTmp).first?.contains("which is owned by uid \(nobody), not root") == true, "\(diagnostics(withTmp))")
        }
    }

    /// A handler the sandbox would hide from itself is refused when the
    /// table is read, not at each connection's execve.
    @Test func anExecTheSandboxHidesIsAnError() throws {
        let cat = try #require(HostChecks.realPath("/bin/cat"))
        let folder = cat.split(separator: "/").dropLast().joined(separator: "/")
        #expect(diagnostics("services:\n  s: {listen: \"7100\", exec: /bin/cat, inaccessible_paths: [/\(folder)]}\n")
                == ["t.yaml:2:23: error: 'exec' /bin/cat is inside /\(folder), which inaccessible_paths lists: the handler could not be started"],
                "through the symlinks on the way")
        var box = Sandbox()
        box.protectHome = .on
        #expect(box.hides("/root/handler") == "/root, which protect_home makes inaccessible")
        #expect(box.hides("/rootless/handler") == nil && box.hides("/usr/bin/cat") == nil)
    }

    /// The master's load: the file-system keys need a swinetd that can make
    /// a mount namespace; a preset is checked as its keys would be.
    @Test func theFileSystemKeysNeedRootAtLoad() throws {
        let yaml = "services:\n  s: {listen: \"7100\", exec: /bin/cat, sandbox: strict}\n"
        let loaded = TableLoader(checkPrivileges: true).load(bytes: Array(yaml.utf8), file: "t.yaml")
        if geteuid() == 0 {
            #expect(try loaded.get()["s"]?.sandbox.needsMountNamespace == true)
        } else {
            guard case .failure(let errors) = loaded else { Issue.record("a non-root swinetd accepted sandbox: strict"); return }
            #expect(errors.diagnostics.map(\.description) == ["t.yaml:2:39: error: 'sandbox' cuts the handler's capabilities, which needs swinetd to have CAP_SETPCAP (to run as root)"], "\(errors)")
        }
    }
}
