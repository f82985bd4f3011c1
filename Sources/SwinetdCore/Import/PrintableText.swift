/// Text that an importer writes for another reader (a YAML comment or
/// quoted scalar, a line of the report on a terminal) as printable ASCII
/// only. Whatever else comes from a file or a file name is escaped, since
/// its readers treat more than "\n" as the end of a line: libyaml also
/// breaks lines at U+0085, U+2028 and U+2029 (a file name holding them
/// once ended the `# from` comment and became a service), and a terminal
/// obeys ESC. Escapes are YAML's (and JSON's): \uXXXX, \UXXXXXXXX.
public enum PrintableText {
    /// `text` with each character outside " "..."~", and each backslash, escaped.
    /// Keeping backslashes suits text already made of escaped parts (a
    /// note's message): only what slipped through unescaped changes.
    public static func escaped(_ text: String, keepingBackslashes: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            if keepingBackslashes && c == "\\" { out += "\\" } else { append(c, to: &out) }
        }
        return out
    }

    /// Appends `c` as itself when it is printable ASCII other than "\\", else escaped.
    static func append(_ c: Unicode.Scalar, to out: inout String) {
        switch c.value {
        case 0x5C: out += "\\\\"
        case 0x20...0x7E: out.unicodeScalars.append(c)
        case 0x0A: out += "\\n"
        case 0x09: out += "\\t"
        case 0x0D: out += "\\r"
        case 0...0xFFFF: out += "\\u" + hex(c.value, digits: 4)
        default: out += "\\U" + hex(c.value, digits: 8)
        }
    }

    static func hex(_ value: UInt32, digits: Int) -> String {
        let h = String(value, radix: 16)
        return String(repeating: "0", count: max(0, digits - h.count)) + h
    }
}
