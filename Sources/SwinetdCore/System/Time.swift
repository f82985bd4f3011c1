#if canImport(Glibc)
import Glibc
#endif

/// Time as swinetd counts it: monotonic nanoseconds in a UInt64, with
/// arithmetic that saturates instead of trapping, so no flag or clock value
/// can turn a deadline into a crash.
public enum Nanoseconds {
    public static let perSecond: UInt64 = 1_000_000_000
    public static let perMillisecond: UInt64 = 1_000_000

    /// `seconds` as nanoseconds: 0 for a negative or NaN value, UInt64.max
    /// for one too large to hold.
    public static func from(seconds: Double) -> UInt64 {
        guard seconds > 0 else { return 0 }
        let ns = seconds * 1e9
        return ns >= 0x1p64 ? .max : UInt64(ns)
    }

    /// `a + b`, or UInt64.max.
    @inline(__always)
    public static func adding(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }

    /// `a - b`, or 0.
    @inline(__always)
    public static func since(_ a: UInt64, _ b: UInt64) -> UInt64 {
        a > b ? a - b : 0
    }

    /// Milliseconds from `now` until `deadline`, rounded up, for epoll_wait;
    /// at most `cap` (so a far deadline never overflows an Int32).
    static func timeoutMilliseconds(until deadline: UInt64, now: UInt64, cap: Int32 = 60_000) -> Int32 {
        guard deadline > now else { return 0 }
        let ms = (deadline - now) / perMillisecond + 1
        return ms >= UInt64(cap) ? cap : Int32(ms)
    }
}

/// Monotonic nanoseconds, for durations and deadlines.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * Nanoseconds.perSecond + UInt64(ts.tv_nsec)
}
