/// Which `env_by_source` rule a client falls under: the first (lowest
/// numbered) rule with a network holding it. Built once per table load:
/// per family, for each prefix length the rules use, the networks of that
/// length and the lowest rule naming each; a client costs one lookup per
/// length in use (at most 33 for IPv4), whatever the number of rules.
struct SourceRuleIndex {
    private var ipv4: [(length: Int, rules: [PeerAddress: Int])] = []
    private var ipv6: [(length: Int, rules: [PeerAddress: Int])] = []

    init(_ rules: [SourceEnvironment]) {
        var v4: [Int: [PeerAddress: Int]] = [:], v6: [Int: [PeerAddress: Int]] = [:]
        for (index, rule) in rules.enumerated() {
            for p in rule.from.prefixes {
                let network = PeerAddress(isIPv4: p.isIPv4, high: p.high, low: p.low)
                if p.isIPv4 {
                    if v4[p.length, default: [:]][network] == nil { v4[p.length, default: [:]][network] = index }
                } else if v6[p.length, default: [:]][network] == nil {
                    v6[p.length, default: [:]][network] = index
                }
            }
        }
        ipv4 = v4.map { ($0.key, $0.value) }.sorted { $0.length > $1.length }
        ipv6 = v6.map { ($0.key, $0.value) }.sorted { $0.length > $1.length }
    }

    var isEmpty: Bool { ipv4.isEmpty && ipv6.isEmpty }

    /// The index of the first rule that holds `peer`, or nil.
    func rule(for peer: PeerAddress) -> Int? {
        var best: Int?
        for (length, rules) in peer.isIPv4 ? ipv4 : ipv6 {
            if let i = rules[peer.masked(length)], i < (best ?? .max) { best = i }
        }
        return best
    }
}
