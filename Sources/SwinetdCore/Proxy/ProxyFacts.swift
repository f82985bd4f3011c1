#if canImport(Glibc)
import Glibc
#endif

/// What a connection's PROXY header said beyond the client's address: the
/// balancer that sent it, the address the client connected to, and the v2
/// TLVs handlers see (PROXYPEERIP, TCPLOCALIP, PROXY_AUTHORITY ...).
struct ProxyFacts: Codable {
    var balancer: sockaddr_storage
    var destination: sockaddr_storage
    var authority: [UInt8]?
    var uniqueID: [UInt8]?
    var sslVersion: [UInt8]?
    var sslCN: [UInt8]?

    init(balancer: sockaddr_storage, header: ProxyHeader) {
        self.balancer = balancer
        destination = header.destination
        authority = header.authority
        uniqueID = header.uniqueID
        sslVersion = header.sslVersion
        sslCN = header.sslCN
    }

    /// TLV variable `index` of `tlvNames`, with its value (nil: not sent).
    func tlv(_ index: Int) -> [UInt8]? {
        switch index {
        case 0: return authority
        case 1: return uniqueID
        case 2: return sslVersion
        default: return sslCN
        }
    }
    static let tlvNames = ["PROXY_AUTHORITY", "PROXY_UNIQUE_ID", "PROXY_SSL_VERSION", "PROXY_SSL_CN"]
    static let peerNames = ["PROXYPEERIP", "PROXYPEERPORT"]

    private enum CodingKeys: String, CodingKey { case balancer, destination, authority, uniqueID, sslVersion, sslCN }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        balancer = sockaddr_storage(bytes: try c.decode([UInt8].self, forKey: .balancer))
        destination = sockaddr_storage(bytes: try c.decode([UInt8].self, forKey: .destination))
        authority = try c.decodeIfPresent([UInt8].self, forKey: .authority)
        uniqueID = try c.decodeIfPresent([UInt8].self, forKey: .uniqueID)
        sslVersion = try c.decodeIfPresent([UInt8].self, forKey: .sslVersion)
        sslCN = try c.decodeIfPresent([UInt8].self, forKey: .sslCN)
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(balancer.bytes, forKey: .balancer)
        try c.encode(destination.bytes, forKey: .destination)
        try c.encodeIfPresent(authority, forKey: .authority)
        try c.encodeIfPresent(uniqueID, forKey: .uniqueID)
        try c.encodeIfPresent(sslVersion, forKey: .sslVersion)
        try c.encodeIfPresent(sslCN, forKey: .sslCN)
    }
}
