#if canImport(Glibc)
import Glibc
#endif

/// A PROXY protocol header (HAProxy's "The PROXY protocol", versions 1 and
/// 2), read from the first bytes a load balancer sends on a connection.
/// A pure parser over bytes: the master peeks at the socket and asks it
/// whether the header is there yet, how long it is, and what it says.
struct ProxyHeader {
    /// Bytes the header takes: the client's own bytes start after them.
    var length: Int
    /// The balancer speaks for itself (v2 LOCAL, v1 UNKNOWN, or a family
    /// swinetd cannot put in TCPREMOTEIP): the connection is served as
    /// coming from the balancer.
    var isLocal: Bool
    /// The client and the address it connected to (nil when local).
    var source = sockaddr_storage()
    var destination = sockaddr_storage()
    /// v2's TLVs that become handler variables (nil: not sent, or not
    /// printable text).
    var authority: [UInt8]?
    var uniqueID: [UInt8]?
    var sslVersion: [UInt8]?
    var sslCN: [UInt8]?

    /// v1's longest line, "PROXY" to CRLF.
    static let longestV1 = 107
    /// v2's fixed part, and the most it may add (addresses and TLVs).
    static let v2Prelude = 16
    static let longestV2Body = 4096
    static let longest = v2Prelude + longestV2Body

    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    static let v1Signature: [UInt8] = Array("PROXY ".utf8)

    enum Outcome {
        /// What arrived so far may still become a header.
        case incomplete
        /// It cannot: the reason, for the log.
        case invalid(String)
        case complete(ProxyHeader)
    }

    /// Reads `bytes`, the first bytes of the connection (all that arrived).
    static func parse(_ bytes: UnsafeRawBufferPointer, version: ProxyProtocol.Version) -> Outcome {
        guard let first = bytes.first else { return .incomplete }
        if first == v2Signature[0] {
            guard version != .v1 else { return .invalid("a v2 header, and only v1 is accepted") }
            return parseV2(bytes)
        }
        if first == v1Signature[0] {
            guard version != .v2 else { return .invalid("a v1 header, and only v2 is accepted") }
            return parseV1(bytes)
        }
        return .invalid("no PROXY header")
    }

    // MARK: Version 1

    private static func parseV1(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        let signature = min(bytes.count, v1Signature.count)
        for i in 0..<signature where bytes[i] != v1Signature[i] { return .invalid("no PROXY header") }
        guard let lf = (0..<min(bytes.count, longestV1)).first(where: { bytes[$0] == 10 }) else {
            return bytes.count >= longestV1 ? .invalid("a v1 header longer than \(longestV1) bytes") : .incomplete
        }
        guard lf >= 1, bytes[lf - 1] == 13 else { return .invalid("a v1 line not ended by CRLF") }
        // The words between "PROXY " and CR, by their bounds: no copies on the way.
        let end = lf - 1
        var words: [Range<Int>] = []
        words.reserveCapacity(5)
        var start = v1Signature.count
        for i in start...end {
            if i < end {
                let b = bytes[i]
                guard b >= 0x20 && b < 0x7F else { return .invalid("a v1 header with control characters") }
                if b != 0x20 { continue }
            }
            words.append(start..<i)
            start = i + 1
            if words.count > 5 { break }
        }
        var header = ProxyHeader(length: lf + 1, isLocal: true)
        if let first = words.first, equals(bytes, first, "UNKNOWN") { return .complete(header) }
        guard words.count == 5, equals(bytes, words[0], "TCP4") || equals(bytes, words[0], "TCP6") else {
            return .invalid("a v1 header that is not TCP4, TCP6 or UNKNOWN")
        }
        let family = bytes[words[0].upperBound - 1] == UInt8(ascii: "4") ? AF_INET : AF_INET6
        guard let sport = port(bytes, words[3]), let dport = port(bytes, words[4]) else { return .invalid("a v1 header with a bad port") }
        guard fill(&header.source, family, bytes, words[1], sport), fill(&header.destination, family, bytes, words[2], dport) else {
            return .invalid("a v1 header with a bad \(family == AF_INET ? "IPv4" : "IPv6") address")
        }
        header.isLocal = false
        return .complete(header)
    }

    private static func equals(_ bytes: UnsafeRawBufferPointer, _ word: Range<Int>, _ text: StaticString) -> Bool {
        guard word.count == text.utf8CodeUnitCount else { return false }
        return text.withUTF8Buffer { t in (0..<t.count).allSatisfy { bytes[word.lowerBound + $0] == t[$0] } }
    }

