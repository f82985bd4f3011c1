import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `system_calls` through real handlers that make the calls a sandbox is
/// for: mount, ptrace, reboot, init_module (with arguments that make each
/// fail harmlessly when it is allowed).
extension IsolationTests {
    /// This machine's numbers for mount, ptrace, reboot and init_module.
    static var dangerousCalls: [(name: String, number: Int)] {
        #if arch(x86_64)
        return [("mount", 165), ("ptrace", 101), ("reboot", 169), ("init_module", 175)]
        #elseif arch(arm64)
        return [("mount", 40), ("ptrace", 117), ("reboot", 142), ("init_module", 105)]
        #else
        return []
        #endif
    }

    /// Perl making each call: "NAME EPERM", or "NAME other" when the
    /// kernel refused it for another reason (bad arguments: the call was
    /// allowed). ptrace asks to read pid 1's memory without tracing it
    /// (ESRCH), reboot has no magic number (EINVAL): nothing happens.
    static var perlCalls: String {
        let calls = dangerousCalls.map { "[\"\($0.name)\",\($0.number)]" }.joined(separator: ",")
        return "use Errno; for my $c (\(calls)) { my @a = $c->[0] eq 'ptrace' ? (2, 1, 0, 0) : (0, 0, 0, 0, 0); "
            + "syscall($c->[1], @a); print \"$c->[0] \", ($!{EPERM} ? \"EPERM\" : \"other\"), \"\\n\"; } "
            + "my $p = \"\\0\" x 120; my $r = syscall(425, 1, $p); print \"io_uring \", ($r >= 0 ? \"there\" : $!{ENOSYS} ? \"ENOSYS\" : \"other\"), \"\\n\";"
    }

    /// With `deny` and `action: EPERM` each call fails with EPERM and the
    /// handler goes on; without the key none does. With an allow list
    /// (@system-service) and the default action, the shell runs and a
    /// mount kills the process that makes it (SIGSYS, logged as such).
    @Test(.enabled(if: geteuid() == 0 && !dangerousCalls.isEmpty && FileManager.default.isExecutableFile(atPath: "/usr/bin/perl"),
                   "needs root (so that EPERM can only come from the filter), perl and a known architecture"))
    func systemCallsRefuseMountPtraceRebootAndModules() throws {
        let mount = Self.dangerousCalls[0].number
        let (d, ports) = try startDaemon({ p in """
            services:
              plain:
                listen: 127.0.0.1:\(p[0])
                exec: /usr/bin/perl
                args: ["-e", \(jsonQuote(Self.perlCalls))]
              denied:
                listen: 127.0.0.1:\(p[1])
                exec: /usr/bin/perl
                args: ["-e", \(jsonQuote(Self.perlCalls))]
                system_calls: {deny: ["@mount", "@debug", "@reboot", "@module"], action: EPERM}
              allowed:
                listen: 127.0.0.1:\(p[2])
                exec: /bin/sh
                args: ["-c", "echo start; perl -e 'syscall(\(mount), 0, 0, 0, 0, 0); print qq(alive)'; echo perl=$?"]
                system_calls: {allow: ["@system-service"]}
              killed:
                listen: 127.0.0.1:\(p[3])
                exec: /usr/bin/perl
                args: ["-e", "syscall(\(mount), 0, 0, 0, 0, 0); print qq(alive)"]
                system_calls: {deny: ["@mount"]}
            """ }, ports: 4)
        let names = Self.dangerousCalls.map(\.name)
        let plain = try exchange(ports[0])
        #expect(plain.hasPrefix(names.map { "\($0) other\n" }.joined()), "without the key: \(d.log)")
        if readText("/proc/sys/kernel/io_uring_disabled")?.hasPrefix("0") ?? true {
            #expect(plain.hasSuffix("io_uring there\n"), "\(plain)")
        }
        // io_uring's operations would step around the filter (IORING_OP_OPENAT...): not there under one.
        #expect(try exchange(ports[1]) == names.map { "\($0) EPERM\n" }.joined() + "io_uring ENOSYS\n", "with it: \(d.log)")
        #expect(try exchange(ports[2]) == "start\nperl=159\n", "128 + SIGSYS (31): \(d.log)")
        #expect(try exchange(ports[3]) == "")
        try d.waitForLog("killed: exited")
        let line = d.logLines.first { $0.hasPrefix("killed: exited") } ?? ""
        #expect(line.contains("signal=SIGSYS") && line.contains("reason=system_calls"), "\(d.log)")
    }
}
