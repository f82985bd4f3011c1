#if canImport(Glibc)
import Glibc
#endif

/// The wall-clock time of a log line, RFC 3339 in UTC with milliseconds
/// (`2026-12-02T15:04:05.123Z`): the date and time are formatted once a
/// second, the milliseconds on every line.
struct LogStamp {
    private var second: time_t = -1
    private var head: [UInt8] = []

    mutating func appendRFC3339(to line: inout [UInt8]) {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        if ts.tv_sec != second {
            var t = ts.tv_sec
            var tm = Glibc.tm()
            gmtime_r(&t, &tm)
            var buffer = [CChar](repeating: 0, count: 32)
            let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S.", &tm)
            head = buffer.prefix(n).map { UInt8(bitPattern: $0) }
            second = ts.tv_sec
        }
        line.append(contentsOf: head)
        let ms = Int(ts.tv_nsec / 1_000_000)
        line.append(UInt8(48 + ms / 100))
        line.append(UInt8(48 + ms / 10 % 10))
        line.append(UInt8(48 + ms % 10))
        line.append(90)   // Z
    }
}
