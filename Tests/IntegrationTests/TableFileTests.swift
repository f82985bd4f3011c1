import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Reading a table never hangs or bloats the master, and every mistake in
/// it is reported where it is.
@Suite(.timeLimit(.minutes(2))) struct TableFileTests {
    @Test func aFifoInPlaceOfTheTableIsRefusedOnReload() throws {
        let (d, p) = try startDaemon({ p in "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n" })
        let fifo = d.dir + "/fifo"
        #expect(mkfifo(fifo, 0o644) == 0)
        rename(fifo, d.tablePath)
        d.signal(SIGHUP)
        try d.waitForLog("reload: rejected", timeout: 5)
        #expect(d.log.contains("not a regular file"), "\(d.log)")
        #expect(try exchange(p[0], "up\n", timeout: 5) == "up\n")
        d.signal(SIGTERM)
        #expect(try d.waitForExit(timeout: 10) == 0)
    }

    @Test func checkRefusesAFifoAtOnce() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fifo = dir + "/services.yaml"
        #expect(mkfifo(fifo, 0o644) == 0)
        let (status, text) = try runToEnd([swinetdBinary, "check", "-f", fifo], timeout: 5)
        #expect(status == 1)
        #expect(text.contains("\(fifo): error: cannot read the table: not a regular file"), "\(text)")
    }

    /// Services that share one anchored map: small on disk, huge expanded.
    func aliasedTable(services: Int, entries: Int) -> String {
        var t = "services:\n  s0:\n    listen: 127.0.0.1:1\n    exec: /bin/cat\n    enabled: false\n    env: &e {"
        t += (0..<entries).map { "V\($0): x" }.joined(separator: ", ") + "}\n"
        for i in 1..<services { t += "  s\(i): {listen: \"127.0.0.1:\(i + 1)\", exec: /bin/cat, enabled: false, env: *e}\n" }
        return t
    }

    @Test func aliasExpansionHasABudget() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let table = dir + "/services.yaml"
        try aliasedTable(services: 1000, entries: 1000).write(toFile: table, atomically: true, encoding: .utf8)
        let (status, text) = try runToEnd([swinetdBinary, "check", "-f", table], timeout: 15)
        #expect(status == 1)
        #expect(text.contains("error: the table is too large") && text.contains("alias"), "\(text.prefix(500))")
        #expect(text.split(separator: "\n").count < 5)
    }

    @Test func diagnosticsAreCapped() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let table = dir + "/services.yaml"
        var t = "services:\n  a:\n    listen: 127.0.0.1:1\n    exec: /bin/cat\n"
        for i in 0..<150 { t += "    bogus\(i): 1\n" }
        try t.write(toFile: table, atomically: true, encoding: .utf8)
        let (status, text) = try runToEnd([swinetdBinary, "check", "-f", table])
        #expect(status == 1)
        let lines = text.split(separator: "\n")
        #expect(lines.count == 101, "\(lines.count) lines")
        #expect(lines.filter { $0.contains(": error: unknown key 'bogus") }.count == 100)
        #expect(lines.last == "\(table): error: and 50 more errors", "\(lines.last ?? "")")
    }

    @Test func aHugeAliasedTableNeitherStallsNorBloatsTheMaster() throws {
        let (d, p) = try startDaemon({ p in "services:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n" })
        let small = try readFile(d.tablePath)
        usleep(200_000)
        let idle = rssKB(d.pid)
        // 40 KB on disk, a million strings expanded: over the budget.
        var bomb = "services:\n  s0:\n    listen: 127.0.0.1:1\n    exec: /bin/cat\n    enabled: false\n    args: &a ["
        bomb += Array(repeating: "x", count: 10_000).joined(separator: ", ") + "]\n"
        for i in 1..<100 { bomb += "  s\(i): {listen: \"127.0.0.1:\(i + 1)\", exec: /bin/cat, enabled: false, args: *a}\n" }
        try d.rewrite(bomb + "  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n")
        d.signal(SIGHUP)
        #expect(try exchange(p[0], "during\n", timeout: 5) == "during\n")
        try d.waitForLog("reload: rejected", timeout: 30)
        #expect(d.log.contains("the table is too large"), "\(d.log.suffix(1000))")
        // Within the budget, and a lot of work: 300 services × 300 variables.
        try d.rewrite(aliasedTable(services: 300, entries: 300) + "  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n")
        d.signal(SIGHUP)
        #expect(try exchange(p[0], "during\n", timeout: 5) == "during\n")
        try d.waitForLog("reload: applied", timeout: 30)
        try d.rewrite(small)
        d.signal(SIGHUP)
        try d.waitForLog("reload: applied", count: 2, timeout: 30)
        usleep(200_000)
        // (A sanitizer's allocator holds freed memory back, and adds shadow memory.)
        if !underAddressSanitizer && !underThreadSanitizer {
            #expect(rssKB(d.pid) - idle < 8 * 1024, "RSS went from \(idle) kB to \(rssKB(d.pid)) kB")
        }
        #expect(try exchange(p[0], "after\n") == "after\n")
    }

    /// The golden table, through the real binary's `check`.
    @Test func checkReportsEveryMistakeOfTheGoldenTable() throws {
        let fixtures = String(#filePath.dropLast("IntegrationTests/TableFileTests.swift".count)) + "SwinetdCoreTests/Fixtures/"
        // A copy in a folder of the test's own: as root, check refuses a table
        // others can change, and the checkout may be group-writable.
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(FileManager.default.createFile(atPath: dir + "/mistakes.yaml", contents: Data(try readFile(fixtures + "mistakes.yaml").utf8),
                                               attributes: [.posixPermissions: 0o644]))
        let (status, text) = try runToEnd([swinetdBinary, "check", "-f", dir + "/mistakes.yaml"])
        #expect(status == 1)
        let expected = try readFile(fixtures + "mistakes.expected")
        #expect(text.replacingOccurrences(of: dir + "/", with: "") == expected, "\(text)")
    }

    @Test func readerErrorsHaveAPosition() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let table = dir + "/t.yaml"
        let bytes = Array("services:\n  echo:\n    exec: /bin/c".utf8) + [0xff] + Array("at\n".utf8)
        #expect(FileManager.default.createFile(atPath: table, contents: Data(bytes)))
        let (status, text) = try runToEnd([swinetdBinary, "check", "-f", table])
        #expect(status == 1)
        #expect(text.hasPrefix("\(table):3:17: error: YAML syntax: invalid"), "\(text)")
        let control = Array("services:\n  echo:\n    exec: /bin/cat\n    args: [\"a\u{7}\"]\n".utf8)
        #expect(FileManager.default.createFile(atPath: table, contents: Data(control)))
        let (status2, text2) = try runToEnd([swinetdBinary, "check", "-f", table])
        #expect(status2 == 1)
        #expect(text2.hasPrefix("\(table):4:14: error: YAML syntax: control characters are not allowed"), "\(text2)")
    }

    @Test(.enabled(if: geteuid() == 0, "the permission checks apply to root"))
    func asRootATableOrHandlerOthersCanWriteIsAnError() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let handler = dir + "/handler"
        try "#!/bin/sh\necho hi\n".write(toFile: handler, atomically: true, encoding: .utf8)
        chmod(handler, 0o757)
        let table = dir + "/services.yaml"
        try "services:\n  a:\n    listen: 127.0.0.1:1\n    exec: \(handler)\n".write(toFile: table, atomically: true, encoding: .utf8)
        chmod(table, 0o666)
        let (status, text) = try runToEnd([swinetdBinary, "check", "-f", table])
        #expect(status == 1)
        // A table others could change is not read at all, so its handler is judged once the table is root's.
        #expect(text.contains("\(table): error: the table \(table) is writable by others (mode 0666)"), "\(text)")
        chmod(table, 0o644)
        let (statusHandler, textHandler) = try runToEnd([swinetdBinary, "check", "-f", table])
        #expect(statusHandler == 1)
        #expect(textHandler.contains("\(table):4:11: error: 'exec' \(handler) is writable by others (mode 0757)"), "\(textHandler)")
        chmod(handler, 0o755)
        chmod(dir, 0o777)
        let (status2, text2) = try runToEnd([swinetdBinary, "check", "-f", table])
        #expect(status2 == 1)
        #expect(text2.contains("error: the table \(table) is in \(dir), which is writable by others (mode 0777)"), "\(text2)")
        chmod(dir, 0o755)
        let (status3, text3) = try runToEnd([swinetdBinary, "check", "-f", table])
        #expect(status3 == 0, "\(text3)")
    }

    @Test(.enabled(if: canUnshareMounts, "needs root and a mount namespace (unshare -m) to give check a group file of its own"))
    func aGroupWithThousandsOfMembersResolves() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        chmod(dir, 0o755)
        let groups = dir + "/group"
        let members = (0..<12_000).map { "member\($0)" }.joined(separator: ",")
        try (readFile("/etc/group") + "swinetdbig:x:4242:\(members)\n")
            .write(toFile: groups, atomically: true, encoding: .utf8)
        chmod(groups, 0o644)
        let table = dir + "/services.yaml"
        try "services:\n  a:\n    listen: 127.0.0.1:1\n    exec: /bin/cat\n    group: swinetdbig\n".write(toFile: table, atomically: true, encoding: .utf8)
        chmod(table, 0o644)
        let (status, text) = try runToEnd(["/usr/bin/unshare", "-m", "/bin/sh", "-c",
                                           "mount --bind \"$0\" /etc/group && exec \"$@\"", groups, swinetdBinary, "check", "-f", table])
        #expect(status == 0, "\(text)")
        #expect(text.contains("gid 4242"), "\(text)")
    }
}
