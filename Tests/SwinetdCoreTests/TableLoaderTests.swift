import Testing
@testable import SwinetdCore

/// Where the fixtures live, found from this file so tests need no bundle.
let fixtures = String(#filePath.dropLast("TableLoaderTests.swift".count)) + "Fixtures/"

func read(_ path: String) -> [UInt8] {
    guard case .success(let bytes) = FileBytes.read(path) else { fatalError("missing fixture \(path)") }
    return bytes
}

/// A checkout file copied, mode 0644, into a fresh 0700 folder of the
/// test's own (removed by `remove`). As root the loader refuses a table in a
/// folder others can change, and the checkout may be group-writable (umask
/// 002) or another user's: the tests must not depend on how it was cloned.
struct PrivateCopy {
    let dir: String
    let path: String

    init(_ source: String, as name: String) {
        var template = Array("/tmp/swinetd-unit-XXXXXX".utf8CString)
        guard let p = mkdtemp(&template) else { fatalError("mkdtemp failed") }
        dir = String(cString: p)
        path = dir + "/" + name
        let bytes = read(source)
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "cannot create \(path)")
        _ = fchmod(fd, 0o644)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        precondition(written == bytes.count)
        close(fd)
    }

    func remove() {
        unlink(path)
        rmdir(dir)
    }
}

func diagnostics(_ yaml: String, file: String = "t.yaml") -> [String] {
    switch TableLoader().load(bytes: Array(yaml.utf8), file: file) {
    case .success: return []
    case .failure(let e): return e.diagnostics.map(\.description)
    }
}

@Suite struct TableLoaderTests {
    @Test func theShippedExampleLoads() throws {
        let copy = PrivateCopy(fixtures + "../../../services.yaml", as: "services.yaml")
        defer { copy.remove() }
        let table = try TableLoader().load(path: copy.path).get()
        #expect(table.services.map(\.name) == ["echo", "daytime", "upcase", "wc", "qotd", "echo-udp", "hello"])
        #expect(table["echo-udp"]?.builtin == .echo && table["echo-udp"]?.wait == true)
        #expect(table["hello"]?.isUnix == true)
        let daytime = try #require(table["daytime"])
        #expect(daytime.addresses.map(\.description) == ["127.0.0.1:7013", "[::1]:7013"])
        #expect(daytime.env.map { "\($0.name)=\($0.value)" } == ["TZ=UTC"])
        #expect(daytime.maxConnections == 16)   // from defaults
        #expect(table["wc"]?.maxConnections == 4) // its own
        #expect(table["qotd"]?.argv.first == "qotd")
        #expect(table["echo"]?.argv == ["cat"])
    }

    /// One diagnostic per mistake, at the right line:column (golden file).
    @Test func everyMistakeIsReportedWhereItIs() {
        let got = diagnostics(String(decoding: read(fixtures + "mistakes.yaml"), as: UTF8.self), file: "mistakes.yaml")
        let expected = String(decoding: read(fixtures + "mistakes.expected"), as: UTF8.self)
            .split(separator: "\n").map(String.init)
        #expect(got == expected)
    }

    @Test func defaultsApplyAndEnvMergesKeyByKey() throws {
        let yaml = """
        defaults:
          max_connections: 3
          env: {A: "1", B: "2"}
          stderr: null
        services:
          s:
            listen: "7100"
            exec: /bin/cat
            env: {B: three, C: "4"}
            max_connections: 5
          t:
            listen: localhost:7101
            exec: /bin/cat
            stderr: "null"
        """
        let table = try TableLoader().load(bytes: Array(yaml.utf8), file: "t.yaml").get()
        let s = try #require(table["s"])
        #expect(s.env.map { "\($0.name)=\($0.value)" } == ["A=1", "B=three", "C=4"])
        #expect(s.maxConnections == 5)
        #expect(s.stderr == .null)
        #expect(s.addresses.map(\.description) == ["0.0.0.0:7100", "[::]:7100"])
        let t = try #require(table["t"])
        #expect(t.maxConnections == 3)
        #expect(t.stderr == .null)
        #expect(t.addresses.map(\.description) == ["127.0.0.1:7101", "[::1]:7101"])
        #expect(t.cwd == "/")
        #expect(t.backlog == Defaults.backlog)
        #expect(table.maxChildren == Defaults.maxChildren)
    }

    @Test func noNewPrivilegesComesFromDefaultsUnlessTheServiceSaysOtherwise() throws {
        let yaml = """
        defaults:
          no_new_privileges: true
        services:
          inherits: {listen: "127.0.0.1:7100", exec: /bin/cat}
          optsOut: {listen: "127.0.0.1:7101", exec: /bin/cat, no_new_privileges: false}
        """
        let table = try TableLoader().load(bytes: Array(yaml.utf8), file: "t.yaml").get()
        #expect(table["inherits"]?.sandbox.noNewPrivileges == true)
        #expect(table["optsOut"]?.sandbox.noNewPrivileges == false)
        let plain = try TableLoader().load(bytes: Array("services:\n  s: {listen: \"7100\", exec: /bin/cat}\n".utf8), file: "t.yaml").get()
        #expect(plain["s"]?.sandbox.noNewPrivileges == false, "off unless asked for")
    }

