import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `swinetd check --security` and `status --json`'s `security`: what each
/// service's handlers are kept from, and the exposure score.
extension IsolationTests {
    static func exposureTable(_ p: [UInt16]) -> String {
        """
        defaults:
          exec: /bin/cat
          user: nobody
        services:
          boxed: {listen: "127.0.0.1:\(p[0])", sandbox: strict}
          open: {listen: "127.0.0.1:\(p[1])"}
          some: {listen: "127.0.0.1:\(p[2])", protect_system: full, system_calls: {deny: ["@mount"]}}

        """
    }

    /// The score adds the weights of what is on: nobody under `sandbox:
    /// strict` leaves only private_network and root_directory off (1.0);
    /// nobody with nothing else has only its user and no capabilities
    /// (7.5); weaker settings earn part of theirs.
    @Test func checkSecurityScoresEachService() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let table = dir + "/services.yaml"
        try Self.exposureTable([7001, 7002, 7003]).write(toFile: table, atomically: false, encoding: .utf8)
        let all = try runToEnd([swinetdBinary, "check", "--config", table, "--security"])
        #expect(all.status == 0, "\(all.output)")
        let lines = all.output.split(separator: "\n").map(String.init)
        #expect(lines.contains("boxed: exposure 1.0 (0: every protection on, 10: none)"), "\(all.output)")
        #expect(lines.contains("open: exposure 7.5 (0: every protection on, 10: none)"), "\(all.output)")
        // full: 1.0 of protect_system's 1.5; a deny list that leaves most
        // dangerous groups: a quarter of 1.5; no_new_privileges implied (1).
        #expect(lines.contains("some: exposure 5.1 (0: every protection on, 10: none)"), "\(all.output)")
        #expect(lines.contains { $0.hasPrefix("  on   protect_home ") } && lines.contains { $0.hasPrefix("  part protect_system ") }, "\(all.output)")
        let one = try runToEnd([swinetdBinary, "check", "--config", table, "--security", "open"])
        #expect(one.output.hasPrefix("open: exposure 7.5") && !one.output.contains("boxed"), "\(one.output)")
        let unknown = try runToEnd([swinetdBinary, "check", "--config", table, "--security", "nope"])
        #expect(unknown.status == 1 && unknown.output.contains("no service 'nope'"), "\(unknown.output)")
    }

    /// `status --json` carries the same score and protections.
    @Test(.enabled(if: geteuid() == 0, "needs root: the strict preset's mount namespace"))
    func statusJSONCarriesTheExposure() throws {
        let (d, ports) = try startDaemon({ Self.exposureTable($0) }, ports: 3)
        let json = try runToEnd([swinetdBinary, "status", "--json", "-c", d.controlPath])
        let root = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
        let services = root?["services"] as? [[String: Any]] ?? []
        func security(_ name: String) -> [String: Any]? {
            services.first { $0["name"] as? String == name }?["security"] as? [String: Any]
        }
        #expect(security("boxed")?["exposure"] as? Double == 1.0, "\(json.output)")
        #expect(security("open")?["exposure"] as? Double == 7.5)
        let protections = security("boxed")?["protections"] as? [String: [String: Any]]
        #expect(protections?["private_tmp"]?["on"] as? Bool == true && protections?["private_network"]?["on"] as? Bool == false, "\(json.output)")
        // A reload that sandboxes `open` changes its figures (they are kept
        // per service between requests, and made again when it changes).
        try d.rewrite(Self.exposureTable(ports).replacingOccurrences(of: "open: {listen: \"127.0.0.1:\(ports[1])\"}",
                                                                     with: "open: {listen: \"127.0.0.1:\(ports[1])\", sandbox: strict}"))
        d.signal(SIGHUP)
        try d.waitForLog("reload: applied")
        let after = try runToEnd([swinetdBinary, "status", "--json", "-c", d.controlPath])
        let reloaded = (try JSONSerialization.jsonObject(with: Data(after.output.utf8)) as? [String: Any])?["services"] as? [[String: Any]] ?? []
        let open = reloaded.first { $0["name"] as? String == "open" }?["security"] as? [String: Any]
        #expect(open?["exposure"] as? Double == 1.0, "\(after.output)")
    }
}
