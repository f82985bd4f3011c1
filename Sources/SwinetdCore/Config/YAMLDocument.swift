import CYAML

/// A YAML document as a flat array of nodes, each with its position.
///
/// This is the only file that touches libyaml. libyaml's document loader
/// resolves anchors and aliases: an alias becomes a second reference to the
/// same node index, so nothing is copied here. But validation visits a node
/// once per reference, so a few kilobytes of aliases to aliases can stand
/// for millions of nodes ("billion laughs"): `expandedSize` counts the nodes
/// with every alias expanded, which the loader bounds, and finds an alias
/// inside the node it names (a cycle) before anything walks it.
struct YAMLDocument {
    enum Kind {
        /// `quoted` is true for any non-plain scalar: such a scalar is always a
        /// string, never a number, bool or null. (libyaml's loader gives every
        /// untagged scalar the `!!str` tag, so the style is what tells.)
        case scalar(String, quoted: Bool)
        case sequence([Int])
        case mapping([(key: Int, value: Int)])
    }

    struct Node {
        var kind: Kind
        var mark: Mark
    }

    /// A syntax error with libyaml's own words and position.
    struct SyntaxError: Error {
        var message: String
        var mark: Mark?
    }

    var nodes: [Node]
    /// Index of the root node; nil for an empty document.
    var root: Int?

    subscript(_ index: Int) -> Node { nodes[index] }

    enum Expansion: Equatable {
        case size(Int)
        /// A node that contains itself, through an alias.
        case cycle(Mark)
    }

    /// The number of nodes with every alias expanded, counting no further
    /// than `limit` (past it the exact number does not matter); or the
    /// position of a node that contains itself.
    func expandedSize(limit: Int) -> Expansion {
        guard let root else { return .size(0) }
        // Iterative post-order over the node graph (no recursion: nesting
        // may be deep), each node's expanded size computed once.
        var size = [Int](repeating: -1, count: nodes.count)   // -1 unvisited, -2 on the path
        var stack: [(node: Int, children: [Int], next: Int)] = [(root, children(of: root), 0)]
        size[root] = -2
        while !stack.isEmpty {
            let top = stack.count - 1
            if stack[top].next < stack[top].children.count {
                let child = stack[top].children[stack[top].next]
                stack[top].next += 1
                if size[child] == -2 { return .cycle(nodes[child].mark) }
                if size[child] == -1 { size[child] = -2; stack.append((child, children(of: child), 0)) }
                continue
            }
            var total = 1
            for child in stack[top].children { total = min(total + size[child], limit + 1) }
            size[stack[top].node] = total
            stack.removeLast()
        }
        return .size(size[root])
    }

    private func children(of node: Int) -> [Int] {
        switch nodes[node].kind {
        case .scalar: return []
        case .sequence(let items): return items
        case .mapping(let pairs): return pairs.flatMap { [$0.key, $0.value] }
        }
    }

    /// Parses the first document of `bytes`. A second document is an error:
    /// a table is one document.
    static func parse(_ bytes: [UInt8]) -> Result<YAMLDocument, SyntaxError> {
        let loader = Loader()
        return bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&loader.parser, buffer.baseAddress ?? UnsafePointer(bitPattern: 1), buffer.count)
            guard let first = loader.loadDocument() else { return .failure(loader.syntaxError(bytes)) }
            defer { yaml_document_delete(first) }
            let document = convert(first)
            if document.root != nil {
                guard let second = loader.loadDocument() else { return .failure(loader.syntaxError(bytes)) }
                defer { yaml_document_delete(second) }
                if let extra = yaml_document_get_root_node(second) {
                    return .failure(SyntaxError(
                        message: "a table is a single YAML document; remove the second document",
                        mark: mark(extra.pointee.start_mark)))
                }
            }
            return .success(document)
        }
    }

    /// Owns the libyaml parser and frees it however parsing ends.
    private final class Loader {
        var parser = yaml_parser_t()
        private var documents: [UnsafeMutablePointer<yaml_document_t>] = []

        init() { yaml_parser_initialize(&parser) }

        deinit {
            yaml_parser_delete(&parser)
            for d in documents { d.deallocate() }
        }

        func loadDocument() -> UnsafeMutablePointer<yaml_document_t>? {
            let document = UnsafeMutablePointer<yaml_document_t>.allocate(capacity: 1)
            documents.append(document)
            guard yaml_parser_load(&parser, document) != 0 else { return nil }
            return document
        }

        func syntaxError(_ bytes: [UInt8]) -> SyntaxError {
            var text = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
            if let context = parser.context.map({ String(cString: $0) }) {
                text = "\(text) \(context)"
            }
            switch parser.error {
            case YAML_SCANNER_ERROR, YAML_PARSER_ERROR, YAML_COMPOSER_ERROR:
                return SyntaxError(message: "YAML syntax: \(text)", mark: YAMLDocument.mark(parser.problem_mark))
            case YAML_READER_ERROR:
                // The reader (encoding, control characters) gives a byte
                // offset and the offending value, not a mark.
                let value = parser.problem_value
                let what = parser.problem.map { String(cString: $0) }?.contains("UTF-8") == true
                    ? "byte 0x" + String(value, radix: 16) : "U+" + String(value, radix: 16, uppercase: true)
                return SyntaxError(message: "YAML syntax: \(text) (\(what))",
                                   mark: Mark(offset: Int(parser.problem_offset), in: bytes))
            default:
                return SyntaxError(message: "YAML syntax: \(text)", mark: nil)
            }
        }
    }

    private static func mark(_ m: yaml_mark_t) -> Mark {
        Mark(line: Int(m.line) + 1, column: Int(m.column) + 1)
    }

    private static func convert(_ document: UnsafeMutablePointer<yaml_document_t>) -> YAMLDocument {
        guard yaml_document_get_root_node(document) != nil,
              let start = document.pointee.nodes.start else {
            return YAMLDocument(nodes: [], root: nil)
        }
        let count = document.pointee.nodes.top - start
        var nodes: [Node] = []
        nodes.reserveCapacity(count)
        for i in 0..<count {
            let n = start[i]
            let kind: Kind
            switch n.type {
            case YAML_SCALAR_NODE:
                let s = n.data.scalar
                let text = String(decoding: UnsafeBufferPointer(start: s.value, count: s.length), as: UTF8.self)
                kind = .scalar(text, quoted: s.style != YAML_PLAIN_SCALAR_STYLE)
            case YAML_SEQUENCE_NODE:
                let items = n.data.sequence.items
                var list: [Int] = []
                if let first = items.start {
                    list = (0..<(items.top - first)).map { Int(first[$0]) - 1 }
                }
                kind = .sequence(list)
            default:
                let pairs = n.data.mapping.pairs
                var list: [(key: Int, value: Int)] = []
                if let first = pairs.start {
                    list = (0..<(pairs.top - first)).map { (Int(first[$0].key) - 1, Int(first[$0].value) - 1) }
                }
                kind = .mapping(list)
            }
            nodes.append(Node(kind: kind, mark: mark(n.start_mark)))
        }
        // libyaml numbers nodes from 1 and the root is the first node.
        return YAMLDocument(nodes: nodes, root: 0)
    }
}
