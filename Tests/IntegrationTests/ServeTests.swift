import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A handler that reports what it was given: its descriptors, signal state,
/// identity, directory and environment. Descriptors and status are read with
/// shell builtins only: dash blocks every signal and holds pipe ends around
/// each fork, so a child looking at /proc/$$ could catch the shell mid-fork.
let probeScript = #"printf 'fds '; for i in \#((0..<1024).map(String.init).joined(separator: " ")); do [ -e /proc/$$/fd/$i ] && printf '%s ' $i; done; echo; while IFS= read -r line; do case "$line" in SigBlk:*|SigIgn:*|Uid:*|Gid:*|Groups:*) printf '%s\n' "$line";; esac; done < /proc/$$/status; echo "cwd $(pwd)"; tr '\0' '\n' < /proc/$$/environ | sed 's/^/env /'"#

@Suite(.timeLimit(.minutes(2))) struct ServeTests {
    @Test func echoAnswersOnIPv4AndIPv6() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              echo:
                listen: [127.0.0.1:\(p[0]), "[::1]:\(p[0])"]
                exec: /bin/cat
            """ })
        #expect(try exchange(ports[0], "hello\n") == "hello\n")
        #expect(try exchange(ports[0], "over six\n", host: "::1") == "over six\n")
        try d.waitForLog("echo: exited", count: 2)
        #expect(d.log.contains("echo: accepted pid="))
        #expect(d.log.range(of: #"echo: exited pid=\d+ peer=\[::1\]:\d+ status=0 duration=\d+\.\d{3}s"#, options: .regularExpression) != nil)
        // One thread runs the loop; the only other is the spawn watchdog
        // (started at the first spawn: see cspawn.h), which only sleeps.
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(d.pid)/task")
        let names = tasks.compactMap { readText("/proc/\(d.pid)/task/\($0)/comm")?.trimmingCharacters(in: .whitespacesAndNewlines) }.sorted()
        // (ThreadSanitizer's runtime adds a background thread of its own.)
        let expected = ["spawn-watchdog", "swinetd"] + (underThreadSanitizer ? ["swinetd"] : [])
        #expect(names == expected, "the master's threads: the loop's and the spawn watchdog, no other: \(names)")
    }

    @Test func handlerGetsOnlyWhatTheTableGives() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              probe:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", \(jsonQuote(probeScript))]
                env: {FOO: bar}
                stderr: null
            """ })
        let out = try exchange(ports[0])
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.contains("fds 0 1 2 "), "\(out)")
        #expect(lines.contains("SigBlk:\t0000000000000000"), "\(out)")
        #expect(lines.contains("SigIgn:\t0000000000000000"), "\(out)")
        #expect(lines.contains("cwd /"), "\(out)")
        let env = Set(lines.filter { $0.hasPrefix("env ") }.map { String($0.dropFirst(4)) })
        let remotePort = env.first { $0.hasPrefix("TCPREMOTEPORT=") } ?? ""
        #expect(env == [
            "FOO=bar", "PATH=/usr/local/bin:/usr/bin:/bin", "PROTO=TCP", "SWINETD_SERVICE=probe",
            "TCPREMOTEIP=127.0.0.1", remotePort, "TCPLOCALIP=127.0.0.1", "TCPLOCALPORT=\(ports[0])",
        ], "\(out)")
        #expect(Int(remotePort.dropFirst("TCPREMOTEPORT=".count)) != nil)
        _ = d
    }

    @Test(.enabled(if: geteuid() == 0, "needs root: dropping privileges to nobody"))
    func handlerRunsAsTheTablesUser() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let (d, ports) = try startDaemon({ p in """
            services:
              probe:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", \(jsonQuote(probeScript))]
                user: nobody
                cwd: \(dir)
            """ })
        let out = try exchange(ports[0])
        let nobody = getpwnam("nobody")!.pointee
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.contains("Uid:\t\(nobody.pw_uid)\t\(nobody.pw_uid)\t\(nobody.pw_uid)\t\(nobody.pw_uid)"), "\(out)")
        #expect(lines.contains("Gid:\t\(nobody.pw_gid)\t\(nobody.pw_gid)\t\(nobody.pw_gid)\t\(nobody.pw_gid)"), "\(out)")
        #expect(lines.contains { $0.hasPrefix("Groups:") && !$0.contains("\t0 ") && !$0.hasSuffix(" 0") }, "\(out)")
        #expect(lines.contains("cwd \(dir)"), "\(out)")
        try d.waitForLog("probe: exited")
    }

    @Test func fiveHundredConnectionsFromFiftyClients() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              echo:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/cat
                max_connections: 64
            """ })
        let idleFDs = openDescriptors(of: d.pid)
        let failures = Failures()
        concurrently(50) { client in
            for i in 0..<10 {
                let text = "client \(client) round \(i)\n"
                do {
                    let got = try exchange(ports[0], text)
                    if got != text { failures.add("client \(client) round \(i): got \(got.debugDescription)") }
                } catch {
                    failures.add("client \(client) round \(i): \(error)")
                }
            }
        }
        #expect(failures.list.isEmpty, "\(failures.list.prefix(5))")
        try d.waitForLog("echo: exited", count: 500, timeout: 30)
        try waitUntil(10, "no zombies and idle descriptors") {
            zombies(of: d.pid).isEmpty && openDescriptors(of: d.pid) == idleFDs
        }
        #expect(!d.log.contains("refused"))
    }

    @Test func aServiceAtItsLimitQueuesInsteadOfRefusing() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              slow:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "sleep 0.4; echo served"]
                max_connections: 2
              other:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/echo
                args: [fast]
            """ }, ports: 2)
        let failures = Failures()
        let replies = Failures()
        let group = DispatchGroup()
        for _ in 0..<6 {
            DispatchQueue.global().async(group: group) {
                do { replies.add(try exchange(ports[0])) } catch { failures.add("\(error)") }
            }
        }
        // While slow is full, another service still answers at once.
        usleep(100_000)
        let started = Date()
        #expect(try exchange(ports[1]) == "fast\n")
        #expect(Date().timeIntervalSince(started) < 0.35, "a full service must not hold up another")
        group.wait()
        #expect(failures.list.isEmpty, "\(failures.list)")
        #expect(replies.list == Array(repeating: "served\n", count: 6))
        try d.waitForLog("slow: exited", count: 6)
        #expect(maxConcurrent(d.logLines, service: "slow") == 2)
        #expect(!d.log.contains("refused"))
    }

    @Test func maxChildrenCapsAllServicesTogether() throws {
        let (d, ports) = try startDaemon({ p in """
            max_children: 1
            services:
              a:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "sleep 0.3; echo a"]
              b:
                listen: 127.0.0.1:\(p[1])
                exec: /bin/sh
                args: ["-c", "sleep 0.3; echo b"]
            """ }, ports: 2)
        let replies = Failures()
        concurrently(4) { i in
            replies.add((try? exchange(ports[i % 2])) ?? "failed")
        }
        #expect(replies.list.sorted() == ["a\n", "a\n", "b\n", "b\n"])
        try d.waitForLog(": exited", count: 4)
        #expect(maxConcurrent(d.logLines, service: nil) == 1)
    }

    @Test func execFailureIsLoggedWithTheErrno() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let handler = dir + "/handler"
        try "#!/nonexistent/interpreter\n".write(toFile: handler, atomically: true, encoding: .utf8)
        chmod(handler, 0o755)
        let (d, ports) = try startDaemon({ p in """
            services:
              broken:
                listen: 127.0.0.1:\(p[0])
                exec: \(handler)
            """ })
        #expect(try exchange(ports[0]) == "")
        try d.waitForLog("broken: exited")
        #expect(d.log.range(of: #"broken: exec-failed pid=\d+ path=\#(handler) step=execve error="No such file or directory""#, options: .regularExpression) != nil, "\(d.log)")
        #expect(d.log.contains("status=127"))
    }

    @Test func handlerStderrIsLoggedUnderItsServiceAndPid() throws {
        let (d, ports) = try startDaemon({ p in """
            services:
              talker:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "echo to-client; echo 'first problem' >&2; printf 'second\\n' >&2"]
            """ })
        #expect(try exchange(ports[0]) == "to-client\n")
        try d.waitForLog("line=second")
        let pid = try #require(d.handlerPids.first)
        #expect(d.log.contains("talker: stderr pid=\(pid) line=\"first problem\""), "\(d.log)")
    }

    /// The master's end of a stderr pipe is non-blocking; the handler's end
    /// must not be (a handler would get EAGAIN writing to its stderr).
    @Test func everyStandardDescriptorOfAHandlerIsBlocking() throws {
        let script = #"for fd in 0 1 2; do while read -r k v; do [ "$k" = flags: ] && echo "$fd $v"; done < /proc/$$/fdinfo/$fd; done"#
        let (d, ports) = try startDaemon({ p in """
            services:
              flags:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", \(jsonQuote(script))]
            """ })
        let lines = try exchange(ports[0]).split(separator: "\n")
        #expect(lines.count == 3, "\(lines)")
        for line in lines {
            let flags = Int(line.split(separator: " ").last ?? "", radix: 8) ?? -1
            #expect(flags >= 0 && flags & Int(O_NONBLOCK) == 0, "descriptor \(line) is non-blocking")
        }
        _ = d
    }

    @Test func aHandlersStderrLineIsCappedAndEscaped() throws {
        // One 60,000-byte line, then a line of C1, bidi and line-separator
        // characters (U+0085, U+009B, U+202E, U+2066, U+2028, U+2029, as
        // octal UTF-8) that would forge log lines if written raw.
        let forge = #"printf 'a\302\205swinetd: stopped\302\233b\342\200\256c\342\201\246d\342\200\250e\342\200\251f\n' >&2"#
        let (d, ports) = try startDaemon({ p in """
            services:
              talker:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", \(jsonQuote("head -c 60000 /dev/zero | tr '\\0' x >&2; echo >&2; " + forge))]
            """ })
        _ = try exchange(ports[0])
        try d.waitForLog("talker: exited")
        try d.waitForLog("line=\"a")
        let pid = try #require(d.handlerPids.first)
        let long = d.logLines.filter { $0.hasPrefix("talker: stderr pid=\(pid) ") && $0.contains("xxxx") }
        #expect(long.count == 1, "\(long.map { $0.prefix(80) })")
        #expect((long.first?.utf8.count ?? 0) < 4200, "\(long.first?.utf8.count ?? 0) bytes")
        #expect(long.first?.contains("truncated=55904") == true, "\(long.first?.prefix(80) ?? "")")
        for scalar: Unicode.Scalar in ["\u{85}", "\u{9B}", "\u{202E}", "\u{2066}", "\u{2028}", "\u{2029}"] {
            #expect(!d.log.unicodeScalars.contains(scalar), "U+\(String(scalar.value, radix: 16)) written raw")
        }
        #expect(d.log.contains(#"line="a\u0085swinetd: stopped\u009bb\u202ec\u2066d\u2028e\u2029f""#), "\(d.log.suffix(300))")
    }

    @Test func startupDiagnosticsFollowTheLogFormat() throws {
        let d = try Daemon(table: "services:\n  echo:\n    listen: 127.0.0.1:1\n    exec: /bin/cat\n    max_conection: 3\n",
                           args: ["--log-format", "json"], waitForStart: false)
        #expect(try d.waitForExit() == 1)
        #expect(!d.logLines.isEmpty)
        for line in d.logLines {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "not JSON: \(line)")
        }
        #expect(d.log.contains("did you mean 'max_connections'?"), "\(d.log)")
    }

    @Test(.enabled(if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit"),
                   "needs root (user: nobody) and prlimit"))
    func aProcessLimitPausesTheServiceInsteadOfDroppingConnections() throws {
        // RLIMIT_NPROC 4 for nobody: the fifth handler's execve fails with
        // EAGAIN. The connection is kept and served once a handler exits.
        let (d, ports) = try startDaemon(launcher: ["/usr/bin/prlimit", "--nproc=4"], { p in """
            services:
              limited:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/sh
                args: ["-c", "echo served; exec sleep 0.3"]
                user: nobody
                stderr: null
            """ })
        let replies = Failures()
        concurrently(20) { _ in replies.add((try? exchange(ports[0], timeout: 20)) ?? "failed") }
        #expect(replies.list == Array(repeating: "served\n", count: 20), "\(d.log.suffix(3000))")
        #expect(d.log.contains("limited: paused reason=nproc"), "\(d.log.suffix(3000))")
        #expect(d.log.contains("limited: resumed"), "\(d.log.suffix(3000))")
    }

    @Test func jsonLogLinesParse() throws {
        let (d, ports) = try startDaemon(args: ["--log-format", "json"], { p in """
            services:
              echo:
                listen: 127.0.0.1:\(p[0])
                exec: /bin/cat
            """ })
        _ = try exchange(ports[0], "x")
        try d.waitForLog(#""event":"exited""#)
        for line in d.logLines {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["service"] is String && object?["event"] is String, "\(line)")
        }
        let exited = d.logLines.first { $0.contains(#""event":"exited""#) }!
        let object = try JSONSerialization.jsonObject(with: Data(exited.utf8)) as! [String: Any]
        #expect(object["pid"] is Int && object["status"] as? Int == 0 && object["peer"] is String)
    }
}

/// Thread-safe collection of strings from concurrent clients.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var list: [String] { lock.lock(); defer { lock.unlock() }; return items }
}

/// The most handlers (of `service`, or of all) running at once, replayed from
/// the log's accepted and exited lines.
func maxConcurrent(_ lines: [String], service: String?) -> Int {
    var running = 0, most = 0
    for line in lines {
        if let service, !line.hasPrefix("\(service): ") { continue }
        if line.contains(": accepted ") { running += 1; most = max(most, running) }
        if line.contains(": exited ") { running -= 1 }
    }
    return most
}

func jsonQuote(_ s: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
    return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
}
