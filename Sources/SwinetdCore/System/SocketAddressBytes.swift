#if canImport(Glibc)
import Glibc
#endif

/// A socket address as plain bytes and back: how a peer's or a
/// balancer's address travels in a Codable snapshot (an upgrade's handover).
extension sockaddr_storage {
    /// Its bytes, whole.
    var bytes: [UInt8] {
        var copy = self
        return withUnsafeBytes(of: &copy) { Array($0) }
    }

    /// The address `bytes` hold (as many as fit; the rest zero).
    init(bytes: [UInt8]) {
        self.init()
        withUnsafeMutableBytes(of: &self) { $0.copyBytes(from: bytes.prefix($0.count)) }
    }
}