    /// 0 to 65535, decimal, no sign and no leading zero.
    private static func port(_ bytes: UnsafeRawBufferPointer, _ word: Range<Int>) -> UInt16? {
        guard !word.isEmpty, word.count <= 5, word.count == 1 || bytes[word.lowerBound] != UInt8(ascii: "0") else { return nil }
        var n = 0
        for i in word {
            let d = bytes[i]
            guard d >= 48 && d <= 57 else { return nil }
            n = n * 10 + Int(d - 48)
        }
        return n <= 65535 ? UInt16(n) : nil
    }

    /// The address in `word` (as inet_pton reads it) with `port`, into `storage`.
    private static func fill(_ storage: inout sockaddr_storage, _ family: Int32, _ bytes: UnsafeRawBufferPointer, _ word: Range<Int>, _ port: UInt16) -> Bool {
        guard !word.isEmpty, word.count < Int(INET6_ADDRSTRLEN) else { return false }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(INET6_ADDRSTRLEN)) { text -> Bool in
            for (k, i) in word.enumerated() { text[k] = CChar(bitPattern: bytes[i]) }
            text[word.count] = 0
            storage = sockaddr_storage()
            return withUnsafeMutableBytes(of: &storage) { raw -> Bool in
                if family == AF_INET {
                    var a = sockaddr_in()
                    a.sin_family = sa_family_t(AF_INET)
                    a.sin_port = port.bigEndian
                    guard inet_pton(AF_INET, text.baseAddress, &a.sin_addr) == 1 else { return false }
                    withUnsafeBytes(of: a) { raw.copyMemory(from: $0) }
                } else {
                    var a = sockaddr_in6()
                    a.sin6_family = sa_family_t(AF_INET6)
                    a.sin6_port = port.bigEndian
                    guard inet_pton(AF_INET6, text.baseAddress, &a.sin6_addr) == 1 else { return false }
                    withUnsafeBytes(of: a) { raw.copyMemory(from: $0) }
                }
                return true
            }
        }
    }

    // MARK: Version 2

    private static func parseV2(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        let signature = min(bytes.count, v2Signature.count)
        for i in 0..<signature where bytes[i] != v2Signature[i] { return .invalid("no PROXY header") }
        guard bytes.count >= v2Prelude else { return .incomplete }
        let versionCommand = bytes[12], familyProtocol = bytes[13]
        let bodyLength = Int(bytes[14]) << 8 | Int(bytes[15])
        guard versionCommand >> 4 == 2 else { return .invalid("a v2 header of version \(versionCommand >> 4)") }
        guard bodyLength <= longestV2Body else { return .invalid("a v2 header of \(bodyLength) bytes of addresses and TLVs: at most \(longestV2Body)") }
        let total = v2Prelude + bodyLength
        guard bytes.count >= total else { return .incomplete }
        let command = versionCommand & 0x0F
        guard command <= 1 else { return .invalid("a v2 header with command \(command)") }
        var header = ProxyHeader(length: total, isLocal: true)
        // LOCAL (a health check): the real endpoints, and the whole block
        // after the prelude is discarded, whatever it says (the spec).
        if command == 0 { return .complete(header) }
        let body = UnsafeRawBufferPointer(rebasing: bytes[v2Prelude..<total])
        let family = familyProtocol >> 4, transport = familyProtocol & 0x0F
        let addressLengths = [0, 12, 36, 216]
        guard family < 4 else { return .invalid("a v2 header with address family \(family)") }
        guard transport <= 2 else { return .invalid("a v2 header with transport \(transport)") }
        let addressLength = addressLengths[Int(family)]
        guard body.count >= addressLength else { return .invalid("a v2 header too short for its addresses") }
        if family == 1 || family == 2 {
            guard transport != 2 else { return .invalid("a v2 header for a datagram, on a stream") }
            // An unspecified transport: the real endpoints serve (the spec lets a receiver choose).
            if transport == 1 {
                if family == 1 {
                    setIPv4(&header.source, body, at: 0, portAt: 8)
                    setIPv4(&header.destination, body, at: 4, portAt: 10)
                } else {
                    setIPv6(&header.source, body, at: 0, portAt: 32)
                    setIPv6(&header.destination, body, at: 16, portAt: 34)
                }
                header.isLocal = false
            }
        }
        guard readTLVs(UnsafeRawBufferPointer(rebasing: body[addressLength...]), into: &header, whole: UnsafeRawBufferPointer(rebasing: bytes[0..<total])) else {
            return .invalid("a v2 header with malformed TLVs")
        }
        return .complete(header)
    }

    private static func setIPv4(_ storage: inout sockaddr_storage, _ body: UnsafeRawBufferPointer, at: Int, portAt: Int) {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        withUnsafeMutableBytes(of: &a.sin_addr) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: body[at..<(at + 4)])) }
        withUnsafeMutableBytes(of: &a.sin_port) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: body[portAt..<(portAt + 2)])) }
        storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: a) { raw.copyMemory(from: $0) } }
    }

    private static func setIPv6(_ storage: inout sockaddr_storage, _ body: UnsafeRawBufferPointer, at: Int, portAt: Int) {
        var a = sockaddr_in6()
        a.sin6_family = sa_family_t(AF_INET6)
        withUnsafeMutableBytes(of: &a.sin6_addr) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: body[at..<(at + 16)])) }
        withUnsafeMutableBytes(of: &a.sin6_port) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: body[portAt..<(portAt + 2)])) }
        storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in withUnsafeBytes(of: a) { raw.copyMemory(from: $0) } }
    }

    /// The TLVs after the addresses: each must fit, a CRC32C one must match
    /// the header, and the ones handlers see are kept.
    private static func readTLVs(_ tlvs: UnsafeRawBufferPointer, into header: inout ProxyHeader, whole: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        var sawChecksum = false
        while i < tlvs.count {
            guard i + 3 <= tlvs.count else { return false }
            let type = tlvs[i], length = Int(tlvs[i + 1]) << 8 | Int(tlvs[i + 2])
            guard i + 3 + length <= tlvs.count else { return false }
            let value = UnsafeRawBufferPointer(rebasing: tlvs[(i + 3)..<(i + 3 + length)])
            switch type {
            case 0x02: header.authority = printable(value)
            case 0x03:
                // One checksum, of the whole header: a second is malformed (and would cost a pass each).
                guard length == 4, !sawChecksum, checksumMatches(whole, at: whole.count - tlvs.count + i + 3) else { return false }
                sawChecksum = true
            case 0x05:
                guard length <= 128 else { return false }
                header.uniqueID = printable(value)
            case 0x20:
                // client (1 byte), verify (4 bytes), then sub-TLVs.
                guard length >= 5 else { return false }
                var j = 5
                while j < length {
                    guard j + 3 <= length else { return false }
                    let subType = value[j], subLength = Int(value[j + 1]) << 8 | Int(value[j + 2])
                    guard j + 3 + subLength <= length else { return false }
                    let sub = UnsafeRawBufferPointer(rebasing: value[(j + 3)..<(j + 3 + subLength)])
                    if subType == 0x21 { header.sslVersion = printable(sub) }
                    if subType == 0x22 { header.sslCN = printable(sub) }
                    j += 3 + subLength
                }
            default: break
            }
            i += 3 + length
        }
        return true
    }

    /// The value as text a handler may be given: valid UTF-8 with no
    /// control character (C0, DEL, C1) and no line or paragraph separator
    /// (a script reads it, a YAML or log writer may copy it); else nil.
    static func printable(_ value: UnsafeRawBufferPointer) -> [UInt8]? {
        guard !value.isEmpty, let text = String(validating: value, as: UTF8.self) else { return nil }
        for c in text.unicodeScalars {
            if c.value < 0x20 || (0x7F...0x9F).contains(c.value) || c.value == 0x2028 || c.value == 0x2029 { return nil }
        }
        return Array(value)
    }

    /// PP2_TYPE_CRC32C: the CRC32c of the whole header with its own four bytes as zero.
    private static func checksumMatches(_ whole: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        let sent = UInt32(whole[offset]) << 24 | UInt32(whole[offset + 1]) << 16 | UInt32(whole[offset + 2]) << 8 | UInt32(whole[offset + 3])
        var zeroed = Array(whole)
        for i in offset..<(offset + 4) { zeroed[i] = 0 }
        return crc32c(zeroed) == sent
    }

    /// CRC-32C (Castagnoli, reflected), bit by bit: a header is at most 4 KiB.
    static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return ~crc
    }
}
