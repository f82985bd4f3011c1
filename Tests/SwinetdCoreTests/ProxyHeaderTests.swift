import Foundation
import Testing
@testable import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

/// The PROXY header parser as a plain function over bytes.
@Suite struct ProxyHeaderTests {
    func parse(_ bytes: [UInt8], _ version: ProxyProtocol.Version = .any) -> ProxyHeader.Outcome {
        bytes.withUnsafeBytes { ProxyHeader.parse($0, version: version) }
    }

    func complete(_ bytes: [UInt8]) -> ProxyHeader? {
        if case .complete(let h) = parse(bytes) { return h }
        return nil
    }

    func invalid(_ bytes: [UInt8], _ version: ProxyProtocol.Version = .any) -> String? {
        if case .invalid(let why) = parse(bytes, version) { return why }
        return nil
    }

    func address(_ s: sockaddr_storage) -> String {
        var s = s
        guard let p = PeerAddress(&s) else { return "?" }
        let port = withUnsafeBytes(of: &s) { UInt16($0[2]) << 8 | UInt16($0[3]) }
        return "\(p.description):\(port)"
    }

    let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]

    @Test func v1IPv4AndIPv6() throws {
        let h = try #require(complete(Array("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /".utf8)))
        #expect(h.length == 45 && !h.isLocal)
        #expect(address(h.source) == "192.0.2.1:56324" && address(h.destination) == "198.51.100.2:443")
        let six = try #require(complete(Array("PROXY TCP6 2001:db8::1 ::1 1 65535\r\n".utf8)))
        #expect(address(six.source) == "2001:db8::1:1" && address(six.destination) == "::1:65535")
        #expect(complete(Array("PROXY UNKNOWN\r\n".utf8))?.isLocal == true)
        #expect(complete(Array("PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n".utf8))?.isLocal == true)
    }

    @Test func everyPrefixOfAHeaderIsIncompleteAndNothingMore() {
        let v1 = Array("PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n".utf8)
        var v2 = v2Signature + [0x21, 0x11, 0, 12] + [192, 0, 2, 1, 198, 51, 100, 2, 0x12, 0x34, 0x01, 0xbb]
        for header in [v1, v2] {
            for n in 0..<header.count {
                guard case .incomplete = parse(Array(header.prefix(n))) else { Issue.record("prefix \(n) of \(header.count)"); return }
            }
        }
        v2 += Array("tail".utf8)
        #expect(complete(v2)?.length == 28)
    }

    @Test func v1IsAtMost107Bytes() {
        // Exactly 107 with CRLF: the longest the spec allows.
        let longest = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"
        #expect(longest.utf8.count == 104)
        #expect(complete(Array(longest.utf8)) != nil)
        #expect(invalid(Array(("PROXY TCP4 " + String(repeating: " ", count: 100)).utf8)) == "a v1 header longer than 107 bytes")
        #expect(invalid(Array("PROXY TCP4 1.2.3.4 1.2.3.5 01 2\r\n".utf8)) == "a v1 header with a bad port")
        #expect(invalid(Array("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\n".utf8)) == "a v1 line not ended by CRLF")
        #expect(invalid(Array("PROXY TCP4 ::1 1.2.3.5 1 2\r\n".utf8)) == "a v1 header with a bad IPv4 address")
        #expect(invalid(Array("PROXY UDP4 1.2.3.4 1.2.3.5 1 2\r\n".utf8)) == "a v1 header that is not TCP4, TCP6 or UNKNOWN")
        #expect(invalid(Array("PROXY TCP4 1.2.3.4  1.2.3.5 1 2\r\n".utf8)) != nil, "one space between words")
        #expect(invalid(Array("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\u{1b}\r\n".utf8)) == "a v1 header with control characters")
        #expect(invalid(Array("PROXX".utf8)) == "no PROXY header")
        #expect(invalid(Array("GET".utf8)) == "no PROXY header")
    }

    @Test func v2LimitsAndVersions() {
        let local = v2Signature + [0x20, 0x00, 0, 0]
        #expect(complete(local)?.isLocal == true)
        #expect(invalid(v2Signature + [0x21, 0x11, 0x10, 0x01]) == "a v2 header of 4097 bytes of addresses and TLVs: at most 4096")
        #expect(invalid(v2Signature + [0x31, 0x11, 0, 0]) == "a v2 header of version 3")
        #expect(invalid(v2Signature + [0x21, 0x51, 0, 0]) == "a v2 header with address family 5")
        #expect(invalid(v2Signature + [0x22, 0x11, 0, 12] + [UInt8](repeating: 0, count: 12)) == "a v2 header with command 2")
        // LOCAL discards its block, whatever it says.
        #expect(complete(v2Signature + [0x20, 0x55, 0, 3] + [1, 2, 3])?.isLocal == true)
        #expect(complete(v2Signature + [0x20, 0x11, 0, 4] + [0x03, 0, 4, 0])?.isLocal == true, "nor are its TLVs looked at")
        // PROXY with an unspecified transport: the real endpoints.
        #expect(complete(v2Signature + [0x21, 0x10, 0, 12] + [UInt8](repeating: 1, count: 12))?.isLocal == true)
        #expect(invalid(v2Signature + [0x21, 0x11, 0, 4] + [1, 2, 3, 4]) == "a v2 header too short for its addresses")
        #expect(invalid(v2Signature + [0x21, 0x12, 0, 12] + [UInt8](repeating: 1, count: 12)) == "a v2 header for a datagram, on a stream")
        #expect(invalid(local, .v1) == "a v2 header, and only v1 is accepted")
        #expect(invalid(Array("PROXY UNKNOWN\r\n".utf8), .v2) == "a v1 header, and only v2 is accepted")
        // A UNIX or unspecified family is the balancer speaking for itself.
        #expect(complete(v2Signature + [0x21, 0x31, 0, 216] + [UInt8](repeating: 0, count: 216))?.isLocal == true)
        // The longest body there may be: 4096 bytes of addresses and NOOP TLVs.
        let noop: [UInt8] = [0x04, 0x0F, 0xF1] + [UInt8](repeating: 0, count: 0x0FF1)
        let body = [UInt8](repeating: 1, count: 12) + noop
        #expect(body.count == 4096)
        #expect(complete(v2Signature + [0x21, 0x11, 0x10, 0x00] + body)?.length == 4112)
    }

    @Test func tlvsMustFitAndOnlyPrintableOnesReachHandlers() {
        let addresses: [UInt8] = [10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2]
        func header(_ tlvs: [UInt8]) -> [UInt8] {
            let body = addresses + tlvs
            return v2Signature + [0x21, 0x11, UInt8(body.count >> 8), UInt8(body.count & 0xff)] + body
        }
        let h = complete(header([0x02, 0, 3] + Array("a.b".utf8) + [0x05, 0, 2, 0x41, 0x0a]))
        #expect(h?.authority == Array("a.b".utf8))
        #expect(h?.uniqueID == nil, "a control character: not given to a handler")
        #expect(invalid(header([0x02, 0, 9, 0x41])) == "a v2 header with malformed TLVs")
        #expect(invalid(header([0x02, 0])) == "a v2 header with malformed TLVs")
        #expect(invalid(header([0x05, 0, 129] + [UInt8](repeating: 0x41, count: 129))) == "a v2 header with malformed TLVs", "unique id: 128 bytes at most")
        #expect(invalid(header([0x20, 0, 2, 0, 0])) == "a v2 header with malformed TLVs")
        #expect(invalid(header([0x20, 0, 8, 1, 0, 0, 0, 0, 0x21, 0, 9])) == "a v2 header with malformed TLVs")
        #expect(invalid(header([0x03, 0, 4, 0, 0, 0, 0])) == "a v2 header with malformed TLVs", "a CRC32C that does not match")
        for bad in [[0xC2, 0x85], [0xC2, 0x9B], [0xE2, 0x80, 0xA8], [0xFF, 0x41], [0x41, 0x7F]] as [[UInt8]] {
            #expect(complete(header([0x02, 0, UInt8(bad.count)] + bad))?.authority == nil, "\(bad): not given to a handler")
        }
        #expect(complete(header([0x02, 0, UInt8("é.test".utf8.count)] + Array("é.test".utf8)))?.authority == Array("é.test".utf8))
    }

    /// CRC32C against its published check value: "123456789" is 0xE3069283.
    @Test func theChecksumIsCastagnolis() {
        #expect(ProxyHeader.crc32c(Array("123456789".utf8)) == 0xE306_9283)
    }

    /// Random bytes never crash the parser, and whatever it calls complete
    /// fits in the bytes it was given.
    @Test func randomBytesAreSafe() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            var bytes = (0..<Int.random(in: 0..<300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if Bool.random(using: &rng) { bytes = v2Signature + [0x21, UInt8.random(in: 0...0x33, using: &rng), 0, UInt8.random(in: 0...255, using: &rng)] + bytes }
            if case .complete(let h) = parse(bytes) { #expect(h.length <= bytes.count) }
        }
    }
}
