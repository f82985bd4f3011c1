#if canImport(Glibc)
import Glibc
#endif

/// What the host offers the isolation keys, each asked at most once per
/// table load.
struct SandboxSupport {
    private var cache: (last: Int??, own: Capabilities??, namespace: Errno??, seccomp: Bool?) = (nil, nil, nil, nil)

    /// swinetd's own capability sets, as /proc/self/status has them.
    struct Capabilities {
        var effective: UInt64
        var permitted: UInt64
        var bounding: UInt64
    }

    var lastCapability: Int? {
        mutating get {
            if let known = cache.last { return known }
            let value = Capability.lastKnownByKernel
            cache.last = .some(value)
            return value
        }
    }

    var ownCapabilities: Capabilities? {
        mutating get {
            if let known = cache.own { return known }
            var value: Capabilities?
            if case .success(let bytes) = FileBytes.read("/proc/self/status", limit: 1 << 16) {
                var fields: [String: UInt64] = [:]
                for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
                    let parts = line.split(separator: ":", maxSplits: 1)
                    guard parts.count == 2, parts[0].hasPrefix("Cap") else { continue }
                    fields[String(parts[0])] = UInt64(parts[1].drop { $0 == "\t" || $0 == " " }, radix: 16)
                }
                if let e = fields["CapEff"], let p = fields["CapPrm"], let b = fields["CapBnd"] {
                    value = Capabilities(effective: e, permitted: p, bounding: b)
                }
            }
            cache.own = .some(value)
            return value
        }
    }

    /// Whether the kernel filters system calls (/proc/self/status has a
    /// Seccomp line where it does).
    var kernelFiltersSystemCalls: Bool {
        mutating get {
            if let known = cache.seccomp { return known }
            var value = false
            if case .success(let bytes) = FileBytes.read("/proc/self/status", limit: 1 << 16) {
                value = String(decoding: bytes, as: UTF8.self).split(separator: "\n").contains { $0.hasPrefix("Seccomp:") }
            }
            cache.seccomp = value
            return value
        }
    }

    /// Why the view `s` describes cannot be made here ("protect_system
    /// /usr: Function not implemented": a kernel without the new mount
    /// API, a path that cannot be mounted over), or nil: one is made and
    /// closed to see, once per distinct view in a load.
    mutating func viewFailure(_ s: Sandbox) -> String? {
        let key = FileSystemView.steps(s).map { "\($0.kind.rawValue) \($0.path)" }.joined(separator: "\n")
        if let known = views[key] { return known }
        var value: String?
        if let view = FileSystemView(s), let failure = view.make() { value = "\(failure.step): \(failure.error.text)" }
        views[key] = .some(value)
        return value
    }
    private var views: [String: String?] = [:]

    /// Why no network namespace can be made here (nil: one can).
    var networkNamespaceFailure: Errno? {
        mutating get {
            if let known = cache.namespace { return known }
            let value = NetworkNamespace.canBeMade()
            cache.namespace = .some(value)
            return value
        }
    }
}
