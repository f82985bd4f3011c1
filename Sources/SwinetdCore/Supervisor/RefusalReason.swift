/// Why a connection was accepted and closed at once, with no handler.
enum RefusalReason: String, CaseIterable, Equatable, Hashable {
    /// `deny`, or not in `allow`.
    case denied
    case perSource = "per-source"
    case sourceRate = "source-rate"
    /// `penalty`: the client's group is being kept out for a while.
    case penalty
    /// `proxy_protocol`: a balancer's header was wrong, or did not come in time.
    case proxyHeader = "proxy-header"
    /// `proxy_protocol`: a peer outside `from` (and no `direct: allow`).
    case proxyUntrusted = "proxy-untrusted"
}

extension RefusalReason {
    /// Whether `refuse_message` is written: to a client kept out by a
    /// limit it can wait out, not to one denied outright, nor to a load
    /// balancer whose header was wrong (its bytes would reach the client as
    /// the service's).
    var tellsTheClient: Bool {
        switch self {
        case .perSource, .sourceRate, .penalty: return true
        case .denied, .proxyHeader, .proxyUntrusted: return false
        }
    }
}
