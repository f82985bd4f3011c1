/// The files of an xinetd configuration: blocks of `attribute op values`
/// lines, `include` and `includedir` followed (each file read once, at
/// most 16 deep), every line that is not one of those reported.
extension XinetdConf {
    func includeDirectory(_ dir: String, from: (String, Int)?, blocks: inout [Block], defaults: inout Block?, visited: inout Set<String>, result: inout ImportResult, depth: Int = 0) {
        guard let names = ImportInput.directory(dir) else {
            if let from { result.note(from.0, from.1, .leftOut, "includedir \(ImportWriter.comment(dir)): cannot read the directory") } else { result.unreadable = "cannot read \(dir)" }
            return
        }
        for name in names where !name.contains(".") && !name.hasSuffix("~") {
            let file = dir.hasSuffix("/") ? dir + name : dir + "/" + name
            if ImportInput.isDirectory(file) { continue }
            _ = parse(file: file, blocks: &blocks, defaults: &defaults, visited: &visited, result: &result, depth: depth + 1)
        }
    }

    /// Reads one file's blocks; false when it could not be read.
    func parse(file: String, blocks: inout [Block], defaults: inout Block?, visited: inout Set<String>, result: inout ImportResult, depth: Int) -> Bool {
        guard visited.insert(file).inserted, depth < 16 else {
            result.note(file, nil, .leftOut, "included again (an include loop): read once")
            return true
        }
        let lines: [Substring]
        switch ImportInput.lines(file) {
        case .failure(let f):
            if depth == 0 { result.unreadable = f.message } else { result.note(file, nil, .leftOut, f.message) }
            return false
        case .success(let l): lines = l
        }
        parse(lines: lines, file: file, blocks: &blocks, defaults: &defaults, visited: &visited, result: &result, depth: depth)
        return true
    }

    func parse(lines: [Substring], file: String, blocks: inout [Block], defaults: inout Block?, visited: inout Set<String>, result: inout ImportResult, depth: Int) {
        var current: Block?
        var awaitingBrace = false
        for (index, raw) in lines.enumerated() {
            let number = index + 1
            if raw.utf8.count > ImportInput.longestLine {
                result.note(file, number, .leftOut, "the line is longer than \(ImportInput.longestLine) bytes")
                continue
            }
            var words = ImportInput.words(raw).map(String.init)
            guard let first = words.first, first.utf8.first != UInt8(ascii: "#") else { continue }
            if awaitingBrace {
                guard first == "{" else {
                    result.note(file, number, .leftOut, "'{' expected after '\(ImportWriter.comment(current?.name ?? ""))'")
                    current = nil; awaitingBrace = false
                    continue
                }
                awaitingBrace = false
                words.removeFirst()
                if words.isEmpty { continue }
            }
            if var block = current {
                if words == ["}"] || first == "}" {
                    if block.name == "defaults" { defaults = merge(defaults, block) } else { blocks.append(block) }
                    current = nil
                    continue
                }
                guard words.count >= 2, ["=", "+=", "-="].contains(words[1]) else {
                    result.note(file, number, .leftOut, "'\(ImportWriter.comment(words.joined(separator: " ")))' is not 'attribute = value': line ignored")
                    continue
                }
                let name = words[0]
                if !Self.known.contains(name) {
                    result.note(file, number, .leftOut, "unknown attribute '\(ImportWriter.comment(name))': ignored")
                    continue
                }
                var values = Array(words.dropFirst(2))
                if name == "only_from" || name == "no_access" { values = values.flatMap(Self.expandBraces) }
                block.attributes[name, default: []].append(Attribute(op: words[1], values: values, line: number))
                current = block
                continue
            }
            switch first {
            case "service" where words.count == 2:
                current = Block(name: words[1], file: file, line: number)
                awaitingBrace = true
            case "defaults" where words.count == 1:
                current = Block(name: "defaults", file: file, line: number)
                awaitingBrace = true
            case "include" where !followIncludes, "includedir" where !followIncludes:
                result.note(file, number, .leftOut, "\(first) is not followed here")
            case "include" where words.count == 2:
                _ = parse(file: words[1], blocks: &blocks, defaults: &defaults, visited: &visited, result: &result, depth: depth + 1)
            case "includedir" where words.count == 2:
                includeDirectory(words[1], from: (file, number), blocks: &blocks, defaults: &defaults, visited: &visited, result: &result, depth: depth)
            default:
                result.note(file, number, .leftOut, "'\(ImportWriter.comment(String(raw.prefix(80))))' is not service NAME, defaults, include or includedir")
            }
            if awaitingBrace && words.count > 2 && words.last == "{" { awaitingBrace = false }
        }
        if let open = current {
            result.note(file, open.line, .leftOut, "'\(ImportWriter.comment(open.name))' has no closing '}'")
        }
    }

    /// xinetd's factorized addresses: 192.168.1.{5,7} is two.
    static func expandBraces(_ e: String) -> [String] {
        guard let open = e.firstIndex(of: "{"), e.hasSuffix("}") else { return [e] }
        let head = e[..<open]
        return e[e.index(after: open)..<e.index(before: e.endIndex)].split(separator: ",").map { String(head + $0) }
    }

    func merge(_ a: Block?, _ b: Block) -> Block {
        guard var a else { return b }
        for (k, v) in b.attributes { a.attributes[k, default: []] += v }
        return a
    }
}
