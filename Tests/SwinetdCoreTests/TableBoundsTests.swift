import Testing
@testable import SwinetdCore
#if canImport(Glibc)
import Glibc
#endif

/// What bounds the work a table can cause, and where its mistakes are.
@Suite struct TableBoundsTests {
    @Test func aliasesThatMultiplyAreRefusedBeforeValidation() {
        var t = "services:\n  a:\n    listen: 127.0.0.1:1\n    exec: /bin/cat\n    env: &e {"
        t += (0..<1000).map { "V\($0): x" }.joined(separator: ", ") + "}\n"
        for i in 1..<200 { t += "  s\(i): {listen: \"127.0.0.1:\(i + 1)\", exec: /bin/cat, env: *e}\n" }
        let got = diagnostics(t)
        #expect(got.count == 1)
        #expect(got.first?.hasPrefix("t.yaml: error: the table is too large: with its aliases expanded it has more than 250000 nodes") == true, "\(got)")
    }

    @Test func aliasesWithinTheBudgetLoad() throws {
        var t = "services:\n  a:\n    listen: 127.0.0.1:1\n    exec: /bin/cat\n    args: &a [x, y]\n"
        t += "  b: {listen: \"127.0.0.1:2\", exec: /bin/cat, args: *a}\n"
        let table = try TableLoader().load(bytes: Array(t.utf8), file: "t.yaml").get()
        #expect(table["b"]?.argv == ["cat", "x", "y"])
    }

    @Test func anAliasInsideItselfIsOneError() {
        #expect(diagnostics("services:\n  a: &a [*a]\n") == ["t.yaml:2:6: error: an alias inside the node it names: the table would be infinite"])
    }

    @Test func expandedSizeCountsEachReference() throws {
        let doc = try YAMLDocument.parse(Array("a: &x [1, 2]\nb: *x\nc: *x\n".utf8)).get()
        // root + 3 keys + 3 × (list + 2 items)
        #expect(doc.expandedSize(limit: 100) == .size(13))
        #expect(doc.expandedSize(limit: 5) == .size(6), "counting stops past the limit")
    }

    @Test func readerErrorsHaveAPosition() {
        let bad = Array("services:\n  é: {exec: /bin/c".utf8) + [0xff] + Array("at}\n".utf8)
        switch TableLoader().load(bytes: bad, file: "t.yaml") {
        case .success: Issue.record("loaded invalid UTF-8")
        case .failure(let e):
            #expect(e.diagnostics.map(\.description) == ["t.yaml:2:19: error: YAML syntax: invalid leading UTF-8 octet (byte 0xff)"])
        }
        #expect(diagnostics("services:\r\n  a:\r\n    exec: \u{1}\n") == ["t.yaml:3:11: error: YAML syntax: control characters are not allowed (U+1)"])
    }

    @Test func diagnosticsStopAtAHundred() throws {
        var t = "services:\n  a:\n    listen: 127.0.0.1:1\n    exec: /bin/cat\n"
        for i in 0..<250 { t += "    k\(i): 1\n" }
        guard case .failure(let e) = TableLoader().load(bytes: Array(t.utf8), file: "t.yaml") else {
            Issue.record("loaded"); return
        }
        #expect(e.diagnostics.count == 100 && e.omitted == 150 && e.count == 250)
        #expect(e.diagnostics.first?.description.hasPrefix("t.yaml:5:5: error: unknown key 'k0'") == true)
        #expect(e.lines.last == "t.yaml: error: and 150 more errors")
    }

    @Test func aHandlerExecveCannotRunIsAnError() throws {
        var template = Array("/tmp/swinetd-unit-XXXXXX".utf8CString)
        let dir = String(cString: mkdtemp(&template)!)
        defer { unlink(dir + "/plain"); unlink(dir + "/script"); rmdir(dir) }
        for (name, text) in [("plain", "echo no interpreter line\n"), ("script", "#!/bin/sh\necho fine\n")] {
            let fd = open(dir + "/" + name, O_WRONLY | O_CREAT, 0o755)
            _ = Array(text.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
        }
        #expect(diagnostics("services:\n  a: {listen: \"127.0.0.1:1\", exec: \(dir)/plain}\n")
                == ["t.yaml:2:36: error: 'exec' \(dir)/plain is neither an ELF binary nor a script starting with '#!' (execve would fail with 'Exec format error')"])
        #expect(diagnostics("services:\n  a: {listen: \"127.0.0.1:1\", exec: \(dir)/script}\n").isEmpty)
    }

    @Test func aTableFileMustBeRegular() {
        guard case .failure(let e) = TableLoader().load(path: "/dev/null") else { Issue.record("loaded /dev/null"); return }
        #expect(e.lines == ["/dev/null: error: cannot read the table: not a regular file (a device)"])
    }
}

