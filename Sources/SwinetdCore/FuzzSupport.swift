/// What the table fuzzer (Sources/TableFuzzer) needs of the library's
/// internals, and nothing else uses. `package`, not `public`: the fuzzer is
/// a target of this package, and the library's users have no use for it.
/// At the top of the library, not in a folder: it drives Config, Import,
/// Control and PackedCoding together.
package enum FuzzSupport {
    /// Whether `value` comes back equal from `PackedCoding`.
    package static func roundTrips<T: Codable & Equatable>(_ value: T) -> Bool {
        guard let bytes = try? PackedCoding.encode(value) else { return false }
        return (try? PackedCoding.decode(T.self, from: bytes)) == value
    }

    /// The control socket's and the metrics server's readers on `bytes`:
    /// whatever parses as JSON survives writing and reading back, and any
    /// request head gets an HTTP response.
    package static func controlInputHolds(_ bytes: [UInt8]) -> Bool {
        if case .success(let value) = JSON.parse(bytes) {
            guard case .success(let again) = JSON.parse(Array(value.text.utf8)), again == value else { return false }
        }
        return MetricsServer.response(to: bytes) { MetricsServer.ok("body") }.starts(with: Array("HTTP/1.1 ".utf8))
    }

    /// Both importers on `bytes` as an inetd.conf and as an xinetd file:
    /// whatever they read, the table they write holds exactly the services
    /// read, read back by the loader, and loads when it serves anything,
    /// which is what `swinetd import` promises. The first line is also
    /// tried as the file's name, which every `# from` comment carries (a
    /// directory may hold a file of any name).
    package static func importHolds(_ bytes: [UInt8]) -> Bool {
        let lines = ImportInput.lines(of: bytes)
        var xinetd = XinetdConf(includeDisabled: true)
        xinetd.followIncludes = false
        for name in ["fuzz.conf", String(lines.first ?? "")] {
            for var result in [InetdConf(includeDisabled: true).read(lines: lines, path: name), xinetd.read(lines: lines, path: name)] {
                guard !result.services.isEmpty else { continue }
                let (table, served, mismatch) = ImportWriter.render(&result, source: name)
                if mismatch != nil { return false }
                if served > 0, case .failure = TableLoader().load(bytes: Array(table.utf8), file: "import.yaml") { return false }
            }
        }
        return true
    }

    /// The PROXY header parser on `bytes`, under each version: a header
    /// it calls complete lies within the bytes and within the longest a
    /// header may be, and the same bytes with more after them give the
    /// same header (the client's stream never changes where it starts).
    package static func proxyHeaderHolds(_ bytes: [UInt8]) -> Bool {
        for version in ProxyProtocol.Version.allCases {
            let outcome = bytes.withUnsafeBytes { ProxyHeader.parse($0, version: version) }
            guard case .complete(let h) = outcome else { continue }
            guard h.length <= bytes.count, h.length <= ProxyHeader.longest else { return false }
            let longer = bytes + Array("more".utf8)
            guard case .complete(let again) = longer.withUnsafeBytes({ ProxyHeader.parse($0, version: version) }),
                  again.length == h.length, again.isLocal == h.isLocal else { return false }
        }
        return true
    }

    /// A file's bytes (the replay mode's inputs).
    package static func read(_ path: String) -> [UInt8]? {
        try? FileBytes.read(path).get()
    }
}
