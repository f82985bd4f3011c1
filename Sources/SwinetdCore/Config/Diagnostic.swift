/// A position in the table file, 1-based, as compilers print it.
public struct Mark: Equatable, Hashable, Sendable, Comparable {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static func < (a: Mark, b: Mark) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }
}

/// One problem found in a table, printed the way compilers do:
/// `services.yaml:12:5: error: unknown key 'max_conection' in service 'echo'; did you mean 'max_connections'?`
public struct Diagnostic: Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var mark: Mark?
    public var message: String

    public init(file: String, mark: Mark?, message: String) {
        self.file = file
        self.mark = mark
        self.message = message
    }

    public var description: String {
        if let mark {
            return "\(file):\(mark.line):\(mark.column): error: \(message)"
        }
        return "\(file): error: \(message)"
    }
}
