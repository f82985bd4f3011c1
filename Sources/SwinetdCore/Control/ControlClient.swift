#if canImport(Glibc)
import Glibc
#endif

/// The client side of the control socket, for `swinetd status`, `reload`
/// and `stop`: one request line out, one reply line back.
public enum ControlClient {
    public struct Reply {
        public var exit: Int32
        public var output: String
        public var body: JSON
    }

    public enum Failure: Error, CustomStringConvertible {
        /// Nobody answers on the socket (exit 2).
        case noAnswer(String)
        public var description: String {
            switch self { case .noAnswer(let why): return why }
        }
    }

    /// Sends `request` to the swinetd at `path` and waits up to `timeout`
    /// seconds for its reply. With `untilClosed`, waits after the reply
    /// until the master closes the socket (it does so as it exits).
    public static func send(_ request: JSON, to path: String, timeout: Double, untilClosed: Bool = false) -> Result<Reply, Failure> {
        let fd: Int32
        switch ControlSocket.connect(path) {
        case .success(let d): fd = d
        case .failure(let e): return .failure(.noAnswer("swinetd: no swinetd answers on \(path): \(e.text)"))
        }
        defer { closeDescriptor(fd) }
        var line: [UInt8] = []
        request.write(to: &line)
        line.append(10)
        var sent = 0
        while sent < line.count {
            let n = line.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return .failure(.noAnswer("swinetd: sending to \(path): \(Errno.current.text)")) }
            sent += n
        }
        let deadline = Nanoseconds.adding(monotonicNanoseconds(), Nanoseconds.from(seconds: timeout))
        var input: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var reply: Reply?
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline else { return .failure(.noAnswer("swinetd: no reply from \(path) within \(Int(timeout)) s")) }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Nanoseconds.timeoutMilliseconds(until: deadline, now: now))
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                if let reply { return .success(reply) }
                return .failure(.noAnswer("swinetd: \(path) closed without a reply"))
            }
            if reply != nil { continue }   // after the reply, only the close matters
            input.append(contentsOf: buffer[0..<n])
            guard let end = input.firstIndex(of: 10) else { continue }
            guard case .success(let body) = JSON.parse(Array(input[..<end])), let exit = body["exit"]?.number else {
                return .failure(.noAnswer("swinetd: \(path) answered something that is not a reply"))
            }
            reply = Reply(exit: Int32(exit), output: body["output"]?.string ?? "", body: body)
            if !untilClosed { return .success(reply!) }
        }
    }
}
