import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Every line has a level and a time where its reader needs them: an
/// RFC 3339 time on a file, `<N>` under journald, the syslog priority, and
/// both as fields in JSON.
@Suite(.timeLimit(.minutes(2))) struct LogLevelTests {
    let stamp = #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "#

    func table(_ p: [UInt16]) -> String {
        "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n  slow: {listen: \"127.0.0.1:\(p[1])\", exec: /bin/sleep, args: [\"30\"], timeout: 1}\n"
    }

    @Test func aFileGetsUTCTimesAndAPipeDoesNot() throws {
        let (d, p) = try startDaemon({ p in "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n" })
        #expect(try exchange(p[0], "hi\n") == "hi\n")
        try d.waitForLog("echo: exited")
        let lines = d.rawLog.split(separator: "\n").map(String.init)
        #expect(lines.count >= 4)
        for line in lines { #expect(line.range(of: stamp + #"\S+: "#, options: .regularExpression) != nil, "\(line)") }
        // The time is now, in UTC.
        let first = try #require(lines.first)
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let when = try #require(f.date(from: String(first.prefix(24))))
        #expect(abs(when.timeIntervalSinceNow) < 60, "\(first)")

        let (piped, q) = try startDaemon(logToPipe: true, { p in "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n" })
        #expect(try exchange(q[0], "hi\n") == "hi\n")
        try piped.waitForLog("echo: exited")
        #expect(piped.rawLog.contains("\necho: listening address=127.0.0.1:\(q[0])\n"), "\(piped.rawLog)")
        #expect(piped.rawLog.range(of: #"\d{4}-\d\d-\d\dT"#, options: .regularExpression) == nil, "\(piped.rawLog)")

        let (never, _) = try startDaemon(args: ["--log-timestamps", "never"], { p in "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n" })
        #expect(never.rawLog.hasPrefix("swinetd: control socket="), "\(never.rawLog)")
        #expect(never.rawLog.range(of: #"\d{4}-\d\d-\d\dT"#, options: .regularExpression) == nil, "\(never.rawLog)")
    }

    @Test func underJournaldEachLineCarriesItsPriorityAndNoTime() throws {
        // JOURNAL_STREAM names the log file, as systemd names its stream socket.
        let launcher = ["/bin/sh", "-c", #"JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) exec "$@""#, "sh"]
        let (d, p) = try startDaemon(launcher: launcher, table, ports: 2)
        #expect(try exchange(p[0], "hi\n") == "hi\n")
        _ = try? exchange(p[1], "", timeout: 5)
        try d.waitForLog("slow: timeout")
        try d.waitForLog("echo: exited")
        let lines = d.rawLog.split(separator: "\n").map(String.init)
        #expect(lines.contains("<5>echo: listening address=127.0.0.1:\(p[0])"), "\(d.rawLog)")
        #expect(lines.contains { $0.hasPrefix("<5>swinetd: started pid=") }, "\(d.rawLog)")
        #expect(lines.contains { $0.hasPrefix("<6>echo: accepted pid=") }, "\(d.rawLog)")
        #expect(lines.contains { $0.hasPrefix("<4>slow: timeout pid=") }, "\(d.rawLog)")
        for line in lines { #expect(line.range(of: #"^<[3-6]>\S+: "#, options: .regularExpression) != nil, "\(line)") }
        // A JOURNAL_STREAM that names another file changes nothing.
        let other = ["/bin/sh", "-c", #"JOURNAL_STREAM=1:2 exec "$@""#, "sh"]
        let (e, _) = try startDaemon(launcher: other, { p in "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n" })
        #expect(e.rawLog.range(of: "(?m)" + stamp + "echo: listening", options: .regularExpression) != nil, "\(e.rawLog)")
    }

    @Test func jsonLinesHaveTimeLevelAndDurationsInSeconds() throws {
        let (d, p) = try startDaemon(args: ["--log-format", "json"], table, ports: 2)
        #expect(try exchange(p[0], "hi\n") == "hi\n")
        try d.waitForLog(#""event":"exited""#)
        var levels: [String: String] = [:]
        for line in d.rawLog.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            let time = try #require(object["time"] as? String)
            #expect(time.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil)
            levels[object["event"] as! String] = object["level"] as? String
            if object["event"] as? String == "exited" {
                let duration = try #require(object["duration"] as? Double, "\(line)")
                #expect(duration >= 0 && duration < 10)
            }
        }
        #expect(levels["listening"] == "notice" && levels["started"] == "notice" && levels["accepted"] == "info" && levels["exited"] == "info", "\(levels)")
    }

    @Test func syslogGetsTheMatchingPriority() throws {
        let logDir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: logDir) }
        let sink = try SyslogCollector(path: logDir + "/log")
        let port = freePort()
        let d = try Daemon(table: "services:\n  echo: {listen: \"127.0.0.1:\(port)\", exec: /bin/cat}\n", args: ["--syslog-socket", sink.path],
                           launcher: ["/bin/sh", "-c", "exec 2>&-; exec \"$@\"", "sh"], waitForStart: false)
        try waitUntil(10, "started in syslog") { sink.drain().contains { $0.contains("swinetd: started") } || !d.isRunning }
        #expect(try exchange(port, "hi\n") == "hi\n")
        try waitUntil(5, "the exit in syslog") { sink.drain().contains { $0.contains("echo: exited") } }
        let lines = sink.drain()
        #expect(lines.contains { $0.hasPrefix("<29>") && $0.contains("swinetd: started") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("<30>") && $0.contains("echo: accepted") }, "\(lines)")
        #expect(!lines.contains { $0.range(of: #"\d{4}-\d\d-\d\dT"#, options: .regularExpression) != nil }, "\(lines)")
    }

    @Test func versionAndTopLevelHelp() throws {
        let v = try runToEnd([swinetdBinary, "--version"])
        #expect(v.status == 0)
        #expect(v.output.range(of: #"^\d+\.\d+\.\d+\n$"#, options: .regularExpression) != nil, "\(v.output)")
        let h = try runToEnd([swinetdBinary, "--help"])
        #expect(h.status == 0)
        for flag in ["-f, --config", "--daemon", "--pid-file", "--log-format", "--log-timestamps", "--grace", "-c, --control", "upgrade"] {
            #expect(h.output.contains(flag), "\(flag) missing from --help:\n\(h.output)")
        }
    }
}
