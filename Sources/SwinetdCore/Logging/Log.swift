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

/// The one place that turns events into lines, text or JSON, and hands each
/// line to the sink in one piece.
///
/// Text: `echo: exited pid=4242 peer=127.0.0.1:51234 status=0 duration=0.012s`,
/// the subject (a service name, `swinetd` or `reload`), the event, then
/// key=value fields; a value with spaces, quotes or anything that could be
/// mistaken for a line break or a direction change is double-quoted and
/// escaped (see `LogText`). JSON: `{"service":"echo","event":"exited","pid":4242,...}`.
///
/// The sink never blocks: when its reader stops reading, lines are kept up
/// to a bound and then dropped and counted, and once it drains one
/// `swinetd: log dropped=N` line says how many were lost.
public final class Log {
    public enum Format: String, Sendable { case text, json }

    public let format: Format
    public var sink: LogSink
    private var line: [UInt8] = []

    public init(format: Format = .text, sink: LogSink = .standardError()) {
        self.format = format
        self.sink = sink
        line.reserveCapacity(512)
    }

    public func event(_ subject: String, _ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) {
        write(subject, event, fields)
    }

    /// The same, with fields gathered at run time (in the order given).
    public func event(_ subject: String, _ event: String, fields: [(key: String, value: LogValue)]) {
        write(subject, event, fields)
    }

    private func write<Fields: Sequence>(_ subject: String, _ event: String, _ fields: Fields)
        where Fields.Element == (key: String, value: LogValue) {
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
                switch value {
                case .string(let s): LogText.appendText(s, to: &line)
                default: line.append(contentsOf: Log.render(value).utf8)
                }
            }
        case .json:
            line.append(contentsOf: #"{"service":"#.utf8)
            LogText.appendJSON(subject, to: &line)
            line.append(contentsOf: #","event":"#.utf8)
            LogText.appendJSON(event, to: &line)
            for (key, value) in fields {
                line.append(44)
                LogText.appendJSON(key, to: &line)
                line.append(58)
                switch value {
                case .int(let n): line.append(contentsOf: String(n).utf8)
                case .string(let s): LogText.appendJSON(s, to: &line)
                default: LogText.appendJSON(Log.render(value), to: &line)
                }
            }
            line.append(125)
        }
        line.append(10)
        sink.write(line)
    }

    /// Writes what the sink holds as far as its reader takes it now; once
    /// it has all gone, reports what had to be dropped. Returns whether
    /// anything is still waiting.
    @discardableResult
    public func flush() -> Bool {
        if sink.flush() { return true }
        let dropped = sink.takeDropped()
        if dropped > 0 {
            event("swinetd", "log", ["dropped": .int(dropped)])
            return sink.flush()
        }
        return false
    }

    /// Flushes for at most `milliseconds`, waiting for the reader (at exit,
    /// and before a daemon reports that it is ready).
    public func flush(waitingAtMost milliseconds: Int32) {
        let deadline = Nanoseconds.adding(monotonicNanoseconds(), UInt64(milliseconds) * Nanoseconds.perMillisecond)
        while flush(), let fd = sink.descriptorToWatch {
            let now = monotonicNanoseconds()
            if now >= deadline { return }
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, Nanoseconds.timeoutMilliseconds(until: deadline, now: now))
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
}
