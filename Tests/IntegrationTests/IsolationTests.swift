import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The ISOLATION keys of swinetd.yaml(5), each through real handlers that
/// try what the key forbids: the attempt succeeds without the key and
/// fails with it.
@Suite(.timeLimit(.minutes(2))) struct IsolationTests {
    /// Whether a setuid program in a test folder runs with its owner's
    /// uid: swinetd's tests must run as root to make one, without
    /// no_new_privileges of their own (a container or unit may set it), with
    /// id(1) to copy, in a folder nobody can reach whose file system
    /// honours the bit (not mounted nosuid).
    static var setuidWorksHere: Bool {
        var vfs = statvfs()
        let temporary = NSTemporaryDirectory()
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        var path = ""
        var reachable = true
        for part in temporary.split(separator: "/") {
            path += "/" + part
            var st = stat()
            if stat(path, &st) != 0 || st.st_mode & 0o001 == 0 { reachable = false }
        }
        return geteuid() == 0 && status.contains("NoNewPrivs:\t0") && reachable
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/id")
            && statvfs(temporary, &vfs) == 0 && vfs.f_flag & UInt(ST_NOSUID) == 0
    }

    /// A handler running as nobody runs a setuid-root copy of id(1): it is
    /// root without no_new_privileges, and stays nobody with it. A reload
    /// that turns the key off applies to the handlers started after it; one
    /// already running keeps what it started with.
    @Test(.enabled(if: setuidWorksHere, "needs root and a temporary folder not mounted nosuid"))
    func noNewPrivilegesKeepsASetuidProgramFromGainingRoot() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let id = dir + "/id"
        try FileManager.default.copyItem(atPath: "/usr/bin/id", toPath: id)
        try #require(chown(id, 0, 0) == 0 && chmod(id, 0o4755) == 0)
        let nobody = getpwnam("nobody")!.pointee.pw_uid
        // The handler waits for a line before it runs the program, so one
        // can be started before a reload and finish after it.
        func table(_ p: [UInt16], guarded: Bool) -> String {
            """
            services:
              plain:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "read line; exec \(id) -u"]
                user: nobody
              guarded:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/sh
                args: ["-c", "read line; exec \(id) -u"]
                user: nobody
                no_new_privileges: \(guarded)

            """
        }
        let (d, ports) = try startDaemon({ table($0, guarded: true) }, ports: 2)
        #expect(try exchange(ports[0], "go\n") == "0\n", "without the key the setuid bit makes it root")
        #expect(try exchange(ports[1], "go\n") == "\(nobody)\n", "with it the handler stays nobody")

        // A guarded handler started now, the key turned off meanwhile.
        let early = try connectTCP(ports[1])
        defer { close(early) }
        try d.waitForLog("guarded: accepted", count: 2)
        try d.rewrite(table(ports, guarded: false))
        d.signal(SIGHUP)
        try d.waitForLog("reload: applied")
        #expect(try exchange(ports[1], "go\n") == "0\n", "the reload applies to the handlers started after it")
        #expect(finishExchange(early, "go\n") == "\(nobody)\n", "a running handler keeps the setting it started with")
    }

    /// The effective capabilities of a process the handler runs, as
    /// /proc/self/status shows them (a hexadecimal mask).
    static let capEff = "grep CapEff /proc/self/status"

    /// A root handler with `capabilities: []` has none: it cannot chown a
    /// file it does not own (CAP_CHOWN), as the same handler without the
    /// key can. swinetd is started with inheritable capabilities (as a
    /// container's runtime may give it): execve would hand those to a root
    /// handler beside its bounding set, so they must go too.
    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                   "needs root (only root can cut a handler's capabilities) and setpriv"))
    func aRootHandlerWithNoCapabilitiesCannotChownAnotherUsersFile() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let nobody = getpwnam("nobody")!.pointee
        let script = "\(Self.capEff); grep CapInh /proc/self/status; for f in \(dir)/a \(dir)/b; do chown 0 $f 2>/dev/null && echo chown-ok || echo chown-denied; done"
        for name in ["a", "b"] {
            try "x".write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
            try #require(chown(dir + "/" + name, nobody.pw_uid, nobody.pw_gid) == 0)
        }
        let (d, ports) = try startDaemon(launcher: ["/usr/bin/setpriv", "--inh-caps", "+chown,+sys_admin"], { p in """
            services:
              plain:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: [\"-c\", \(jsonQuote(script.replacingOccurrences(of: "\(dir)/b", with: "")))]
              bare:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/sh
                args: [\"-c\", \(jsonQuote(script.replacingOccurrences(of: "\(dir)/a", with: "")))]
                capabilities: []
            """ }, ports: 2)
        let bare = try exchange(ports[1])
        #expect(bare == "CapEff:\t0000000000000000\nCapInh:\t0000000000000000\nchown-denied\n", "\(bare)\n\(d.log)")
        let plain = try exchange(ports[0])
        #expect(plain.hasSuffix("chown-ok\n") && !plain.contains("CapEff:\t0000000000000000"), "without the key root keeps its capabilities: \(plain)")
    }

    /// A handler running as nobody with `[CAP_NET_BIND_SERVICE]` has that
    /// one capability (ambient, so the program it runs has it) and can
    /// bind a port below 1024; without the key it has none and cannot.
    @Test(.enabled(if: geteuid() == 0, "needs root: handlers as nobody"))
    func aNobodyHandlerGetsOnlyTheCapabilitiesListed() throws {
        // A port below the kernel's first unprivileged one, where one is
        // (a host may have set it to 0: then only the masks are compared).
        let unprivilegedStart = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_unprivileged_port_start", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 1024
        // One the test (root) can bind now, so "in use" cannot pass for
        // "permission denied" or fail "bound".
        var port: Int?
        for _ in 0..<50 where unprivilegedStart > 600 && port == nil {
            let candidate = Int.random(in: 600..<min(unprivilegedStart, 1024))
            let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            if probe >= 0 && withSockaddr("127.0.0.1", UInt16(candidate), { bind(probe, $0, $1) }) == 0 { port = candidate }
            if probe >= 0 { close(probe) }
        }
        let perl = FileManager.default.isExecutableFile(atPath: "/usr/bin/perl")
        var script = Self.capEff
        if let port, perl {
            script += "; /usr/bin/perl -MSocket -e 'socket(S, PF_INET, SOCK_STREAM, 0) or die; if (bind(S, sockaddr_in(\(port), inet_aton(\"127.0.0.1\")))) { print \"bound\\n\" } else { print \"$!\\n\" }'"
        }
        let (d, ports) = try startDaemon({ p in """
            services:
              plain:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: [\"-c\", \(jsonQuote(script))]
                user: nobody
              binder:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/sh
                args: [\"-c\", \(jsonQuote(script))]
                user: nobody
                capabilities: [CAP_NET_BIND_SERVICE]
            """ }, ports: 2)
        let binder = try exchange(ports[1]).split(separator: "\n").map(String.init)
        #expect(binder.first == "CapEff:\t0000000000000400", "CAP_NET_BIND_SERVICE (10) alone: \(binder)\n\(d.log)")
        let plain = try exchange(ports[0]).split(separator: "\n").map(String.init)
        #expect(plain.first == "CapEff:\t0000000000000000", "\(plain)")
        if port != nil && perl {
            #expect(binder.dropFirst().first == "bound", "\(binder)")
            #expect(plain.dropFirst().first == "Permission denied", "\(plain)")
        }
    }

    /// `private_network`: the handler answers on the connection it was
    /// given, from a network namespace that is not swinetd's, one per
    /// service (the same for each of its handlers, another for another
    /// service), and cannot connect to a port on the host's loopback that
    /// the same handler without the key reaches: 127.0.0.1 there is the
    /// namespace's own loopback, up, where nothing listens.
    @Test(.enabled(if: geteuid() == 0, "needs root: only root can give a handler a network namespace"))
    func aPrivateNetworkHandlerAnswersButReachesNothing() throws {
        // A listener of the test's own, for the handlers to try.
        let target = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(target >= 0)
        defer { close(target) }
        var port: UInt16 = 0
        var bound = false
        for _ in 0..<20 where !bound {
            port = freePort()
            bound = withSockaddr("127.0.0.1", port, { bind(target, $0, $1) }) == 0
        }
        try #require(bound && listen(target, 16) == 0)
        let perl = FileManager.default.isExecutableFile(atPath: "/usr/bin/perl")
        var script = "readlink /proc/self/ns/net"
        if perl {
            script += "; /usr/bin/perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(PeerAddr => \"127.0.0.1:\(port)\", Timeout => 5) ? \"reached\\n\" : \"$!\\n\"'"
        }
        let (d, ports) = try startDaemon({ p in """
            services:
              plain:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: [\"-c\", \(jsonQuote(script))]
              private:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/sh
                args: [\"-c\", \(jsonQuote(script))]
                private_network: true
              other:
                listen: 127.0.0.1:\(p[2])
                exec: /bin/sh
                args: [\"-c\", \(jsonQuote(script))]
                private_network: true
            """ }, ports: 3)
        let masters = try #require(readLink("/proc/\(d.pid)/ns/net"))
        let plain = try exchange(ports[0]).split(separator: "\n").map(String.init)
        let first = try exchange(ports[1]).split(separator: "\n").map(String.init)
        let second = try exchange(ports[1]).split(separator: "\n").map(String.init)
        let other = try exchange(ports[2]).split(separator: "\n").map(String.init)
        #expect(plain.first == masters, "without the key: swinetd's own network: \(plain)")
        #expect(first.first != nil && first.first != masters, "a namespace of its own, and the answer came through: \(first)\n\(d.log)")
        #expect(second.first == first.first, "one namespace per service, made once")
        #expect(other.first != nil && other.first != first.first && other.first != masters, "another service, another namespace")
        if perl {
            #expect(plain.dropFirst().first == "reached", "\(plain)")
            // Its own loopback is up (as systemd's PrivateNetwork= has it),
            // and nothing listens on that port there.
            #expect(first.dropFirst().first == "Connection refused", "\(first)")
        }
    }

    /// `address_families: [unix, inet]`: the handler answers on the TCP
    /// connection it was given and makes UNIX and IPv4 sockets, but an IPv6
    /// or a netlink socket fails with EAFNOSUPPORT, as does an IPv6
    /// socketpair, and io_uring (which makes sockets where no filter sees
    /// the family) is not there; without the key, all four sockets are
    /// made. Not root only: the filter loads under any user. As root, a
    /// handler running as nobody gets no_new_privileges with the filter
    /// (and its list, [unix, inet, netlink], refuses inet6 in between).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/perl"), "needs perl (Debian's perl-base) to make sockets"))
    func addressFamiliesLeaveOnlyTheFamiliesListed() throws {
        // io_uring_setup is 425 on x86_64 and arm64 alike; its parameters, 120 zero bytes.
        let script = "echo answered; /usr/bin/perl -MSocket -e 'for my $f (AF_UNIX, AF_INET, AF_INET6, 16) { print socket(S, $f, $f == 16 ? SOCK_RAW : SOCK_DGRAM, 0) ? \"ok\\n\" : \"$!\\n\"; close S } print socketpair(A, B, AF_INET6, SOCK_STREAM, 0) ? \"pair\\n\" : \"$!\\n\"; my $p = \"\\0\" x 120; print syscall(425, 4, $p) >= 0 ? \"uring\\n\" : \"$!\\n\"'; grep NoNewPrivs /proc/self/status"
        let root = geteuid() == 0
        let (d, ports) = try startDaemon({ p in """
            services:
              plain:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: [\"-c\", \(jsonQuote(script))]
              filtered:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/sh
                args: [\"-c\", \(jsonQuote(script))]
                address_families: [unix, inet]

            """ + (root ? """
              nobody:
                listen: 127.0.0.1:\(p[2])
                exec: /bin/sh
                args: [\"-c\", \(jsonQuote(script))]
                address_families: [unix, inet, netlink]
                user: nobody

            """ : "") }, ports: 3)
        let refused = "Address family not supported by protocol"
        let filtered = try exchange(ports[1]).split(separator: "\n").map(String.init)
        #expect(Array(filtered.prefix(7)) == ["answered", "ok", "ok", refused, refused, refused, "Function not implemented"], "\(filtered)\n\(d.log)")
        let plain = try exchange(ports[0]).split(separator: "\n").map(String.init)
        #expect(Array(plain.prefix(5)) == ["answered", "ok", "ok", "ok", "ok"], "\(plain)")
        if root {
            let nobody = try exchange(ports[2]).split(separator: "\n").map(String.init)
            // inet6 lies between inet and netlink: refused as a family left out in between.
            #expect(nobody.prefix(5) == ["answered", "ok", "ok", refused, "ok"] && nobody.last == "NoNewPrivs:\t1", "\(nobody)")
            #expect(filtered.last == "NoNewPrivs:\t0", "a root handler's filter loads without it: \(filtered)")
        }
    }

    /// A swinetd that cannot make a network namespace (root without
    /// CAP_SYS_ADMIN here) refuses a table with `private_network` when it
    /// loads it, rather than fail at each connection or serve without one.
    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                   "needs root and setpriv"))
    func privateNetworkWithoutThePowerToMakeOneIsAnErrorAtLoad() throws {
        let d = try Daemon(table: "services:\n  s:\n    listen: 127.0.0.1:\(freePort())\n    exec: /bin/cat\n    private_network: true\n",
                           args: ["--control", "none"], launcher: ["/usr/bin/setpriv", "--bounding-set", "-sys_admin"], waitForStart: false)
        #expect(try d.waitForExit() == 1, "\(d.log)")
        #expect(d.log.contains("'private_network': swinetd cannot make a network namespace here (Operation not permitted)"), "\(d.log)")
    }

    func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 256)
        let n = readlink(path, &buffer, buffer.count - 1)
        return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : nil
    }

    func connectTCP(_ port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard withSockaddr("127.0.0.1", port, { connect(fd, $0, $1) }) == 0 else {
            close(fd)
            throw TestFailure("connect: \(String(cString: strerror(errno)))")
        }
        return fd
    }
}
