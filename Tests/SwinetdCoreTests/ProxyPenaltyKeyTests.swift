import Testing
@testable import SwinetdCore

/// Reading `proxy_protocol`, `penalty` and `env_by_source`: their values,
/// and each mistake at its line and column.
@Suite struct ProxyPenaltyKeyTests {
    func load(_ yaml: String) throws -> ServiceTable {
        try TableLoader().load(bytes: Array(yaml.utf8), file: "t.yaml").get()
    }

    func errors(_ key: String, _ value: String, extra: String = "") -> [String] {
        diagnostics("services:\n  s: {listen: \"127.0.0.1:7100\", exec: /bin/cat, \(extra)\(key): \(value)}\n")
    }

    @Test func proxyProtocolReadsItsKeys() throws {
        let t = try load("""
        defaults: {proxy_protocol: {from: [10.0.0.0/24, "2001:db8::/64"], version: v2, timeout: 500ms, direct: allow}}
        services:
          a: {listen: "127.0.0.1:7100", exec: /bin/cat}
          b: {listen: "127.0.0.1:7101", exec: /bin/cat, proxy_protocol: {from: [192.0.2.7]}}
        """)
        let a = try #require(t["a"]?.admission.proxy)
        #expect(a.from.prefixes.map(\.description) == ["10.0.0.0/24", "2001:db8::/64"] && a.version == .v2 && a.timeout == 0.5 && a.allowsDirect)
        let b = try #require(t["b"]?.admission.proxy)
        #expect(b.version == .any && b.timeout == 5 && !b.allowsDirect, "the service's own map replaces defaults' whole")
    }

