import Testing
@testable import SwinetdCore

@Suite struct ListenAddressTests {
    func parse(_ s: String) -> [String]? {
        try? ListenAddress.parse(s).get().map(\.description)
    }

    func error(_ s: String) -> String? {
        if case .failure(let e) = ListenAddress.parse(s) { return e.message }
        return nil
    }

    @Test func everyDocumentedFormOpensTheDocumentedSockets() {
        #expect(parse("7007") == ["0.0.0.0:7007", "[::]:7007"])
        #expect(parse("127.0.0.1:7007") == ["127.0.0.1:7007"])
        #expect(parse("0.0.0.0:7007") == ["0.0.0.0:7007"])
        #expect(parse("[::1]:7007") == ["[::1]:7007"])
        #expect(parse("[::]:7007") == ["[::]:7007"])
        #expect(parse("localhost:7007") == ["127.0.0.1:7007", "[::1]:7007"])
        #expect(parse("[2001:db8::1]:65535") == ["[2001:db8::1]:65535"])
    }

    @Test func malformedAddressesSayWhy() {
        #expect(error("0") == "port 0 out of range: expected 1 to 65535")
        #expect(error("127.0.0.1:65536") == "port 65536 out of range: expected 1 to 65535")
        #expect(error("127.0.0.1:") == "malformed port '': expected a number from 1 to 65535")
        #expect(error("::1:80")?.contains("brackets") == true)
        #expect(error("example.com:80")?.contains("not an IPv4 address") == true)
        #expect(error("[::1]80")?.contains("expected [IPV6]:PORT") == true)
        #expect(error("[::g]:80")?.contains("not an IPv6 address") == true)
        #expect(error("")  == "empty address")
    }

    @Test func wildcardsConflictWithTheirFamily() throws {
        let any4 = try ListenAddress.parse("0.0.0.0:80").get()[0]
        let lo4 = try ListenAddress.parse("127.0.0.1:80").get()[0]
        let lo6 = try ListenAddress.parse("[::1]:80").get()[0]
        let other = try ListenAddress.parse("127.0.0.1:81").get()[0]
        #expect(any4.conflicts(with: lo4))
        #expect(!any4.conflicts(with: lo6))
        #expect(!lo4.conflicts(with: other))
    }
}
