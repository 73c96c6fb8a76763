#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Nanoseconds on CLOCK_MONOTONIC: immune to wall-clock jumps, which matters
/// for action timeouts and pull intervals.
public enum MonotonicClock {
    public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// Seconds (as configured) to nanoseconds, saturating; negative is 0.
    public static func nanoseconds(seconds: Double) -> UInt64 {
        guard seconds > 0 else { return 0 }
        let ns = seconds * 1e9
        return ns >= Double(UInt64.max / 2) ? UInt64.max / 2 : UInt64(ns)
    }
}