    @Test func proxyProtocolMistakes() {
        #expect(errors("proxy_protocol", "{version: v1}") == ["t.yaml:2:65: error: 'proxy_protocol' needs 'from': the load balancers' addresses, the only peers whose header is believed"])
        #expect(errors("proxy_protocol", "{from: [0.0.0.0/0]}") == ["t.yaml:2:72: error: 'proxy_protocol.from' 0.0.0.0/0 trusts every address: any client could then claim to be any other; name the load balancers' networks"])
        #expect(errors("proxy_protocol", "{from: [\"::/0\"]}").first?.contains("'proxy_protocol.from' ::/0 trusts every address") == true)
        #expect(errors("proxy_protocol", "{from: [10.0.0.1], version: v3}") == ["t.yaml:2:93: error: 'proxy_protocol.version' must be v1, v2 or any"])
        #expect(errors("proxy_protocol", "{from: [10.0.0.1], timeout: 0}") == ["t.yaml:2:93: error: 'proxy_protocol.timeout' must be a span of time such as 5, 500ms, 10s, 10m or 1h"])
        #expect(errors("proxy_protocol", "{from: [10.0.0.1], timeout: 1h}") == ["t.yaml:2:93: error: 'proxy_protocol.timeout' is too long: at most 5m"])
        #expect(errors("proxy_protocol", "{from: [10.0.0.1], direct: yes}") == ["t.yaml:2:92: error: 'proxy_protocol.direct' must be allow (a peer outside 'from' is served as itself) or refuse"])
        #expect(errors("proxy_protocol", "{form: [10.0.0.1]}").contains("t.yaml:2:66: error: unknown key 'form' in 'proxy_protocol'; did you mean 'from'?"))
        #expect(diagnostics("services:\n  u: {listen: \"127.0.0.1:7100\", exec: /bin/cat, protocol: udp, wait: true, proxy_protocol: {from: [10.0.0.1]}}\n")
                == ["t.yaml:2:76: error: 'proxy_protocol' does not apply to a wait service: its handler reads the datagrams itself"])
        #expect(diagnostics("services:\n  u: {listen: /tmp/x.sock, exec: /bin/cat, proxy_protocol: {from: [10.0.0.1]}}\n").first?.contains("'proxy_protocol' applies to IP clients") == true)
        #expect(ServiceKey.borrowed["accept-proxy"] == .proxyProtocol)
    }

    @Test func broadTrustIsAWarningForCheck() throws {
        let t = try load("services:\n  s: {listen: \"127.0.0.1:7100\", exec: /bin/cat, proxy_protocol: {from: [10.0.0.0/8, 64.0.0.0/2]}}\n")
        #expect(ProxyProtocol.broadTrust(in: t).map { "\($0.service) \($0.prefix)" } == ["s 64.0.0.0/2"])
    }

    @Test func penaltyReadsItsKeys() throws {
        let t = try load("""
        services:
          s: {listen: "127.0.0.1:7100", exec: /bin/cat, penalty: {exit_codes: [7, 8, 7], signals: true, short_run: 1s, add: 30s, max: 1h}}
        """)
        let p = try #require(t["s"]?.admission.penalty)
        let s = Nanoseconds.perSecond
        #expect(p.exitCodes == [7, 8] && p.signals && p.shortRun == s && p.add == 30 * s && p.max == 3600 * s)
        let d = try #require(try load("services:\n  s: {listen: \"127.0.0.1:7100\", exec: /bin/cat, penalty: {exit_codes: [1]}}\n")["s"]?.admission.penalty)
        #expect(d.add == 10 * s && d.max == 600 * s, "defaults: 10s, doubling to 10m")
    }

    @Test func penaltyMistakes() {
        #expect(errors("penalty", "{add: 10s}") == ["t.yaml:2:58: error: 'penalty' counts nothing: give 'exit_codes', 'signals: true' or 'short_run'"])
        #expect(errors("penalty", "{exit_codes: [0]}") == ["t.yaml:2:72: error: 'penalty.exit_codes' must be from 1 to 255, not 0"])
        #expect(errors("penalty", "{exit_codes: 7}") == ["t.yaml:2:71: error: 'penalty.exit_codes' must be a list of exit codes from 1 to 255, such as [7]"])
        #expect(errors("penalty", "{exit_codes: [7], add: 1m, max: 10s}") == ["t.yaml:2:90: error: 'penalty.max' 10s is shorter than 'add' 1m"])
        #expect(errors("penalty", "{exit_codes: [7], add: 10 s}") == ["t.yaml:2:81: error: 'penalty.add' must be a span of time such as 5, 500ms, 10s, 10m or 1h"])
        #expect(errors("penalty", "{exit_codes: [7], max: 30d}").count == 1)
        #expect(errors("penalty", "{exit_code: [7]}").contains("t.yaml:2:59: error: unknown key 'exit_code' in 'penalty'; did you mean 'exit_codes'?"))
        #expect(ServiceKey.borrowed["deny_time"] == .penalty)
    }

    @Test func envBySourceReadsRulesInOrder() throws {
        let t = try load("""
        services:
          s:
            listen: "127.0.0.1:7100"
            exec: /bin/cat
            env_by_source:
              - {from: [10.1.0.0/16], env: {RELAYCLIENT: "", B: x}}
              - {from: 10.0.0.0/8, env: {A: y}}
        """)
        let rules = try #require(t["s"]?.admission)
        #expect(rules.envBySource.count == 2)
        #expect(rules.envBySource[0].env == [EnvVar(name: "B", value: "x"), EnvVar(name: "RELAYCLIENT", value: "")])
        let index = SourceRuleIndex(rules.envBySource)
        #expect(index.rule(for: .ipv4(0x0A01_0203)) == 0)
        #expect(index.rule(for: .ipv4(0x0A02_0203)) == 1)
        #expect(index.rule(for: .ipv4(0xC000_0201)) == nil)
    }

    /// The index gives what a scan of the rules in order gives: the first
    /// rule holding the client, whatever the lengths and their order.
    @Test func theRuleIndexIsTheFirstMatch() throws {
        let t = try load("""
        services:
          s:
            listen: "127.0.0.1:7100"
            exec: /bin/cat
            env_by_source:
              - {from: [10.0.0.0/8], env: {A: "1"}}
              - {from: [10.1.2.0/24, "2001:db8::/32"], env: {A: "2"}}
              - {from: [10.1.2.3, "::/0"], env: {A: "3"}}
              - {from: [0.0.0.0/0], env: {A: "4"}}
        """)
        let rules = try #require(t["s"]?.admission.envBySource)
        let index = SourceRuleIndex(rules)
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<5000 {
            let v4 = Bool.random(using: &rng)
            let peer: PeerAddress = v4 ? .ipv4([0x0A01_0203, 0x0A01_0200 | UInt32.random(in: 0...255, using: &rng), UInt32.random(in: 0...UInt32.max, using: &rng)].randomElement(using: &rng)!)
                : .ipv6(high: [0x2001_0db8_0000_0000, UInt64.random(in: 0...UInt64.max, using: &rng)].randomElement(using: &rng)!, low: 1)
            #expect(index.rule(for: peer) == rules.firstIndex { $0.from.contains(peer) })
        }
    }

    @Test func envBySourceMistakes() {
        #expect(errors("env_by_source", "[{from: [10.0.0.0/8], env: {TCPREMOTEIP: x}}]") == ["t.yaml:2:92: error: 'TCPREMOTEIP' in 'env_by_source' is set by swinetd for each connection; the table cannot set it"])
        #expect(errors("env_by_source", "[{from: [10.0.0.0/8], env: {PROXYPEERIP: x}}]").count == 1, "PROXY's names are swinetd's too")
        #expect(errors("env_by_source", "[{from: [10.0.0.0/8]}]") == ["t.yaml:2:65: error: an 'env_by_source' rule needs both 'from' and 'env'"])
        #expect(errors("env_by_source", "{from: [10.0.0.0/8]}") == ["t.yaml:2:64: error: 'env_by_source' must be a list of rules such as [{from: [10.0.0.0/8], env: {RELAYCLIENT: \"\"}}]"])
        #expect(errors("env_by_source", "[{from: [example.com], env: {A: b}}]").first?.contains("not host names") == true)
    }

    @Test func spansOfTime() {
        #expect(TimeSpan.parse("5") == 5 && TimeSpan.parse("0.5") == 0.5 && TimeSpan.parse("500ms") == 0.5)
        #expect(TimeSpan.parse("10m") == 600 && TimeSpan.parse("2h") == 7200 && TimeSpan.parse("1s") == 1)
        #expect(TimeSpan.parse("") == nil && TimeSpan.parse("s") == nil && TimeSpan.parse("-1s") == nil && TimeSpan.parse("1d") == nil && TimeSpan.parse(".5") == nil)
        #expect(TimeSpan.text(seconds: 600) == "10m" && TimeSpan.text(seconds: 0.5) == "500ms" && TimeSpan.text(seconds: 90) == "90s")
    }
}
