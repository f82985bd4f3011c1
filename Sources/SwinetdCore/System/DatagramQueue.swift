#if canImport(Glibc)
import Glibc
#endif

/// Which datagram is first in a UDP socket's receive queue, told apart by
/// when the kernel received it (its SO_TIMESTAMPNS stamp), never by what it
/// carries: a client's retransmits, or one request from several clients,
/// are the same bytes but each its own datagram with its own stamp.
///
/// The stamp is asked for only while peeking (the option is set, the head
/// is peeked, the option is put back as it was), so a handler reading the
/// socket never gets control messages it did not ask for. A datagram that arrived while
/// no socket on the host wanted stamps gets one at the first peek, and
/// keeps it: the kernel writes it into the queued datagram itself.
enum DatagramQueue {
    /// The head's arrival in nanoseconds of CLOCK_REALTIME (as an identity,
    /// not a time to compute with); nil when nothing is queued or the
    /// kernel gave no stamp.
    static func headArrival(_ fd: Int32) -> UInt64? {
        // A handler of the socket may have asked for stamps itself (SO_TIMESTAMP
        // and SO_TIMESTAMPNS share one flag): put back what it had.
        func option(_ name: Int32) -> Int32 {
            var value: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            return getsockopt(fd, SOL_SOCKET, name, &value, &length) == 0 ? value : 0
        }
        let hadNanoseconds = option(SO_TIMESTAMPNS) != 0, hadMicroseconds = option(SO_TIMESTAMP) != 0
        var on: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else { return nil }
        defer {
            var value: Int32 = hadMicroseconds ? 1 : 0
            if !hadNanoseconds {
                _ = setsockopt(fd, SOL_SOCKET, hadMicroseconds ? SO_TIMESTAMP : SO_TIMESTAMPNS, &value, socklen_t(MemoryLayout<Int32>.size))
            }
        }
        // One byte of payload is enough: the stamp comes as a control message.
        var byte: UInt8 = 0
        let header = MemoryLayout<cmsghdr>.stride
        var control = [UInt8](repeating: 0, count: header + MemoryLayout<timespec>.stride + 16)
        let (n, controlLength) = withUnsafeMutablePointer(to: &byte) { b in
            control.withUnsafeMutableBytes { c in
                var vector = iovec(iov_base: UnsafeMutableRawPointer(b), iov_len: 1)
                return withUnsafeMutablePointer(to: &vector) { v in
                    var message = msghdr()
                    message.msg_iov = v
                    message.msg_iovlen = 1
                    message.msg_control = c.baseAddress
                    message.msg_controllen = c.count
                    let n = recvmsg(fd, &message, Int32(MSG_PEEK | MSG_DONTWAIT))
                    return (n, Int(message.msg_controllen))
                }
            }
        }
        guard n >= 0 else { return nil }
        // Walk the control messages (CMSG_NXTHDR by hand: Swift has no macros).
        var offset = 0
        while offset + header <= controlLength {
            let (length, level, type) = control.withUnsafeBytes { raw -> (Int, Int32, Int32) in
                let h = raw.loadUnaligned(fromByteOffset: offset, as: cmsghdr.self)
                return (Int(h.cmsg_len), h.cmsg_level, h.cmsg_type)
            }
            guard length >= header, offset + length <= controlLength else { return nil }
            if level == SOL_SOCKET && type == SO_TIMESTAMPNS && length >= header + MemoryLayout<timespec>.size {
                let t = control.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + header, as: timespec.self) }
                return UInt64(bitPattern: Int64(t.tv_sec) &* 1_000_000_000 &+ Int64(t.tv_nsec))
            }
            offset += (length + MemoryLayout<Int>.size - 1) & ~(MemoryLayout<Int>.size - 1)
        }
        return nil
    }
}
