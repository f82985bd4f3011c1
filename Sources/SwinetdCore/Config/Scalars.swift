/// Typed readers over YAML nodes, schema-free: each reads one node as a
/// string, a positive integer, a whole number in a range, a quoted octal
/// mode, a bool, a list of strings or a map, and reports a value of the
/// wrong type at the value.
extension Validation {
    /// A key and its value node, as found in a mapping.
    struct Entry {
        var keyNode: Int
        var valueNode: Int
    }

    /// The entries of a mapping node by key, reporting unknown keys (with a
    /// suggestion among `K`'s names), non-scalar keys and duplicate keys.
    /// nil: not a mapping.
    mutating func entries<K: RawRepresentable & CaseIterable>(of node: Int, context: String, known: K.Type) -> [K: Entry]?
        where K.RawValue == String, K: Hashable {
        guard case .mapping(let pairs) = document[node].kind else { return nil }
        var result: [K: Entry] = [:]
        for pair in pairs {
            guard let text = plainKey(pair.key) else { continue }
            guard let key = K(rawValue: text) else {
                var message = "unknown key '\(text)' \(context)"
                if K.self == ServiceKey.self, let theirs = ServiceKey.borrowed[text.lowercased()] {
                    message += "; did you mean '\(theirs.name)' (swinetd's name for it)?"
                } else if let guess = Spelling.suggestion(for: text, among: K.allCases.map(\.rawValue)) {
                    message += "; did you mean '\(guess)'?"
                }
                error(pair.key, message)
                continue
            }
            if result[key] != nil {
                error(pair.key, "duplicate key '\(text)' \(context)")
                continue
            }
            result[key] = Entry(keyNode: pair.key, valueNode: pair.value)
        }
        return result
    }

    mutating func plainKey(_ node: Int) -> String? {
        guard case .scalar(let text, _) = document[node].kind else {
            error(node, "a key must be a plain name, not a list or a map")
            return nil
        }
        return text
    }

    func isNull(_ node: Int) -> Bool {
        guard case .scalar(let text, let quoted) = document[node].kind, !quoted else { return false }
        return text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL"
    }

    mutating func string(_ node: Int, key: String) -> String? {
        guard case .scalar(let text, _) = document[node].kind, !isNull(node) else {
            error(node, "'\(key)' must be a string")
            return nil
        }
        if text.utf8.contains(0) {
            error(node, "'\(key)' must not contain a NUL character")
            return nil
        }
        return text
    }

    mutating func positiveInt(_ node: Int, key: String, limit: Int) -> Int? {
        guard case .scalar(let text, let quoted) = document[node].kind, !quoted,
              !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) || (text.hasPrefix("-") && text.count > 1 && text.dropFirst().allSatisfy(\.isNumber))
        else {
            error(node, "'\(key)' must be a positive integer")
            return nil
        }
        guard let n = Int(text), n > 0 else {
            error(node, "'\(key)' must be a positive integer, not \(text)")
            return nil
        }
        guard n <= limit else {
            error(node, "'\(key)' is too large: at most \(limit)")
            return nil
        }
        return n
    }

    /// A file mode as a quoted octal string of up to 4 digits, at most 0777.
    mutating func octal(_ node: Int, key: String, example: String) -> UInt32? {
        guard case .scalar(let text, true) = document[node].kind, (1...4).contains(text.count),
              text.utf8.allSatisfy({ $0 >= 48 && $0 <= 55 }), let mask = UInt32(text, radix: 8), mask <= 0o777 else {
            error(node, "'\(key)' must be a quoted octal string, such as \(example)")
            return nil
        }
        return mask
    }

    /// A whole number within `range` (negative allowed when the range has them).
    mutating func integer(_ node: Int, key: String, in range: ClosedRange<Int>) -> Int? {
        guard case .scalar(let text, false) = document[node].kind, let n = Int(text),
              text.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == 45 }) else {
            error(node, "'\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            return nil
        }
        guard range.contains(n) else {
            error(node, "'\(key)' must be from \(range.lowerBound) to \(range.upperBound), not \(n)")
            return nil
        }
        return n
    }

    mutating func bool(_ node: Int, key: String) -> Bool? {
        if case .scalar(let text, false) = document[node].kind {
            switch text {
            case "true", "True", "TRUE": return true
            case "false", "False", "FALSE": return false
            default: break
            }
        }
        error(node, "'\(key)' must be true or false")
        return nil
    }

    mutating func stringList(_ node: Int, key: String) -> [String]? {
        guard case .sequence(let items) = document[node].kind else {
            error(node, "'\(key)' must be a list of strings, such as [\"-n\", \"x\"]")
            return nil
        }
        var out: [String] = []
        var ok = true
        for item in items {
            if let s = string(item, key: key) { out.append(s) } else { ok = false }
        }
        return ok ? out : nil
    }

    /// One of `T`'s written values (`true` and `false` as YAML writes them).
    mutating func choice<T: RawRepresentable & CaseIterable>(_ node: Int, key: ServiceKey, _: T.Type) -> T? where T.RawValue == String {
        if case .scalar(let text, _) = document[node].kind {
            let lowered = text.lowercased()
            if let v = T.allCases.first(where: { $0.rawValue.lowercased() == lowered }) { return v }
        }
        error(node, "'\(key.name)' must be \(choices(T.allCases.map(\.rawValue)))")
        return nil
    }
}

/// "a, b or c": a list of choices as a sentence says it.
func choices(_ items: [String]) -> String {
    items.count < 2 ? items.joined() : items.dropLast().joined(separator: ", ") + " or " + items.last!
}
