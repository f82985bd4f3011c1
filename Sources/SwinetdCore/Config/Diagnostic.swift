/// A position in the table file, 1-based, as compilers print it.
public struct Mark: Equatable, Hashable, Sendable, Comparable, Codable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (a: Mark, b: Mark) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }

    /// The line and column (in characters, as libyaml counts) of byte
    /// `offset` of `bytes`; a line ends at LF, CR or CR LF.
    init(offset: Int, in bytes: [UInt8]) {
        var line = 1, column = 1, i = 0
        let end = min(offset, bytes.count)
        while i < end {
            let b = bytes[i]
            if b == 10 || (b == 13 && (i + 1 >= bytes.count || bytes[i + 1] != 10)) {
                line += 1
                column = 1
            } else if b & 0xC0 != 0x80 && b != 13 {
                column += 1   // a character starts (not a UTF-8 continuation byte)
            }
            i += 1
        }
        self.init(line: line, column: column)
    }
}

/// One problem found in a table, printed the way compilers do:
/// `services.yaml:12:5: error: unknown key 'max_conection' in service 'echo'; did you mean 'max_connections'?`
public struct Diagnostic: Error, Equatable, Sendable, Codable, CustomStringConvertible {
    public var file: String
    public var mark: Mark?
    public var message: String

    public init(file: String, mark: Mark?, message: String) {
        self.file = file
        self.mark = mark
        self.message = message
    }

    /// One line, whatever the file's name and the text quoted from it hold:
    /// any user may name a drop-in in a folder it can write, and a newline,
    /// ESC or bidi control there would forge lines of `check` and the log.
    public var description: String {
        let file = LogText.visible(self.file), message = LogText.visible(self.message)
        if let mark {
            return "\(file):\(mark.line):\(mark.column): error: \(message)"
        }
        return "\(file): error: \(message)"
    }
}
