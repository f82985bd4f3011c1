/// Spans of time as the table writes them.
enum TimeSpan {
    /// Seconds from `5`, `0.5`, `500ms`, `10s`, `10m` or `1h`; nil if it is none of those.
    static func parse(_ text: String) -> Double? {
        let units: [(suffix: String, scale: Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = Substring(text)
        var scale = 1.0
        for u in units where text.hasSuffix(u.suffix) {
            number = number.dropLast(u.suffix.count)
            scale = u.scale
            break
        }
        guard !number.isEmpty, number.count <= 12, number.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == 46 }),
              number.first != ".", let n = Double(number) else { return nil }
        return n * scale
    }

    static func text(seconds: Double) -> String {
        if seconds >= 3600 && seconds.truncatingRemainder(dividingBy: 3600) == 0 { return "\(Int(seconds / 3600))h" }
        if seconds >= 60 && seconds.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(seconds / 60))m" }
        if seconds == seconds.rounded() { return "\(Int(seconds))s" }
        if seconds < 1, (seconds * 1000) == (seconds * 1000).rounded() { return "\(Int(seconds * 1000))ms" }
        return "\(seconds)s"
    }

    static func text(nanoseconds: UInt64) -> String { text(seconds: Double(nanoseconds) / Double(Nanoseconds.perSecond)) }
}