    @Test func capabilitiesAreReadByNameAndSwinetdMustHoldThemAtLoad() throws {
        let yaml = """
        defaults:
          capabilities: [CAP_NET_BIND_SERVICE, CAP_CHOWN]
        services:
          inherits: {listen: "127.0.0.1:7100", exec: /bin/cat}
          none: {listen: "127.0.0.1:7101", exec: /bin/cat, capabilities: []}
        """
        // `check` reads the names only.
        let table = try TableLoader().load(bytes: Array(yaml.utf8), file: "t.yaml").get()
        #expect(table["inherits"]?.sandbox.capabilities?.map(\.name) == ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"], "in number order")
        #expect(table["none"]?.sandbox.capabilities == [])
        // The master's load: only a swinetd that can cut capabilities and
        // has those it is to give.
        let loaded = TableLoader(checkPrivileges: true).load(bytes: Array(yaml.utf8), file: "t.yaml")
        if geteuid() == 0 {
            #expect(try loaded.get()["inherits"]?.sandbox.capabilities?.count == 2)
        } else {
            guard case .failure(let errors) = loaded else { Issue.record("a non-root swinetd accepted capabilities"); return }
            #expect(errors.diagnostics.map(\.description).contains { $0.contains("'capabilities' needs swinetd to have CAP_SETPCAP") }, "\(errors)")
        }
        let plain = try TableLoader().load(bytes: Array("services:\n  s: {listen: \"7100\", exec: /bin/cat}\n".utf8), file: "t.yaml").get()
        #expect(plain["s"]?.sandbox.capabilities == nil, "as its user has, unless the table says")
        #expect(diagnostics("services:\n  s: {listen: \"7100\", exec: /bin/cat, capabilities: CAP_CHOWN}\n")
                == ["t.yaml:2:53: error: 'capabilities' must be a list of capability names, such as [CAP_NET_BIND_SERVICE] ([] for none)"])
        #expect(diagnostics("services:\n  s: {listen: \"7100\", exec: /bin/cat, capabilities: [CAP_KILL, CAP_KILL]}\n")
                == ["t.yaml:2:64: error: CAP_KILL is listed twice in 'capabilities'"])
    }

    @Test func privateNetworkIsOffUnlessAskedForAndMadeOnceToSeeAtLoad() throws {
        let yaml = "services:\n  s: {listen: \"7100\", exec: /bin/cat, private_network: true}\n  t: {listen: \"7101\", exec: /bin/cat}\n"
        let table = try TableLoader().load(bytes: Array(yaml.utf8), file: "t.yaml").get()
        #expect(table["s"]?.sandbox.privateNetwork == true && table["t"]?.sandbox.privateNetwork == false)
        let loaded = TableLoader(checkPrivileges: true).load(bytes: Array(yaml.utf8), file: "t.yaml")
        if geteuid() == 0 {
            #expect(try loaded.get()["s"]?.sandbox.privateNetwork == true)
        } else {
            guard case .failure(let errors) = loaded else { Issue.record("a non-root swinetd accepted private_network"); return }
            #expect(errors.diagnostics.map(\.description).contains { $0.hasPrefix("t.yaml:2:56: error: 'private_network': swinetd cannot make a network namespace here") }, "\(errors)")
        }
    }

    @Test func addressFamiliesAreReadByNameOnceEach() throws {
        let yaml = "defaults:\n  address_families: [inet6, AF_UNIX, inet]\nservices:\n  s: {listen: \"7100\", exec: /bin/cat}\n  t: {listen: \"7101\", exec: /bin/cat, address_families: []}\n  u: {listen: \"7102\", exec: /bin/cat, address_families: [local]}\n"
        let table = try TableLoader().load(bytes: Array(yaml.utf8), file: "t.yaml").get()
        #expect(table["s"]?.sandbox.addressFamilies?.map(\.name) == ["unix", "inet", "inet6"], "by number, from defaults")
        #expect(table["t"]?.sandbox.addressFamilies == [])
        #expect(table["u"]?.sandbox.addressFamilies?.map(\.number) == [1], "local is unix")
        #expect(diagnostics("services:\n  s: {listen: \"7100\", exec: /bin/cat, address_families: [inet, ient6]}\n")
                == ["t.yaml:2:64: error: unknown address family 'ient6'; did you mean 'inet6'?"])
        #expect(diagnostics("services:\n  s: {listen: \"7100\", exec: /bin/cat, address_families: [unix, AF_UNIX]}\n")
                == ["t.yaml:2:64: error: unix is listed twice in 'address_families'"])
    }

    @Test func aMissingServicesMapIsAnError() {
        #expect(diagnostics("defaults: {}\n") == ["t.yaml:1:1: error: the table has no 'services' map"])
        #expect(diagnostics("services:\n") == ["t.yaml:1:10: error: 'services' is empty: name at least one service"])
        #expect(diagnostics("services: {}\n") == ["t.yaml:1:11: error: 'services' is empty: name at least one service"])
        #expect(diagnostics("") == ["t.yaml:1:1: error: the table is empty: a 'services' map is required"])
        #expect(diagnostics("- a\n- b\n") == ["t.yaml:1:1: error: the table must be a map with a 'services' key"])
    }

    @Test func aSyntaxErrorHasAPosition() {
        let got = diagnostics("services:\n  echo:\n    listen: [1, 2\n    exec: /bin/cat\n")
        #expect(got.count == 1)
        #expect(got.first?.hasPrefix("t.yaml:4:") == true)
        #expect(got.first?.contains("error: YAML syntax:") == true)
    }

    @Test func topLevelTyposGetSuggestions() {
        let got = diagnostics("service:\n  a: {listen: \"7000\", exec: /bin/cat}\nmax_child: 3\n")
        #expect(got.contains("t.yaml:1:1: error: unknown key 'service' at the top level; did you mean 'services'?"))
        #expect(got.contains("t.yaml:3:1: error: unknown key 'max_child' at the top level; did you mean 'max_children'?"))
    }

    @Test func aliasesResolveAndCannotBlowUp() throws {
        let yaml = """
        x: &cat /bin/cat
        services:
          a: {listen: "7200", exec: *cat}
        """
        // An unknown top-level key is still an error, but the alias resolves.
        #expect(diagnostics(yaml) == ["t.yaml:1:1: error: unknown key 'x' at the top level"])
        let bomb = """
        services:
          a: &a [*a]
        """
        #expect(!diagnostics(bomb).isEmpty)
        var laughs = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1..<30 { laughs += "l\(i): &l\(i) [" + Array(repeating: "*l\(i - 1)", count: 10).joined(separator: ", ") + "]\n" }
        laughs += "services:\n  a: {listen: \"7201\", exec: /bin/cat, args: *l29}\n"
        #expect(!diagnostics(laughs).isEmpty)
    }

    @Test func userAndGroupResolve() throws {
        let yaml = """
        services:
          a:
            listen: "7300"
            exec: /bin/cat
            user: root
            group: "0"
        """
        let a = try #require(try TableLoader().load(bytes: Array(yaml.utf8), file: "t.yaml").get()["a"])
        #expect(a.user == "root")
        if geteuid() == 0 {
            #expect(a.credentials?.uid == 0)
            #expect(a.credentials?.gid == 0)
        }
    }

    /// In YAML a quoted and an unquoted 512M are the same string, and
    /// generated tables quote: both forms mean the same limit.
    @Test func quotedLimitsMeanWhatUnquotedOnesDo() throws {
        let yaml = """
        services:
          a:
            listen: "7302"
            exec: /bin/cat
            limits: {as: "512M", core: "0", nofile: '64', cpu: "unlimited"}
          b:
            listen: "7303"
            exec: /bin/cat
            limits: {as: 512M, core: 0, nofile: 64, cpu: unlimited}
        """
        let table = try TableLoader().load(bytes: Array(yaml.utf8), file: "t.yaml").get()
        let a = try #require(table["a"]?.handlerLimits), b = try #require(table["b"]?.handlerLimits)
        #expect(a.limits == b.limits)
        #expect(a.limits.first { $0.name == "as" }?.value == 512 << 20)
        #expect(a.limits.first { $0.name == "core" }?.value == 0)
        #expect(diagnostics("services:\n  a: {listen: \"7304\", exec: /bin/cat, limits: {as: \"lots\"}}\n")
                == ["t.yaml:2:52: error: 'limits.as' must be a size such as 10M, or unlimited, not 'lots'"])
    }

    /// A drop-in's name is any user's choice where it can write the folder:
    /// a newline or ESC in it must not forge lines of `check` or the log.
    @Test func aDiagnosticIsOneLineWhateverTheFileIsNamed() {
        let d = Diagnostic(file: "/d/a\nswinetd: stopped\u{1b}[31m.yaml", mark: Mark(line: 1, column: 1), message: "unknown key 'x\u{202e}y'")
        #expect(d.description == "/d/a\\u000aswinetd: stopped\\u001b[31m.yaml:1:1: error: unknown key 'x\\u202ey'")
        #expect(Diagnostic(file: "/etc/swinetd/é.yaml", mark: nil, message: "m").description == "/etc/swinetd/é.yaml: error: m",
                "a name that is merely not ASCII is shown as it is")
        #expect(Diagnostic(file: "/d/a\\u000ab.yaml", mark: nil, message: "m").description == "/d/a\\\\u000ab.yaml: error: m",
                "a name holding a backslash cannot pass for one holding a newline")
    }

    @Test func aMissingFileIsOneLine() {
        guard case .failure(let e) = TableLoader().load(path: "/nonexistent/swinetd.yaml") else {
            Issue.record("loaded a missing file")
            return
        }
        #expect(e.diagnostics.map(\.description) == ["/nonexistent/swinetd.yaml: error: cannot read the table: No such file or directory"])
    }
}

#if canImport(Glibc)
import Glibc
#endif
