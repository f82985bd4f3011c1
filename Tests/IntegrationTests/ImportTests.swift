import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `swinetd import inetd|xinetd`: the stock configurations convert into a
/// table `check` accepts, the report names what could not come along, an
/// imported table serves, and no input crashes the importer.
@Suite(.timeLimit(.minutes(2))) struct ImportTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/import").path

    struct Imported {
        var status: Int32
        var table: String
        var report: [String]
        var checkStatus: Int32
        var checkOutput: String

        /// The report's line numbers of one kind ("left out", "approximated", "commented out").
        func lines(_ kind: String, in file: String) -> [Int] {
            report.compactMap { line in
                guard line.hasPrefix(file + ":"), line.contains(": \(kind): ") else { return nil }
                return Int(line.dropFirst(file.count + 1).prefix { $0.isNumber })
            }.sorted()
        }
    }

    /// Runs the importer with -o into a fresh directory, then `check` on what it wrote.
    func importing(_ args: [String], stdin: String? = nil) throws -> Imported {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/services.yaml"
        // -o before the file: tcprules takes the program's arguments after --.
        let run = try runToEnd([swinetdBinary, "import", args[0], "-o", out] + args.dropFirst(), timeout: 60)
        let table = readText(out) ?? ""
        var check: (status: Int32, output: String) = (-1, "")
        if !table.isEmpty { check = try runToEnd([swinetdBinary, "check", "-f", out], timeout: 60) }
        return Imported(status: run.status, table: table, report: run.output.split(separator: "\n").map(String.init),
                        checkStatus: check.status, checkOutput: check.output)
    }

    /// The fixture with every server path moved under /nonexistent, so that
    /// which handlers are missing does not depend on what this host has
    /// installed (a machine with openssh-server has /usr/sbin/sshd).
    func withAbsentHandlers(_ fixture: String, in dir: String) throws -> String {
        let lines = try readFile(fixture).split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard !line.hasPrefix("#"), fields.count >= 6, fields[5].hasPrefix("/"),
                  let at = line.range(of: fields[5]) else { return String(line) }
            return line.replacingCharacters(in: at, with: "/nonexistent" + fields[5])
        }
        let copy = dir + "/" + URL(fileURLWithPath: fixture).lastPathComponent
        try lines.joined(separator: "\n").write(toFile: copy, atomically: false, encoding: .utf8)
        return copy
    }

    @Test func freeBSDsStockInetdConfConvertsAndNamesWhatCannotCome() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try withAbsentHandlers(Self.fixtures + "/freebsd-inetd.conf", in: dir)
        #expect(try readFile(file).contains("\t/nonexistent/usr/sbin/sshd\t"))
        let r = try importing(["inetd", file])
        #expect(r.status == 1, "\(r.report)")
        #expect(r.checkStatus == 0, "\(r.checkOutput)\n\(r.table)")
        // Left out: the seven RPC entries, and the four names /etc/services lacks.
        #expect(r.lines("left out", in: file) == [63, 64, 65, 66, 67, 68, 69, 77, 116, 120, 123], "\(r.report)")
        for line in 63...69 { #expect(r.report.contains { $0.hasPrefix("\(file):\(line): left out: ") && $0.contains("RPC") }) }
        #expect(r.report.contains("\(file):77: left out: imap4: no such service in /etc/services for tcp (write the port number)"))
        // Approximated: the internal auth's FreeBSD options.
        #expect(r.lines("approximated", in: file) == [96, 97], "\(r.report)")
        // The second cvspserver and the extra auth lines want an address already taken, as they would under inetd.
        let commented = r.lines("commented out", in: file)
        #expect([59, 96, 101].allSatisfy(commented.contains), "\(r.report)")
        // tcp and tcp6 twins are one service with both addresses; the small servers are builtins.
        #expect(r.table.contains("# from \(file):6,7\n"))
        #expect(r.table.contains("  #   listen: \"21\"\n") || r.table.contains("    listen: \"21\"\n"))
        for b in ["daytime", "time", "echo", "discard", "chargen"] {
            #expect(r.table.contains("  \(b):\n    listen: \"\(["daytime": 13, "time": 37, "echo": 7, "discard": 9, "chargen": 19][b]!)\"\n    builtin: \(b)\n"), "\(b)")
            #expect(r.table.contains("  \(b)-udp:\n"))
        }
        // finger's max-child 3 and 10 connections a minute per address.
        #expect(r.table.contains("max_connections: 3") && r.table.contains("source_rate: 10/min") && r.table.contains("source_prefix: {ipv4: 32, ipv6: 128}"))
        // The rest of the line after the server is argv[0] and the arguments.
        #expect(r.table.contains("exec: /nonexistent/usr/local/bin/cvs\n  #   args: [\"--allow-root=/your/cvsroot/here\", pserver]"), "\(r.table)")
        // Every entry read is accounted for: in the table, as a comment, or in the report.
        #expect(r.checkOutput.contains("ok: 11 services"), "\(r.checkOutput)")
    }

    @Test func openBSDsFormsConvert() throws {
        let file = Self.fixtures + "/openbsd-inetd.conf"
        let r = try importing(["inetd", file])
        #expect(r.status == 1)
        #expect(r.checkStatus == 0, "\(r.checkOutput)\n\(r.table)")
        #expect(r.lines("left out", in: file) == [19, 20], "\(r.report)")
        #expect(r.lines("approximated", in: file) == [10], "\(r.report)")
        // host prefixes, the 127.0.0.1: line and its *: reset
        #expect(r.table.contains("listen: [\"127.0.0.1:512\", \"[::1]:512\"]") || r.table.contains("# from \(file):6,7"), "\(r.table)")
        #expect(r.table.contains("  daytime:\n    listen: \"127.0.0.1:13\"\n"))
        #expect(r.table.contains("  time:\n    listen: \"127.0.0.1:37\"\n"))
        #expect(r.table.contains("  echo:\n    listen: \"7\"\n"))
        #expect(r.table.contains("listen: /var/run/inetd-echo.sock"))
        #expect(r.table.contains("rate: 40/min"))
        #expect(r.table.contains("user: _identd"))
        // Debian's openbsd-inetd reads plain tcp as both families.
        let dual = try importing(["inetd", "--dual-stack", file])
        #expect(dual.table.contains("  #   listen: \"21\"\n"), "\(dual.table)")
        #expect(dual.table.contains("  daytime:\n    listen: \"127.0.0.1:13\"\n"), "a numeric address keeps its family")
        #expect(dual.table.contains("  discard:\n    listen: \"9\"\n    protocol: udp\n"))
    }

    @Test func debiansXinetdConfigurationConverts() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let conf = try String(contentsOfFile: Self.fixtures + "/debian-xinetd.conf", encoding: .utf8)
            .replacingOccurrences(of: "@DIR@", with: Self.fixtures)
        try conf.write(toFile: dir + "/xinetd.conf", atomically: false, encoding: .utf8)
        // Every service there is disabled: without --include-disabled there is nothing to serve, and no table.
        let plain = try importing(["xinetd", dir + "/xinetd.conf"])
        #expect(plain.status == 1)
        #expect(plain.table.isEmpty)
        #expect(plain.report == ["\(dir)/xinetd.conf: left out: nothing to serve: no table written (disabled entries are carried over with --include-disabled)"], "\(plain.report)")
        let all = try importing(["xinetd", "--include-disabled", dir + "/xinetd.conf"])
        #expect(all.status == 1)
        #expect(all.checkStatus == 0, "\(all.checkOutput)\n\(all.table)")
        let leftOut = all.report.filter { $0.contains(": left out: ") }
        #expect(leftOut.count == 2, "\(all.report)")
        #expect(leftOut.contains { $0.hasPrefix(Self.fixtures + "/xinetd.d/servers:4: left out: servers:") })
        #expect(leftOut.contains { $0.hasPrefix(Self.fixtures + "/xinetd.d/services:4: left out: services:") })
        #expect(all.checkOutput.contains("ok: 15 services"), "\(all.checkOutput)")
        #expect(all.table.components(separatedBy: "enabled: false").count - 1 == 15)
        #expect(all.table.contains("  echo:\n    listen: \"0.0.0.0:7\"\n    enabled: false\n    builtin: echo\n"))
        // A directory alone is read as its includedir.
        let d = try importing(["xinetd", "--include-disabled", Self.fixtures + "/xinetd.d"])
        #expect(d.checkOutput.contains("ok: 15 services"), "\(d.checkOutput)")
    }

    @Test func xinetdAttributesMapToTheirKeys() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        defaults
        {
            instances   = 30
            only_from   = 10.0.0.0 192.168.1.{5,7}
            log_type    = SYSLOG daemon info
        }
        service upper
        {
            socket_type = stream
            protocol    = tcp
            wait        = no
            port        = 7014
            type        = UNLISTED
            bind        = 127.0.0.1
            server      = /usr/bin/tr
            server_args = a-z A-Z
            only_from  += 127.0.0.0/8
            only_from  -= 192.168.1.7
            no_access   = 10.9.0.0
            per_source  = 4
            cps         = 25 30
            env         = LANG=C TZ=UTC
            passenv     = HOME
            nice        = 5
            umask       = 027
            rlimit_as   = 512M
            rlimit_cpu  = 60
            access_times = 08:00-17:00
            log_on_success += USERID
        }
        service wc
        {
            socket_type = stream
            wait        = no
            port        = 7015
            type        = UNLISTED
            flags       = IPv6 NAMEINARGS
            server      = /usr/bin/wc
            server_args = counter -l
            instances   = UNLIMITED
        }
        """.write(toFile: dir + "/x.conf", atomically: false, encoding: .utf8)
        let r = try importing(["xinetd", dir + "/x.conf"])
        #expect(r.checkStatus == 0, "\(r.checkOutput)\n\(r.table)")
        #expect(r.table.contains("""
          upper:
            listen: "127.0.0.1:7014"
            exec: /usr/bin/tr
            args: [a-z, A-Z]
            max_connections: 30
            per_source: 4
            source_prefix: {ipv4: 32, ipv6: 128}
            rate: 25/s
            allow: [10.0.0.0/8, 192.168.1.5/32, 127.0.0.0/8]
            deny: [10.9.0.0/16]
            env: {LANG: C, TZ: UTC}
            nice: 5
            umask: "0027"
            limits: {as: 512M, cpu: 60}
        """), "\(r.table)")
        #expect(r.table.contains("""
          wc:
            listen: "7015"
            exec: /usr/bin/wc
            argv0: counter
            args: ["-l"]
            allow: [10.0.0.0/8, 192.168.1.5/32, 192.168.1.7/32]
        """), "\(r.table)")
        let f = dir + "/x.conf"
        for (line, what) in [(5, "log_type"), (21, "cps 25 30"), (19, "more specific entry"), (23, "passenv HOME"), (28, "access_times"), (29, "USERID")] {
            #expect(r.report.contains { $0.hasPrefix("\(f):\(line): approximated: ") && $0.contains(what) }, "\(line) \(what): \(r.report)")
        }
        #expect(r.status == 1)
    }

    @Test func anImportedTableServes() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let user = String(cString: getpwuid(geteuid())!.pointee.pw_name)
        try "import socket\ns=socket.socket(fileno=0)\ns.settimeout(1)\ntry:\n  while True:\n    d,a=s.recvfrom(2048); s.sendto(b'udp '+d,a)\nexcept socket.timeout:\n  pass\n"
            .write(toFile: dir + "/udp.py", atomically: false, encoding: .utf8)
        for _ in 0..<5 {
            let p = (0..<3).map { _ in freePort() }
            try """
            # a small inetd.conf
            127.0.0.1:
            echo\tstream\ttcp\tnowait\troot\tinternal
            echo\tdgram\tudp\twait\troot\tinternal
            \(p[1])\tstream\ttcp\tnowait/10/0/1\t\(user)\t/usr/bin/tr\ttr a-z A-Z
            \(p[2])\tdgram\tudp\twait\t\(user)\t/usr/bin/python3\tpython3 \(dir)/udp.py
            """.write(toFile: dir + "/inetd.conf", atomically: false, encoding: .utf8)
            let r = try importing(["inetd", dir + "/inetd.conf"])
            #expect(r.status == 0, "\(r.report)")
            #expect(r.checkStatus == 0, "\(r.checkOutput)\n\(r.table)")
            #expect(r.table.contains("per_source: 1"))
            // echo is port 7, which a test may not take: move it to a free one.
            #expect(r.table.components(separatedBy: "listen: \"127.0.0.1:7\"\n").count == 3, "\(r.table)")
            let d = try Daemon(table: r.table.replacingOccurrences(of: "listen: \"127.0.0.1:7\"\n", with: "listen: \"127.0.0.1:\(p[0])\"\n"))
            guard d.started else {
                if d.log.contains("Address already in use") { continue }
                throw TestFailure("did not start:\n\(d.log)\n\(r.table)")
            }
            #expect(try exchange(p[0], "echo me\n") == "echo me\n")
            #expect(try datagram(p[0], "hi") == "hi")
            #expect(try exchange(p[1], "shout\n") == "SHOUT\n")
            #expect(try datagram(p[2], "ping") == "udp ping")
            // max-child-per-ip 1: while one connection from 127.0.0.1 runs, a second is refused.
            let held = try connectOnly(p[1])
            defer { close(held) }
            try d.waitForLog("accepted", count: 3)
            #expect(try exchange(p[1], "again\n") == "")
            try d.waitForLog("reason=per-source")
            return
        }
        throw TestFailure("no free ports after 5 tries")
    }

    @Test func malformedInputGetsLineNumbersAndNeverACrash() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let f = dir + "/inetd.conf"
        var text = """
        ftp stream tcp
        echo bogus tcp nowait root internal
        echo stream tcp sometimes root internal
        finger stream tcp nowait/x/2 nobody /usr/bin/finger finger
        daytime stream tcp nowait/1/2/3/4 root internal
        echo stream tcp nowait root relative/path
        time stream udp wait root internal
        chargen stream tcp nowait root internal
        \u{1}\u{2}\u{3}\u{ff}\u{0} stream tcp nowait root internal

        """
        text += String(repeating: "x", count: 10 << 20) + "\n"
        try text.write(toFile: f, atomically: false, encoding: .utf8)
        let r = try importing(["inetd", f])
        #expect(r.status == 1)
        #expect(r.checkStatus == 0, "\(r.checkOutput)")
        #expect(r.lines("left out", in: f) == [1, 2, 3, 4, 5, 6, 7, 9, 10], "\(r.report)")
        #expect(r.report.contains("\(f):2: left out: echo: unknown socket type 'bogus': stream or dgram"))
        #expect(r.report.contains("\(f):4: left out: finger: 'x' in 'nowait/x/2' is not a number"))
        #expect(r.report.contains("\(f):10: left out: the line is longer than 65536 bytes"))
        #expect(r.table.contains("  chargen:\n"))
        // Binary garbage and a truncated xinetd file.
        var garbage = [UInt8](repeating: 0, count: 4096)
        for i in garbage.indices { garbage[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 7) }
        #expect(FileManager.default.createFile(atPath: dir + "/garbage", contents: Data(garbage)))
        for kind in ["inetd", "xinetd"] {
            let g = try importing([kind, dir + "/garbage"])
            #expect(g.status == 1)
            #expect(g.table.isEmpty)
            #expect(g.report.last == "\(dir)/garbage: left out: nothing to serve: no table written (disabled entries are carried over with --include-disabled)")
        }
        try "service echo\n{\n  socket_type = stream\n  wait = no\n  type = INTERNAL\n  bogus line\n".write(toFile: dir + "/x.conf", atomically: false, encoding: .utf8)
        let x = try importing(["xinetd", dir + "/x.conf"])
        #expect(x.report.contains("\(dir)/x.conf:6: left out: 'bogus line' is not 'attribute = value': line ignored"), "\(x.report)")
        #expect(x.report.contains("\(dir)/x.conf:1: left out: 'echo' has no closing '}'"), "\(x.report)")
        // Unreadable input: exit 2, no table.
        let missing = try runToEnd([swinetdBinary, "import", "inetd", dir + "/none"])
        #expect(missing.status == 2)
        #expect(missing.output.contains("cannot read \(dir)/none"))
    }
}

extension ImportTests {
    /// A service named like one of the master's log subjects gets another
    /// name, instead of a table that check refuses.
    @Test func aReservedNameIsRenamed() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "service reload\n{\n    socket_type = stream\n    protocol = tcp\n    wait = no\n    port = 7099\n    type = UNLISTED\n    bind = 127.0.0.1\n    user = root\n    server = /bin/cat\n}\n"
            .write(toFile: dir + "/xinetd.conf", atomically: true, encoding: .utf8)
        let r = try runToEnd([swinetdBinary, "import", "xinetd", "-o", dir + "/out.yaml", dir + "/xinetd.conf"])
        let table = try readFile(dir + "/out.yaml")
        #expect(table.contains("\n  reload-tcp:\n"), "\(r.output)\n\(table)")
        let check = try runToEnd([swinetdBinary, "check", "-f", dir + "/out.yaml"])
        #expect(check.status == 0, "\(check.output)")
    }
}

/// Issue 21: what the input holds (a file's name, a value, its line ends,
/// its size) must not change which services the written table holds.
extension ImportTests {
    /// The handler every imported service below names: a file that is there
    /// on any host, and that only root can change (as root, the checkout's
    /// own binary is refused where the checkout is group-writable).
    var handler: String { "/bin/sh" }
    var me: String { String(cString: getpwuid(geteuid())!.pointee.pw_name) }

    /// A service block of xinetd for `port`.
    func xinetdService(_ name: String, port: Int, lineEnd: String = "\n") -> String {
        ["service \(name)", "{", "    socket_type = stream", "    protocol = tcp", "    wait = no", "    port = \(port)",
         "    type = UNLISTED", "    bind = 127.0.0.1", "    user = \(me)", "    server = \(handler)", "}", ""].joined(separator: lineEnd)
    }

    /// libyaml breaks lines at U+0085, U+2028 and U+2029 too: a file name
    /// holding them once ended the `# from FILE:LINE` comment early and the
    /// rest of the name became a service running /bin/sh (as root), with
    /// exit 0. Every such character is escaped; the table holds exactly the
    /// services read.
    @Test func aFileNameOrValueCannotAddAServiceToTheTable() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/xinetd.d", withIntermediateDirectories: false)
        for (i, brk) in ["\u{2028}", "\u{2029}", "\u{85}"].enumerated() {
            // No "." nor "/" in a name includedir reads: YAML's escapes spell them.
            let name = "svc\(i)\(brk)  evil\(i):\(brk)    listen: \"\\x31\\x32\\x37\\x2e0\\x2e0\\x2e1:\(7900 + i)\"\(brk)    exec: \"\\x2fbin\\x2fsh\"\(brk)#"
            try xinetdService("svc\(i)", port: 7800 + i).write(toFile: dir + "/xinetd.d/" + name, atomically: false, encoding: .utf8)
        }
        let r = try importing(["xinetd", dir + "/xinetd.d"])
        #expect(r.checkStatus == 0, "\(r.checkOutput)\n\(r.table)")
        #expect(r.checkOutput.contains("ok: 3 services"), "\(r.checkOutput)\n\(r.table)")
        #expect(!r.checkOutput.contains("evil"), "\(r.checkOutput)")
        #expect(!r.table.unicodeScalars.contains { $0.value > 0x7E || ($0.value < 0x20 && $0 != "\n") }, "\(r.table)")
        #expect(r.table.contains("# from \(dir)/xinetd.d/svc0\\u2028  evil0:\\u2028    listen: "), "\(r.table)")
        #expect(r.table.contains("evil2:\\u0085"), "\(r.table)")
        #expect(r.status == 0, "\(r.report)")
        // The same characters in an inetd.conf's server path and arguments stay inside their values.
        let port = 7801
        try "\(port)\tstream\ttcp\tnowait\t\(me)\t\(handler)\tswinetd a\u{2028}b: c\u{85}d\u{2029}e\n\(port + 1)\tstream\ttcp\tnowait\t\(me)\t\(handler)\u{2028}x: y\tx\n"
            .write(toFile: dir + "/inetd.conf", atomically: false, encoding: .utf8)
        let i = try importing(["inetd", dir + "/inetd.conf"])
        #expect(i.checkStatus == 0, "\(i.checkOutput)\n\(i.table)")
        #expect(i.checkOutput.contains("ok: 1 service,"), "\(i.checkOutput)\n\(i.table)")
        #expect(i.table.contains("    args: [\"a\\u2028b:\", \"c\\u0085d\\u2029e\"]\n"), "\(i.table)")
        // The second server is not on this host: a comment, all of it.
        #expect(i.table.contains("  #   exec: \"\(handler)\\u2028x:\"\n"), "\(i.table)")
        #expect(i.lines("commented out", in: dir + "/inetd.conf") == [2], "\(i.report)")
    }

    /// "\r\n" is one Character in Swift: splitting on "\n" read a CRLF
    /// inetd.conf's three entries as one service (`argv0: "cat\r\n18511"`)
    /// and refused a CRLF xinetd file whole.
    @Test func crlfLineEndsKeepEveryEntry() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try (0..<3).map { "\(7801 + $0)\tstream\ttcp\tnowait\t\(me)\t\(handler)\tswinetd arg\($0)\r\n" }.joined()
            .write(toFile: dir + "/inetd.conf", atomically: false, encoding: .utf8)
        let r = try importing(["inetd", dir + "/inetd.conf"])
        #expect(r.status == 0, "\(r.report)")
        #expect(r.checkStatus == 0 && r.checkOutput.contains("ok: 3 services"), "\(r.checkOutput)\n\(r.table)")
        for n in 0..<3 { #expect(r.table.contains("    args: [arg\(n)]\n"), "\(r.table)") }
        #expect(!r.table.contains("\\r") && !r.table.contains("\\u000d"), "\(r.table)")
        try (xinetdService("one", port: 7811, lineEnd: "\r\n") + xinetdService("two", port: 7812, lineEnd: "\r\n"))
            .write(toFile: dir + "/xinetd.conf", atomically: false, encoding: .utf8)
        let x = try importing(["xinetd", dir + "/xinetd.conf"])
        #expect(x.status == 0, "\(x.report)")
        #expect(x.checkStatus == 0 && x.checkOutput.contains("ok: 2 services"), "\(x.checkOutput)\n\(x.table)")
    }

    /// Debian's `update-inetd --disable` comments an entry out as
    /// `#<off># finger ...`; --include-disabled dropped those silently.
    @Test func debiansOffEntriesComeAlongDisabled() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try """
        # a comment that is no entry
        #<off># 7801\tstream\ttcp\tnowait\t\(me)\t\(handler)\tswinetd off
        # 7802\tstream\ttcp\tnowait\t\(me)\t\(handler)\tswinetd plain
        7803\tstream\ttcp\tnowait\t\(me)\t\(handler)\tswinetd on

        """.write(toFile: dir + "/inetd.conf", atomically: false, encoding: .utf8)
        let all = try importing(["inetd", "--include-disabled", dir + "/inetd.conf"])
        #expect(all.status == 0, "\(all.report)")
        #expect(all.checkStatus == 0 && all.checkOutput.contains("ok: 3 services"), "\(all.checkOutput)\n\(all.table)")
        #expect(all.table.contains("# from \(dir)/inetd.conf:2\n  \"7801\":\n    listen: \"0.0.0.0:7801\"\n    enabled: false\n"), "\(all.table)")
        #expect(all.table.contains("    args: [\"off\"]\n"), "\(all.table)")
        let enabled = try importing(["inetd", dir + "/inetd.conf"])
        #expect(enabled.checkOutput.contains("ok: 1 service,"), "\(enabled.checkOutput)\n\(enabled.table)")
    }

    /// Run as root with -o in a sticky world-writable folder, the importer
    /// opened a symbolic link another user planted there and truncated the
    /// root-owned file it named. A link is refused; a file is replaced by rename.
    @Test(.enabled(if: geteuid() == 0, "needs root: to own the target and lchown the link"))
    func outputNeverFollowsAPlantedSymlink() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shared = dir + "/tmp", victim = dir + "/shadow"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
        #expect(chmod(shared, 0o1777) == 0)
        try "root:precious\n".write(toFile: victim, atomically: false, encoding: .utf8)
        #expect(symlink(victim, shared + "/services.yaml") == 0)
        #expect(lchown(shared + "/services.yaml", 65534, 65534) == 0)
        try "7801\tstream\ttcp\tnowait\t\(me)\t\(handler)\tswinetd\n".write(toFile: dir + "/inetd.conf", atomically: false, encoding: .utf8)
        let r = try runToEnd([swinetdBinary, "import", "inetd", dir + "/inetd.conf", "-o", shared + "/services.yaml"])
        #expect(try readFile(victim) == "root:precious\n")
        #expect(r.status == 2, "\(r.output)")
        #expect(r.output.contains("cannot write \(shared)/services.yaml: it is a symbolic link"), "\(r.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: shared) == ["services.yaml"], "nothing left behind")
        // A regular file there is replaced whole, keeping its mode.
        try FileManager.default.removeItem(atPath: shared + "/services.yaml")
        try "old\n".write(toFile: shared + "/services.yaml", atomically: false, encoding: .utf8)
        #expect(chmod(shared + "/services.yaml", 0o600) == 0)
        let w = try runToEnd([swinetdBinary, "import", "inetd", dir + "/inetd.conf", "-o", shared + "/services.yaml"])
        #expect(w.status == 0, "\(w.output)")
        #expect(try readFile(shared + "/services.yaml").contains("    exec: \(handler)\n"))
        var st = stat()
        #expect(lstat(shared + "/services.yaml", &st) == 0 && st.st_mode & 0o7777 == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: shared) == ["services.yaml"])
    }

    /// A symlink another user left in a shared folder, on the way to -o's
    /// folder: as root, root's own folder must not be written through it
    /// (where fs.protected_symlinks is 0, open(2) follows it).
    @Test(.enabled(if: geteuid() == 0, "needs root: the link is another user's, the folder root's"))
    func outputNeverGoesThroughAnotherUsersFolderLink() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shared = dir + "/tmp", victim = dir + "/etc"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: false)
        #expect(chmod(shared, 0o1777) == 0)
        #expect(symlink(victim, shared + "/out") == 0)
        #expect(lchown(shared + "/out", 65534, 65534) == 0)
        try "7801\tstream\ttcp\tnowait\t\(me)\t\(handler)\tswinetd\n".write(toFile: dir + "/inetd.conf", atomically: false, encoding: .utf8)
        let r = try runToEnd([swinetdBinary, "import", "inetd", dir + "/inetd.conf", "-o", shared + "/out/services.yaml"])
        #expect(r.status == 2, "\(r.output)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: victim).isEmpty, "written into root's folder through another user's link")
    }

    /// A file another user planted at -o's name in a shared folder is not
    /// theirs to get back: replacing it kept its owner and mode, so root's
    /// table became theirs to change (0666, uid 65534).
    @Test(.enabled(if: geteuid() == 0, "needs root: the planted file is another user's"))
    func outputNeverHandsTheTableToWhoeverPlantedTheFile() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let shared = dir + "/tmp"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
        #expect(chmod(shared, 0o1777) == 0)
        try "planted\n".write(toFile: shared + "/out.yaml", atomically: false, encoding: .utf8)
        #expect(chown(shared + "/out.yaml", 65534, 65534) == 0 && chmod(shared + "/out.yaml", 0o666) == 0)
        try "7801\tstream\ttcp\tnowait\t\(me)\t\(handler)\tswinetd\n".write(toFile: dir + "/inetd.conf", atomically: false, encoding: .utf8)
        let r = try runToEnd([swinetdBinary, "import", "inetd", dir + "/inetd.conf", "-o", shared + "/out.yaml"])
        #expect(r.status == 2 && r.output.contains("belongs to uid 65534"), "\(r.output)")
        #expect(try readFile(shared + "/out.yaml") == "planted\n")
        // Root's own file that others may write is replaced, but not left writable by them.
        #expect(chown(shared + "/out.yaml", 0, 0) == 0)
        let w = try runToEnd([swinetdBinary, "import", "inetd", dir + "/inetd.conf", "-o", shared + "/out.yaml"])
        #expect(w.status == 0, "\(w.output)")
        var st = stat()
        #expect(lstat(shared + "/out.yaml", &st) == 0 && st.st_uid == 0 && st.st_mode & 0o777 == 0o644, "mode \(String(st.st_mode & 0o777, radix: 8))")
    }

    /// A file's name in the report was printed raw: a newline in it forged
    /// a line of the report, an ESC drove the terminal.
    @Test func fileNamesInTheReportAreEscaped() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/xinetd.d", withIntermediateDirectories: false)
        try (xinetdService("good", port: 7801) + "bogus\n").write(toFile: dir + "/xinetd.d/a\nforged: approximated: nothing\u{1b}[2J", atomically: false, encoding: .utf8)
        let r = try importing(["xinetd", dir + "/xinetd.d"])
        #expect(r.status == 1, "\(r.report)")
        #expect(r.report.allSatisfy { $0.hasPrefix(dir + "/xinetd.d/") }, "\(r.report)")
        #expect(!r.report.joined().unicodeScalars.contains { $0.value == 0x1b }, "\(r.report)")
        #expect(r.report.contains("\(dir)/xinetd.d/a\\nforged: approximated: nothing\\u001b[2J:12: left out: 'bogus' is not service NAME, defaults, include or includedir"), "\(r.report)")
        #expect(r.checkOutput.contains("ok: 1 service,"), "\(r.checkOutput)")
    }

    /// 20,000 entries: every one is in the table (tcp and tcp6 twins
    /// merged, the udp entries named apart). The time is not asserted; the
    /// work was quadratic (a 40 MB inetd.conf took over 120 s).
    @Test func aLargeInetdConfComesWhole() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var text = ""
        for p in 20000..<28000 {
            text += "\(p)\tstream\ttcp\tnowait\t\(me)\t\(handler)\tswinetd\n\(p)\tstream\ttcp6\tnowait\t\(me)\t\(handler)\tswinetd\n"
        }
        for p in 20000..<24000 { text += "\(p)\tdgram\tudp\twait\t\(me)\t\(handler)\tswinetd\n" }
        try text.write(toFile: dir + "/inetd.conf", atomically: false, encoding: .utf8)
        let r = try importing(["inetd", dir + "/inetd.conf"])
        #expect(r.status == 0, "\(r.report.prefix(5))")
        #expect(r.checkStatus == 0 && r.checkOutput.contains("ok: 12000 services"), "\(r.checkOutput.prefix(500))")
        #expect(r.table.components(separatedBy: "\n    listen: ").count - 1 == 12000)
        #expect(r.table.contains("  \"27999\":\n    listen: \"27999\"\n"))
        #expect(r.table.contains("  23999-udp:\n    listen: \"0.0.0.0:23999\"\n    protocol: udp\n"), "\(r.table.suffix(400))")
    }
}
