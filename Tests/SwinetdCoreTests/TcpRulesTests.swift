import Testing
@testable import SwinetdCore

/// tcprules read as rule keys, as plain values.
@Suite struct TcpRulesTests {
    func apply(_ text: String) -> (ImportedService, ImportResult) {
        var s = ImportedService(name: "s", file: "rules", line: 1)
        var r = ImportResult()
        TcpRules().apply(lines: text.split(separator: "\n", omittingEmptySubsequences: false), path: "rules", to: &s, result: &r)
        return (s, r)
    }

    @Test func addressesBecomeNetworks() {
        #expect(TcpRules.prefixes("1.2.3.4")! == (["1.2.3.4/32"], 32))
        #expect(TcpRules.prefixes("10.")! == (["10.0.0.0/8"], 8))
        #expect(TcpRules.prefixes("10.1.2.")! == (["10.1.2.0/24"], 24))
        #expect(TcpRules.prefixes("1.2.3.37-53")!.0 == ["1.2.3.37/32", "1.2.3.38/31", "1.2.3.40/29", "1.2.3.48/30", "1.2.3.52/31"])
        #expect(TcpRules.prefixes("1.2.3.0-255")!.0 == ["1.2.3.0/24"])
        for bad in ["1.2.3", "1.2.3.4.", "300.1.", "1.2.3.9-4", "1.2.3.x", "1.2.3.4-", ".1."] { #expect(TcpRules.prefixes(bad) == nil, "\(bad)") }
    }

    @Test func instructionsTakeAnyDelimiter() {
        let r = TcpRules()
        #expect(r.instructions("deny")?.0 == false && r.instructions("deny")?.1.isEmpty == true)
        let a = r.instructions(#"allow,RELAYCLIENT="",QMAILQUEUE=|bin/q|,X='a,b',X="c""#)
        #expect(a?.0 == true)
        #expect(a?.1.map { "\($0.0)=\($0.1)" } == ["RELAYCLIENT=", "QMAILQUEUE=bin/q", "X=c"], "a name given twice keeps its last value")
        #expect(r.instructions("permit") == nil && r.instructions("allow,X") == nil && r.instructions("allow,X=\"open") == nil)
    }

    @Test func theMostSpecificRuleDecidesAndDenyInsideAllowIsExact() {
        let (s, r) = apply("10.:allow,A=\"1\"\n10.1.:deny\n10.1.2.:allow\n:deny")
        #expect(s.allow == ["10.1.2.0/24", "10.0.0.0/8"])
        #expect(s.deny == ["10.1.0.0/16"])
        // 10.1.2.x: tcpserver allows it (its most specific rule); swinetd's deny wins: noted.
        #expect(r.notes.map(\.line) == [3], "\(r.notes)")
        #expect(s.envBySource.map(\.from) == [["10.1.2.0/24"], ["10.0.0.0/8"]], "a rule without variables still stops the wider one's")
    }

    @Test func theDefaultAllowsWhenThereIsNone() {
        let (s, r) = apply("192.0.2.7:deny\n# a comment\n\n198.51.100.:allow,TIER=\"x\"")
        #expect(s.allow.isEmpty && s.deny == ["192.0.2.7/32"])
        #expect(r.notes.isEmpty)
        let (withDefault, _) = apply(":allow,BASE=\"1\"")
        #expect(withDefault.envBySource.map(\.from) == [["0.0.0.0/0", "::/0"]])
    }
}

/// tcpserver finds the first line of a key; ranges are their addresses.
@Suite struct TcpRulesOverlapTests {
    func apply(_ text: String) -> ImportedService {
        var s = ImportedService(name: "s", file: "rules", line: 1)
        var r = ImportResult()
        TcpRules().apply(lines: text.split(separator: "\n", omittingEmptySubsequences: false), path: "rules", to: &s, result: &r)
        return s
    }

    @Test func anAddressDecidedEarlierKeepsItsRule() {
        let a = apply("10.0.0.5:deny\n10.0.0.1-10:allow,RELAYCLIENT=\"\"\n:deny")
        #expect(a.allow == ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/32", "10.0.0.6/31", "10.0.0.8/31", "10.0.0.10/32"], "10.0.0.5 is the deny's")
        #expect(a.deny.isEmpty && a.envBySource.first?.from.contains("10.0.0.5/32") == false)
        let b = apply("10.0.0.5:allow\n10.0.0.0-255:deny")
        #expect(!b.deny.contains("10.0.0.0/24") && !b.deny.contains { $0 == "10.0.0.5/32" } && b.deny.count == 8, "\(b.deny)")
        let c = apply("1.2.3.:allow\n1.2.3.:deny\n:deny\n:allow")
        #expect(c.allow == ["1.2.3.0/24"] && c.deny.isEmpty, "the first of a key, and the first default")
        #expect(TcpRules.prefixes("1.2.3.010") == nil, "tcpserver never writes a leading zero")
    }
}
