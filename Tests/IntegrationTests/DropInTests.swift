import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `include:` drop-in files: a package adds a service by adding a file, and
/// every mistake is reported in the file where it is.
@Suite(.timeLimit(.minutes(2))) struct DropInTests {
    @Test func aDroppedInFileIsServedAfterAReloadAndCheckNamesItsFile() throws {
        let (d, p) = try startDaemon({ p in
            "include: [services.d/*.yaml]\nservices:\n  echo: {listen: \"127.0.0.1:\(p[0])\", exec: /bin/cat}\n"
        }, ports: 2)
        #expect(mkdir(d.dir + "/services.d", 0o755) == 0)
        // Not yet there: the port is closed.
        #expect(throws: (any Error).self) { try exchange(p[1], "x\n", timeout: 2) }
        try "services:\n  upper:\n    listen: \"127.0.0.1:\(p[1])\"\n    exec: /usr/bin/tr\n    args: [a-z, A-Z]\n"
            .write(toFile: d.dir + "/services.d/upper.yaml", atomically: true, encoding: .utf8)
        let reload = try runToEnd([swinetdBinary, "reload", "-c", d.controlPath])
        #expect(reload.status == 0, "\(reload.output)")
        #expect(try exchange(p[1], "hi\n") == "HI\n")
        #expect(try exchange(p[0], "up\n") == "up\n")

        let check = try runToEnd([swinetdBinary, "check", "-f", d.tablePath])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("echo  (from \(d.tablePath):3)"), "\(check.output)")
        #expect(check.output.contains("upper  (from \(d.dir)/services.d/upper.yaml:2)"), "\(check.output)")

        // A broken drop-in: the reload is rejected with the file's own line
        // and column, and the old table goes on serving.
        try "services:\n  upper2:\n    listen: \"127.0.0.1:\(p[1])\"\n    exec: /usr/bin/tr\n    bogus: 1\n"
            .write(toFile: d.dir + "/services.d/zz.yaml", atomically: true, encoding: .utf8)
        let rejected = try runToEnd([swinetdBinary, "reload", "-c", d.controlPath])
        #expect(rejected.status == 1)
        #expect(rejected.output.contains("\(d.dir)/services.d/zz.yaml:5:5: error: unknown key 'bogus' in service 'upper2'"), "\(rejected.output)")
        #expect(rejected.output.contains("\(d.dir)/services.d/zz.yaml:3:13: error: address 127.0.0.1:\(p[1]) is already used by service 'upper'"), "\(rejected.output)")
        #expect(try exchange(p[1], "still\n") == "STILL\n")

        // Removing the file and reloading removes its service (the glob is expanded again).
        unlink(d.dir + "/services.d/zz.yaml")
        unlink(d.dir + "/services.d/upper.yaml")
        #expect(try runToEnd([swinetdBinary, "reload", "-c", d.controlPath]).status == 0)
        #expect(throws: (any Error).self) { try exchange(p[1], "x\n", timeout: 2) }
    }

    @Test func aNameDefinedInTwoFilesNamesBothPlaces() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        mkdir(dir + "/d", 0o755)
        try "include: d/*.yaml\nservices:\n  echo: {listen: \"127.0.0.1:1\", exec: /bin/cat}\n"
            .write(toFile: dir + "/services.yaml", atomically: true, encoding: .utf8)
        try "services:\n\n  echo: {listen: \"127.0.0.1:2\", exec: /bin/cat}\n  swinetd: {listen: \"127.0.0.1:3\", exec: /bin/cat}\n"
            .write(toFile: dir + "/d/b.yaml", atomically: true, encoding: .utf8)
        try "defaults: {user: nobody}\n".write(toFile: dir + "/d/c.yaml", atomically: true, encoding: .utf8)
        let r = try runToEnd([swinetdBinary, "check", "-f", dir + "/services.yaml"])
        #expect(r.status == 1)
        let lines = r.output.split(separator: "\n").map(String.init)
        #expect(lines == [
            "\(dir)/d/b.yaml:3:3: error: duplicate service name 'echo': already defined at \(dir)/services.yaml:3:3",
            "\(dir)/d/b.yaml:4:3: error: service name 'swinetd' is reserved: swinetd's own log lines use it",
            "\(dir)/d/c.yaml:1:1: error: unknown key 'defaults' in an included file (it holds only 'services')",
            "\(dir)/d/c.yaml:1:1: error: the included file has no 'services' map",
        ], "\(r.output)")
    }

    @Test func aMissingNamedFileIsAnErrorAndAnEmptyGlobIsNot() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "include: [none.d/*.yaml]\nservices:\n  echo: {listen: \"127.0.0.1:1\", exec: /bin/cat}\n"
            .write(toFile: dir + "/a.yaml", atomically: true, encoding: .utf8)
        #expect(try runToEnd([swinetdBinary, "check", "-f", dir + "/a.yaml"]).status == 0)
        try "include: [none.d/*.yaml, /nonexistent/x.yaml]\n".write(toFile: dir + "/b.yaml", atomically: true, encoding: .utf8)
        let r = try runToEnd([swinetdBinary, "check", "-f", dir + "/b.yaml"])
        #expect(r.status == 1)
        #expect(r.output == "\(dir)/b.yaml:1:26: error: cannot read the included file /nonexistent/x.yaml: No such file or directory\n", "\(r.output)")
    }
}
