import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `make install`, `make uninstall` and `make deb` into scratch roots, and
/// the installed binary run from there.
@Suite(.timeLimit(.minutes(3))) struct PackagingTests {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    func make(_ args: [String]) throws -> (status: Int32, output: String) {
        try runToEnd(["/usr/bin/make", "--no-print-directory", "-C", repo] + args + ["BINARY=\(swinetdBinary)"], timeout: 120)
    }

    @Test func installPutsEverythingInPlaceAndKeepsAnEditedTable() throws {
        let root = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let r = try make(["install", "DESTDIR=\(root)", "PREFIX=/opt/sw"])
        #expect(r.status == 0, "\(r.output)")
        let files = ["/opt/sw/sbin/swinetd", "/opt/sw/share/man/man8/swinetd.8", "/opt/sw/share/man/man5/swinetd.yaml.5",
                     "/opt/sw/lib/systemd/system/swinetd.service", "/opt/sw/lib/systemd/system/swinetd.socket",
                     "/opt/sw/share/bash-completion/completions/swinetd", "/opt/sw/share/zsh/site-functions/_swinetd",
                     "/opt/sw/share/fish/vendor_completions.d/swinetd.fish", "/etc/swinetd/services.yaml"]
        for f in files { #expect(FileManager.default.fileExists(atPath: root + f), "\(f) missing") }
        #expect(try readFile(root + "/opt/sw/lib/systemd/system/swinetd.service").contains("ExecStart=/opt/sw/sbin/swinetd -f /etc/swinetd/services.yaml"))
        #expect(try readFile(root + "/opt/sw/share/bash-completion/completions/swinetd").contains("upgrade"))
        // The installed binary is stripped and works.
        let file = try runToEnd(["/usr/bin/readelf", "-S", root + "/opt/sw/sbin/swinetd"])
        #expect(!file.output.contains(".symtab"), "not stripped")
        let check = try runToEnd([root + "/opt/sw/sbin/swinetd", "check", "-f", root + "/etc/swinetd/services.yaml"])
        #expect(check.status == 0, "\(check.output)")
        // The installed example's socket goes to the runtime folder, not beside the table in /etc.
        let installed = try readFile(root + "/etc/swinetd/services.yaml")
        #expect(installed.contains("listen: /run/swinetd/hello.sock\n") && !installed.contains("./hello.sock"), "\(installed)")

        // A second install leaves the edited table alone; uninstall leaves only it.
        try "# mine\n".write(toFile: root + "/etc/swinetd/services.yaml", atomically: true, encoding: .utf8)
        #expect(try make(["install", "DESTDIR=\(root)", "PREFIX=/opt/sw"]).status == 0)
        #expect(try readFile(root + "/etc/swinetd/services.yaml") == "# mine\n")
        let u = try make(["uninstall", "DESTDIR=\(root)", "PREFIX=/opt/sw"])
        #expect(u.status == 0, "\(u.output)")
        for f in files.dropLast() { #expect(!FileManager.default.fileExists(atPath: root + f), "\(f) left behind") }
        #expect(FileManager.default.fileExists(atPath: root + "/etc/swinetd/services.yaml"))
    }

    @Test func theDebianPackageInstallsRunsAndRemovesCleanly() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A debug build links the Swift runtime from the toolchain, which no
        // package holds: allowed here, refused otherwise.
        let refused = try make(["deb", "DEBDIR=\(dir)"])
        #expect(refused.status != 0 && refused.output.contains("no Debian package holds"), "\(refused.output)")
        let r = try make(["deb", "DEBDIR=\(dir)", "ALLOW_UNPACKAGED=1"])
        #expect(r.status == 0, "\(r.output)")
        let deb = try #require(r.output.split(separator: "\n").last.map(String.init))
        let fields = try runToEnd(["/usr/bin/dpkg-deb", "-f", deb, "Package", "Version", "Depends"])
        #expect(fields.output.contains("Package: swinetd"), "\(fields.output)")
        #expect(fields.output.contains("libyaml-0-2") && fields.output.contains("libc6"), "\(fields.output)")
        let conffiles = try runToEnd(["/bin/sh", "-c", "dpkg-deb --ctrl-tarfile \"$0\" | tar -xO ./conffiles", deb])
        #expect(conffiles.output == "/etc/swinetd/services.yaml\n", "\(conffiles.output)")

        // Into a scratch root with its own dpkg database.
        let root = dir + "/root-installed"
        for d in ["/var/lib/dpkg/info", "/var/lib/dpkg/updates", "/var/lib/dpkg/triggers"] {
            try FileManager.default.createDirectory(atPath: root + d, withIntermediateDirectories: true)
        }
        #expect(FileManager.default.createFile(atPath: root + "/var/lib/dpkg/status", contents: nil))
        // dpkg wants ldconfig and start-stop-daemon on PATH, which the test runner's may lack.
        let dpkg = ["/usr/bin/env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "/usr/bin/dpkg", "--root=\(root)", "--force-depends", "--force-script-chrootless", "--force-not-root", "--log=/dev/null"]
        let installed = try runToEnd(dpkg + ["-i", deb], timeout: 60)
        #expect(installed.status == 0, "\(installed.output)")
        let check = try runToEnd([root + "/usr/sbin/swinetd", "check", "-f", root + "/etc/swinetd/services.yaml"])
        #expect(check.status == 0, "\(check.output)")
        #expect(try runToEnd([root + "/usr/sbin/swinetd", "--version"]).output.hasPrefix(fields.output.split(separator: "\n")[1].dropFirst("Version: ".count)))
        // Removed: the program goes, the conffile stays; purged: it goes too.
        #expect(try runToEnd(dpkg + ["-r", "swinetd"], timeout: 60).status == 0)
        #expect(!FileManager.default.fileExists(atPath: root + "/usr/sbin/swinetd"))
        #expect(!FileManager.default.fileExists(atPath: root + "/usr/share/man/man8/swinetd.8"))
        #expect(FileManager.default.fileExists(atPath: root + "/etc/swinetd/services.yaml"))
        #expect(try runToEnd(dpkg + ["--purge", "swinetd"], timeout: 60).status == 0)
        #expect(!FileManager.default.fileExists(atPath: root + "/etc/swinetd/services.yaml"))
    }

    @Test func theUnitsVerify() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else {
            print("skipped: no systemd-analyze on this machine")
            return
        }
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let version = try runToEnd(["/usr/bin/systemd-analyze", "--version"]).output
        let major = Int(version.split(separator: " ").dropFirst().first ?? "") ?? 0
        var service = try readFile(repo + "/contrib/swinetd.service").replacingOccurrences(of: "/usr/sbin/swinetd", with: swinetdBinary)
        if major < 253 {
            // This systemd predates Type=notify-reload: verify the variant the unit offers for it.
            service = service.replacingOccurrences(of: "\nType=notify-reload\n", with: "\n")
                .replacingOccurrences(of: "#Type=notify\n#ExecReload=", with: "Type=notify\nExecReload=")
        }
        try service.write(toFile: dir + "/swinetd.service", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: repo + "/contrib/swinetd.socket", toPath: dir + "/swinetd.socket")
        let r = try runToEnd(["/usr/bin/systemd-analyze", "verify", "--man=no", dir + "/swinetd.service", dir + "/swinetd.socket"])
        #expect(r.status == 0 && r.output.isEmpty, "\(r.output)")
    }
}
