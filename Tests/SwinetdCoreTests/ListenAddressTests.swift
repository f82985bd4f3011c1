import Testing
@testable import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

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

    /// An upgrade hands the new image the old one's addresses in the old
    /// one's field names (0.6.0 called the address bytes `ip`): they must
    /// still decode, whatever the field is called now.
    @Test func anAddressAsTheLastReleaseEncodedItDecodes() throws {
        struct Released: Codable {
            var family = "ipv4"
            var bytes: [UInt8] = [127, 0, 0, 1]
            var port: UInt16 = 7007
            var transport = "udp"
            enum CodingKeys: String, CodingKey { case family, bytes = "ip", port, transport }
        }
        let inet = try PackedCoding.decode(ListenAddress.self, from: PackedCoding.encode(Released()))
        #expect(inet.description == "127.0.0.1:7007/udp")
        let unix = Released(family: "unix", bytes: Array("/run/x.sock".utf8), port: 0, transport: "tcp")
        #expect(try PackedCoding.decode(ListenAddress.self, from: PackedCoding.encode(unix)).path == "/run/x.sock")
    }
}

@Suite struct SocketFormatTests {
    /// The hand-written IPv4 formatter says what inet_ntop says.
    @Test func ipv4AddressesFormatAsInetNtopDoes() {
        var rng = SplitMix64(state: 7)
        let samples: [UInt32] = [0, 0x0100007f, 0xffffffff, 0x0a000001, 0x64646464, 0x09090909] + (0..<2000).map { _ in UInt32.random(in: 0...UInt32.max, using: &rng) }
        for raw in samples {
            var storage = sockaddr_storage()
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    $0.pointee.sin_family = sa_family_t(AF_INET)
                    $0.pointee.sin_addr.s_addr = raw
                    $0.pointee.sin_port = UInt16(8080).bigEndian
                }
            }
            var ours = [CChar](repeating: 0, count: 64)
            let port = ours.withUnsafeMutableBufferPointer { Socket.format(&storage, into: $0.baseAddress!, capacity: $0.count) }
            var theirs = [CChar](repeating: 0, count: 64)
            var addr = in_addr(s_addr: raw)
            _ = inet_ntop(AF_INET, &addr, &theirs, 64)
            #expect(ours == theirs && port == 8080)
        }
    }
}
