/// The `services` maps of the table and of each file it includes: one
/// pass per map that names each service, refuses a name used twice (across
/// files too, naming the first place) or reserved for the master's log
/// lines, claims its addresses and resolves it against the defaults.
extension Validation {
    /// The services seen so far across the table's files.
    struct FoundServices {
        var services: [ServiceConfig] = []
        /// Where each name was first defined, for a duplicate's message.
        var seen: [String: (file: String, mark: Mark)] = [:]
        var origins: [String: String] = [:]
    }

    /// The pairs of a `services` map; nil (reported) when it is not a
    /// non-empty map.
    mutating func servicePairs(_ node: Int, emptyIsFine: Bool) -> [(key: Int, value: Int)]? {
        if isNull(node) {
            if !emptyIsFine { error(node, "'services' is empty: name at least one service") }
            return nil
        }
        guard case .mapping(let pairs) = document[node].kind else {
            error(node, "'services' must be a map from service name to its settings")
            return nil
        }
        if pairs.isEmpty && !emptyIsFine {
            error(node, "'services' is empty: name at least one service")
            return nil
        }
        return pairs
    }

    mutating func collect(_ pairs: [(key: Int, value: Int)], defaults: Settings, claims: inout AddressClaims, into found: inout FoundServices) {
        for pair in pairs {
            guard let name = plainKey(pair.key) else { continue }
            if let first = found.seen[name] {
                error(pair.key, first.file == file
                      ? "duplicate service name '\(name)'"
                      : "duplicate service name '\(name)': already defined at \(first.file):\(first.mark.line):\(first.mark.column)")
                continue
            }
            found.seen[name] = (file, document[pair.key].mark)
            found.origins[name] = "\(file):\(document[pair.key].mark.line)"
            if Validation.reservedNames.contains(name) {
                error(pair.key, "service name '\(name)' is reserved: swinetd's own log lines use it")
            } else if !Validation.isValidName(name) {
                error(pair.key, "invalid service name '\(name)': use only letters, digits, '.', '_' and '-'")
            }
            guard let keys = entries(of: pair.value, context: "in service '\(name)'", known: ServiceKey.self) else {
                error(pair.value, "service '\(name)' must be a map of settings")
                continue
            }
            var own = settings(keys)
            let transport = own.transport ?? defaults.transport ?? .tcp
            own.listen = own.listen.map { specs in specs.map { spec in
                var s = spec
                s.addresses = s.addresses.map { $0.with(transport) }
                return s
            } }
            // Claimed whatever else is wrong with the service, so a clash is never hidden.
            if own.enabled ?? defaults.enabled ?? true, let listen = own.listen {
                for (index, address) in listen.flatMap(\.addresses).enumerated() {
                    if let other = claims.claim(address, by: name) {
                        let whose = other == name ? "already listed in this service" : other == "'metrics'" ? "already used by 'metrics'" : "already used by service '\(other)'"
                        error(own.listenNodes[min(index, own.listenNodes.count - 1)], "address \(address) is \(whose)")
                    }
                }
            }
            if let service = resolve(name: name, nameNode: pair.key, own: own, defaults: defaults) {
                found.services.append(service)
            }
        }
    }

    /// The subjects of the master's own log lines: no service may take them,
    /// so a line's subject always says who it is about.
    public static let reservedNames: Set<String> = ["swinetd", "reload", "upgrade", "metrics"]

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { c in
            (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 46 || c == 95 || c == 45
        }
    }
}
