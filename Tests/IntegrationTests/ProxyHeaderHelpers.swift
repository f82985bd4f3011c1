import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A v1 header line.
func proxyV1(_ source: String, _ destination: String, _ sport: Int, _ dport: Int, family: String = "TCP4") -> [UInt8] {
    Array("PROXY \(family) \(source) \(destination) \(sport) \(dport)\r\n".utf8)
}

/// A v2 header: PROXY (or LOCAL) over IPv4 with these TLVs (type, value),
/// and a CRC32C TLV when `checksum` (wrong on purpose when `badChecksum`).
func proxyV2(_ source: String, _ destination: String, _ sport: UInt16, _ dport: UInt16, local: Bool = false,
             tlvs: [(UInt8, [UInt8])] = [], checksum: Bool = false, badChecksum: Bool = false, declaredLength: Int? = nil) -> [UInt8] {
    var body: [UInt8] = []
    var a = in_addr(), b = in_addr()
    inet_pton(AF_INET, source, &a)
    inet_pton(AF_INET, destination, &b)
    body += withUnsafeBytes(of: a) { Array($0) } + withUnsafeBytes(of: b) { Array($0) }
    body += [UInt8(sport >> 8), UInt8(sport & 0xff), UInt8(dport >> 8), UInt8(dport & 0xff)]
    for (type, value) in tlvs { body += [type, UInt8(value.count >> 8), UInt8(value.count & 0xff)] + value }
    var crcAt: Int?
    if checksum {
        crcAt = 16 + body.count + 3
        body += [0x03, 0, 4, 0, 0, 0, 0]
    }
    let length = declaredLength ?? body.count
    var header: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
                           local ? 0x20 : 0x21, 0x11, UInt8(length >> 8), UInt8(length & 0xff)] + body
    if let at = crcAt {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in header {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        crc = ~crc ^ (badChecksum ? 1 : 0)
        header[at] = UInt8(crc >> 24); header[at + 1] = UInt8((crc >> 16) & 0xff)
        header[at + 2] = UInt8((crc >> 8) & 0xff); header[at + 3] = UInt8(crc & 0xff)
    }
    return header
}

/// Connects (from `source`), sends `pieces` with `gap` seconds between
/// them, ends its side and reads to EOF.
func sendPieces(_ port: UInt16, _ pieces: [[UInt8]], gap: Double = 0, from source: String? = nil, timeout: Int = 10) throws -> String {
    let fd = try connectOnly(port, from: source)
    defer { close(fd) }
    var tv = timeval(tv_sec: timeout, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    for (i, piece) in pieces.enumerated() {
        if i > 0 && gap > 0 { usleep(UInt32(gap * 1_000_000)) }
        // A send after swinetd closed the connection fails: the reply says why.
        if piece.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) != piece.count { break }
    }
    shutdown(fd, Int32(SHUT_WR))
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        out.append(contentsOf: buffer[0..<n])
    }
    return String(decoding: out, as: UTF8.self)
}
