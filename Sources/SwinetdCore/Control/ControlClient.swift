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
        if case .failure(let e) = sendAll(fd, line, flags: Int32(MSG_NOSIGNAL)) {
            return .failure(.noAnswer("swinetd: sending to \(path): \(e.text)"))
        }
        let deadline = Nanoseconds.adding(monotonicNanoseconds(), Nanoseconds.from(seconds: timeout))
        var input: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var reply: Reply?
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline else { return .failure(.noAnswer("swinetd: no reply from \(path) within \(Int(timeout)) s")) }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            // EINTR: the deadline is looked at again before the next wait.
            guard case .success(1...) = syscallResult(retryOnInterrupt: false, { poll(&p, 1, Nanoseconds.timeoutMilliseconds(until: deadline, now: now)) }) else { continue }
            let received = buffer.withUnsafeMutableBytes { buf in syscallResult { recv(fd, buf.baseAddress, buf.count, 0) } }
            guard case .success(let n) = received, n > 0 else {
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
