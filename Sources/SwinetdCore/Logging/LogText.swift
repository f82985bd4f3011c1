/// How a value goes into a log line so that it can never be read as more
/// than one value or one line. Besides ASCII controls, quotes and
/// backslashes, it escapes every character a reader could take for a line
/// break (C1 controls such as U+0085, U+2028, U+2029: Python's
/// `str.splitlines()` splits on them) or that reorders what a terminal shows
/// (the bidi controls U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069),
/// as `\u0085`; so a handler cannot forge a `swinetd: stopped` line.
enum LogText {
    /// Whether `scalar` must be escaped wherever it appears.
    @inline(__always)
    static func isDangerous(_ v: UInt32) -> Bool {
        v < 0x20 || v == 0x7f || (v >= 0x80 && v <= 0x9f) || v == 0x2028 || v == 0x2029
            || v == 0x061c || v == 0x200e || v == 0x200f || (v >= 0x202a && v <= 0x202e)
            || (v >= 0x2066 && v <= 0x2069) || v == 0xfeff
    }

    /// `s` with each dangerous character (see `isDangerous`) written as
    /// \uXXXX, a backslash as two (so a name holding a real "\u000a" cannot
    /// pass for one holding a newline), and the rest as it is: for text
    /// shown to a person rather than parsed back (a diagnostic's file name
    /// and message).
    static func visible(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { isDangerous($0.value) || $0 == "\\" }) else { return s }
        var out = ""
        for c in s.unicodeScalars {
            if c == "\\" {
                out += "\\\\"
            } else if isDangerous(c.value) {
                out += "\\u" + PrintableText.hex(c.value, digits: 4)
            } else {
                out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// A text value: bare when it is plain, else double-quoted with escapes.
    static func appendText(_ s: String, to line: inout [UInt8]) {
        var plain = !s.isEmpty
        var ascii = true
        for c in s.utf8 {
            if c <= 32 || c == 34 || c == 61 || c == 92 || c == 127 { plain = false }
            if c >= 0x80 { ascii = false }
        }
        if plain && !ascii { plain = !s.unicodeScalars.contains { isDangerous($0.value) } }
        guard !plain else {
            line.append(contentsOf: s.utf8)
            return
        }
        line.append(34)
        append(s, ascii: ascii, to: &line, control: { c, line in
            line.append(contentsOf: "\\x".utf8)
            hex(UInt32(c), digits: 2, to: &line)
        })
        line.append(34)
    }

    /// A JSON string, with the same characters escaped as `\uXXXX`.
    static func appendJSON(_ s: String, to line: inout [UInt8]) {
        line.append(34)
        var ascii = true
        for c in s.utf8 where c >= 0x80 { ascii = false; break }
        append(s, ascii: ascii, to: &line, control: { c, line in
            line.append(contentsOf: "\\u".utf8)
            hex(UInt32(c), digits: 4, to: &line)
        })
        line.append(34)
    }

    private static func append(_ s: String, ascii: Bool, to line: inout [UInt8], control: (UInt8, inout [UInt8]) -> Void) {
        if ascii {
            for c in s.utf8 { escapeASCII(c, &line, control) }
            return
        }
        for scalar in s.unicodeScalars {
            let v = scalar.value
            if v < 0x80 {
                escapeASCII(UInt8(v), &line, control)
            } else if isDangerous(v) {
                line.append(contentsOf: "\\u".utf8)
                hex(v, digits: 4, to: &line)
            } else {
                line.append(contentsOf: String(scalar).utf8)
            }
        }
    }

    @inline(__always)
    private static func escapeASCII(_ c: UInt8, _ line: inout [UInt8], _ control: (UInt8, inout [UInt8]) -> Void) {
        switch c {
        case 34: line.append(contentsOf: #"\""#.utf8)
        case 92: line.append(contentsOf: #"\\"#.utf8)
        case 10: line.append(contentsOf: #"\n"#.utf8)
        case 13: line.append(contentsOf: #"\r"#.utf8)
        case 9: line.append(contentsOf: #"\t"#.utf8)
        case 0..<32, 127: control(c, &line)
        default: line.append(c)
        }
    }

    private static func hex(_ v: UInt32, digits: Int, to line: inout [UInt8]) {
        let chars = Array("0123456789abcdef".utf8)
        for i in stride(from: digits - 1, through: 0, by: -1) {
            line.append(chars[Int((v >> (4 * UInt32(i))) & 0xf)])
        }
    }
}