/// The table and the loader's answer survive the trip between processes.
@Suite struct PackedCodingTests {
    @Test func aTableRoundTrips() throws {
        let yaml = String(decoding: read(fixtures + "../../../services.yaml"), as: UTF8.self)
        var table = try TableLoader().load(bytes: Array(yaml.utf8), file: "s.yaml").get()
        table.services[0].credentials = Credentials(uid: 65534, gid: 65534, groups: [65534, 4, 0])
        table.services[0].user = "nobody"
        let bytes = try PackedCoding.encode(table)
        #expect(try PackedCoding.decode(ServiceTable.self, from: bytes) == table)
        let errors = TableErrors([Diagnostic(file: "f", mark: Mark(line: 3, column: 9), message: "é \u{0}"),
                                  Diagnostic(file: "f", mark: nil, message: "")], omitted: 7)
        #expect(try PackedCoding.decode(TableErrors.self, from: PackedCoding.encode(errors)) == errors)
    }

    /// The loader's answer: only changed services carry their settings.
    @Test func theLoaderSendsOnlyWhatChanged() throws {
        let yaml = String(decoding: read(fixtures + "../../../services.yaml"), as: UTF8.self)
        let table = try TableLoader().load(bytes: Array(yaml.utf8), file: "s.yaml").get()
        var current = Dictionary(uniqueKeysWithValues: table.services.map { ($0.name, $0) })
        current["echo"]?.maxConnections = 1
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        var writer = FrameWriter(fd: ends[1])
        writer.write(.header, TableLoadProcess.Header(maxChildren: table.maxChildren, services: table.services.count))
        for c in table.services {
            if current[c.name] == c { writer.writeRaw(.unchanged, Array(c.name.utf8)) } else { writer.write(.changed, c) }
        }
        close(ends[1])
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(ends[0], $0.baseAddress, $0.count) }
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        close(ends[0])
        var stream = try TableStream.open(bytes, file: "s.yaml").get()
        var entries: [TableStream.Entry] = []
        while let e = try stream.next() { entries.append(e) }
        #expect(entries.first == .changed(table.services[0]))
        #expect(entries.dropFirst() == table.services.dropFirst().map { .unchanged($0.name) }[...])
        let back = try TableStream.open(bytes, file: "s.yaml").get().table(current: current)
        #expect(try back.get().services.dropFirst() == table.services.dropFirst())
        // Cut anywhere, the answer is refused, never misread.
        for n in stride(from: 0, to: bytes.count, by: 7) {
            let cut = Array(bytes.prefix(n))
            if case .success(let s) = TableStream.open(cut, file: "s.yaml"), case .success = s.table(current: current) {
                Issue.record("a cut answer of \(n) bytes was accepted")
            }
        }
    }

    @Test func truncatedOrForeignBytesAreRefused() throws {
        let bytes = try PackedCoding.encode(TableErrors([], omitted: -3))
        #expect(try PackedCoding.decode(TableErrors.self, from: bytes).omitted == -3)
        for n in 0..<bytes.count {
            #expect(throws: (any Error).self) { try PackedCoding.decode(TableErrors.self, from: Array(bytes.prefix(n))) }
        }
        #expect(throws: (any Error).self) { try PackedCoding.decode(ServiceTable.self, from: bytes) }
        #expect(throws: (any Error).self) { try PackedCoding.decode(TableErrors.self, from: [7, 0xff, 0xff, 0xff, 0xff, 0x0f]) }
    }
}

/// One list of keys serves validation, suggestions, the summary and the
/// manual; this checks the manual.
@Suite struct ServiceKeyTests {
    @Test func everyKeyIsDocumentedInTheManual() throws {
        let page = String(decoding: read(fixtures + "../../../man/swinetd.yaml.5"), as: UTF8.self)
        for key in ServiceKey.allCases {
            #expect(page.contains(".B \(key.name)\n"), "swinetd.yaml(5) has no entry for '\(key.name)'")
        }
        for key in TableKey.allCases { #expect(page.contains(".B \(key.rawValue)\n"), "no entry for '\(key.rawValue)'") }
    }

    @Test func theSummaryShowsEveryKey() throws {
        let copy = PrivateCopy(fixtures + "../../../services.yaml", as: "services.yaml")
        defer { copy.remove() }
        let table = try TableLoader().load(path: copy.path).get()
        let summary = TableSummary.render(table, file: "s.yaml")
        for key in ServiceKey.allCases { #expect(summary.contains("\n  \(key.name) "), "\(key.name) missing") }
    }

    @Test func suggestionsComeFromTheKeys() {
        #expect(diagnostics("services:\n  a: {listen: \"127.0.0.1:1\", exec: /bin/cat, bcklog: 3}\n")
                == ["t.yaml:2:46: error: unknown key 'bcklog' in service 'a'; did you mean 'backlog'?"])
    }
}
