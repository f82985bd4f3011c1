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
/// the subject (a service name, or `swinetd`, `reload`, `upgrade` or
/// `metrics` for the master's own events: names no service can take), the event, then
/// key=value fields; a value with spaces, quotes or anything that could be
/// mistaken for a line break or a direction change is double-quoted and
/// escaped (see `LogText`). JSON: `{"time":"…","level":"info","service":"echo","event":"exited","pid":4242,...}`.
/// Every event has a level; where the line goes decides how it shows: a
/// `<N>` prefix for journald, the syslog priority, or nothing on a pipe.
///
/// The sink never blocks: when its reader stops reading, lines are kept up
/// to a bound and then dropped and counted, and once it drains one
/// `swinetd: log dropped=N` line says how many were lost.
public final class Log {
    public enum Format: String, Sendable { case text, json }

    /// How bad an event is: syslog's severities, the same numbers that
    /// journald reads from a `<N>` prefix and syslog adds to the facility.
    public enum Level: Int, Sendable, CaseIterable {
        case error = 3, warning = 4, notice = 5, info = 6
        public var name: String {
            switch self {
            case .error: return "error"
            case .warning: return "warning"
            case .notice: return "notice"
            case .info: return "info"
            }
        }
    }

    /// What starts a line besides the event itself (see `LogStamp`).
    public enum Prefix: Sendable {
        /// Nothing: a pipe's reader (or syslog) stamps lines itself.
        case none
        /// An RFC 3339 UTC time with milliseconds (text) or a "time" field (JSON).
        case time
        /// sd-daemon(3)'s `<N>`: journald reads the priority and stamps the time.
        case priority
    }

    public let format: Format
    public var sink: LogSink {
        didSet { if case .syslog = sink.target { prefix = .none } }
    }
    public var prefix: Prefix
    private var line: [UInt8] = []
    private var clock = LogStamp()

    public init(format: Format = .text, sink: LogSink = .standardError(), prefix: Prefix = .none) {
        self.format = format
        self.sink = sink
        self.prefix = prefix
        line.reserveCapacity(512)
    }

    public func event(_ level: Level, _ subject: String, _ event: String, _ fields: KeyValuePairs<String, LogValue> = [:]) {
        write(level, subject, event, fields)
    }

    /// The same, with fields gathered at run time (in the order given).
    public func event(_ level: Level, _ subject: String, _ event: String, fields: [(key: String, value: LogValue)]) {
        write(level, subject, event, fields)
    }

    private func write<Fields: Sequence>(_ level: Level, _ subject: String, _ event: String, _ fields: Fields)
        where Fields.Element == (key: String, value: LogValue) {
        line.removeAll(keepingCapacity: true)
        if prefix == .priority {
            line.append(60)
            line.append(UInt8(48 + level.rawValue))
            line.append(62)
        }
        switch format {
        case .text:
            if prefix == .time {
                clock.appendRFC3339(to: &line)
                line.append(32)
            }
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
            // JSON always carries its time and level: a reader of JSON has no
            // other place to find them.
            line.append(contentsOf: #"{"time":""#.utf8)
            clock.appendRFC3339(to: &line)
            line.append(contentsOf: #"","level":""#.utf8)
            line.append(contentsOf: level.name.utf8)
            line.append(contentsOf: #"","service":"#.utf8)
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
                // Durations are numbers of seconds, as a JSON reader sums them.
                case .seconds(let ns), .milliseconds(let ns): line.append(contentsOf: Log.secondsNumber(ns).utf8)
                }
            }
            line.append(125)
        }
        line.append(10)
        sink.write(line, level: level)
    }

    /// Writes what the sink holds as far as its reader takes it now; once
    /// it has all gone, reports what had to be dropped. Returns whether
    /// anything is still waiting.
    @discardableResult
    public func flush() -> Bool {
        if sink.flush() { return true }
        let dropped = sink.takeDropped()
        if dropped > 0 {
            event(.warning, "swinetd", "log", ["dropped": .int(dropped)])
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

    /// `ns` as seconds with up to nine decimals, trailing zeros dropped: `0.0018`.
    static func secondsNumber(_ ns: UInt64) -> String {
        let whole = ns / 1_000_000_000, frac = ns % 1_000_000_000
        guard frac > 0 else { return String(whole) }
        var digits = String(frac)
        digits = String(repeating: "0", count: 9 - digits.count) + digits
        while digits.last == "0" { digits.removeLast() }
        return "\(whole).\(digits)"
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
