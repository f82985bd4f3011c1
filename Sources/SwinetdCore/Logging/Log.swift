#if canImport(Glibc)
import Glibc
#endif

/// One value in a log line.
public enum LogValue {
    case int(Int)
    case string(String)
    /// Seconds, printed with millisecond precision: `0.012s`.
    case seconds(UInt64)
    /// Milliseconds with one decimal, for short operations: `1.8ms`.
    case milliseconds(UInt64)
}

/// The one place that turns events into lines, text or JSON, one write each.
///
/// Text: `echo: exited pid=4242 peer=127.0.0.1:51234 status=0 duration=0.012s`,
/// the subject (a service name, `swinetd` or `reload`), the event, then
/// key=value fields; a value with spaces or quotes is double-quoted.
/// JSON: `{"service":"echo","event":"exited","pid":4242,...}`.
public final class Log {
    public enum Format: String, Sendable { case text, json }

    public enum Sink {
        /// Lines written to a descriptor (stderr, or the daemon's start-up pipe).
        case descriptor(Int32)
        /// syslog(3), facility daemon, ident swinetd (detached daemons).
        case syslog
    }

    public let format: Format
    public var sink: Sink
    private var line: [UInt8] = []

    public init(format: Format = .text, sink: Sink = .descriptor(2)) {
        self.format = format
        self.sink = sink
        line.reserveCapacity(512)
    }

    public func event(_ subject: String, _ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) {
        line.removeAll(keepingCapacity: true)
        switch format {
        case .text:
            line.append(contentsOf: subject.utf8)
            line.append(contentsOf: ": ".utf8)
            line.append(contentsOf: event.utf8)
            for (key, value) in fields {
                line.append(32)
                line.append(contentsOf: key.utf8)
                line.append(61)
                appendText(value)
            }
        case .json:
            line.append(contentsOf: #"{"service":"#.utf8)
            appendJSONString(subject)
            line.append(contentsOf: #","event":"#.utf8)
            appendJSONString(event)
            for (key, value) in fields {
                line.append(44)
                appendJSONString(key)
                line.append(58)
                switch value {
                case .int(let n): line.append(contentsOf: String(n).utf8)
                case .string(let s): appendJSONString(s)
                default: appendJSONString(Log.render(value))
                }
            }
            line.append(125)
        }
        line.append(10)
        emit()
    }

    /// Copies a raw line (a diagnostic at start-up) to the sink as it is.
    public func raw(_ text: String) {
        line.removeAll(keepingCapacity: true)
        line.append(contentsOf: text.utf8)
        line.append(10)
        emit()
    }

    private func emit() {
        switch sink {
        case .descriptor(let fd):
            line.withUnsafeBytes { buf in
                var offset = 0
                while offset < buf.count {
                    let n = write(fd, buf.baseAddress! + offset, buf.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return   // nowhere left to report it; never block or die for a log line
                    }
                    offset += n
                }
            }
        case .syslog:
            line.removeLast()
            line.append(0)
            line.withUnsafeBufferPointer { buf in
                buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) { text in
                    withVaList([text]) { vsyslog(LOG_INFO, "%s", $0) }
                }
            }
        }
    }

    static func render(_ value: LogValue) -> String {
        switch value {
        case .int(let n): return String(n)
        case .string(let s): return s
        case .seconds(let ns):
            let ms = ns / 1_000_000
            let frac = String(ms % 1000)
            return "\(ms / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac)s"
        case .milliseconds(let ns):
            let tenths = ns / 100_000
            return "\(tenths / 10).\(tenths % 10)ms"
        }
    }

    private func appendText(_ value: LogValue) {
        guard case .string(let s) = value else {
            line.append(contentsOf: Log.render(value).utf8)
            return
        }
        let needsQuotes = s.isEmpty || s.utf8.contains { $0 <= 32 || $0 == 34 || $0 == 61 || $0 == 92 || $0 == 127 }
        guard needsQuotes else {
            line.append(contentsOf: s.utf8)
            return
        }
        line.append(34)
        for c in s.utf8 {
            switch c {
            case 34: line.append(contentsOf: #"\""#.utf8)
            case 92: line.append(contentsOf: #"\\"#.utf8)
            case 10: line.append(contentsOf: #"\n"#.utf8)
            case 13: line.append(contentsOf: #"\r"#.utf8)
            case 9: line.append(contentsOf: #"\t"#.utf8)
            case 0..<32, 127: line.append(contentsOf: "\\x\(c < 16 ? "0" : "")\(String(c, radix: 16))".utf8)
            default: line.append(c)
            }
        }
        line.append(34)
    }

    private func appendJSONString(_ s: String) {
        line.append(34)
        for c in s.utf8 {
            switch c {
            case 34: line.append(contentsOf: #"\""#.utf8)
            case 92: line.append(contentsOf: #"\\"#.utf8)
            case 10: line.append(contentsOf: #"\n"#.utf8)
            case 13: line.append(contentsOf: #"\r"#.utf8)
            case 9: line.append(contentsOf: #"\t"#.utf8)
            case 0..<32, 127: line.append(contentsOf: "\\u00\(c < 16 ? "0" : "")\(String(c, radix: 16))".utf8)
            default: line.append(c)
            }
        }
        line.append(34)
    }
}
