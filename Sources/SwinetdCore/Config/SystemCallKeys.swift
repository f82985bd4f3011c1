import CSeccomp

/// The reader of `system_calls` (swinetd.yaml(5), ISOLATION).
extension Validation {
    /// `system_calls: {allow: [...], deny: [...], action: kill|EPERM}`:
    /// names and @groups; a name this machine's libseccomp does not know is
    /// an error (with did-you-mean), a group's members it does not know are
    /// skipped. execve cannot be denied: the handler would never start.
    mutating func systemCalls(_ node: Int) -> SystemCalls? {
        let key = ServiceKey.systemCalls.name
        guard case .mapping(let pairs) = document[node].kind else {
            error(node, "'\(key)' must be a map: {allow: [@system-service], deny: [@privileged], action: kill}")
            return nil
        }
        var out = SystemCalls()
        var ok = true
        var sawList = false
        for pair in pairs {
            guard let name = plainKey(pair.key) else { ok = false; continue }
            switch name {
            case "allow", "deny":
                sawList = true
                guard let list = systemCallNames(pair.value, key: "\(key).\(name)") else { ok = false; continue }
                if name == "allow" { out.allow = list } else { out.deny = list }
            case "action":
                if case .scalar(let text, _) = document[pair.value].kind, let a = SystemCalls.Action(rawValue: text == "EPERM" || text == "eperm" ? "EPERM" : text) {
                    out.action = a
                } else {
                    error(pair.value, "'\(key).action' must be kill or EPERM")
                    ok = false
                }
            default:
                var message = "unknown key '\(name)' in '\(key)' (allow, deny, action)"
                if let guess = Spelling.suggestion(for: name, among: ["allow", "deny", "action"]) { message += "; did you mean '\(guess)'?" }
                error(pair.key, message)
                ok = false
            }
        }
        guard ok else { return nil }
        guard sawList else {
            error(node, "'\(key)' needs 'allow', 'deny' or both")
            return nil
        }
        let denied = Set(out.deny.flatMap { SystemCallGroups.expand($0) ?? [] })
        if let call = ["execve", "exit", "exit_group"].first(where: denied.contains) {
            error(node, "'\(key)' denies \(call): \(call == "execve" ? "the handler could never be started" : "a handler could never end")")
            return nil
        }
        guard sandboxSupport.kernelFiltersSystemCalls else {
            error(node, "'\(key)' needs a kernel that filters system calls (seccomp), which this one does not")
            return nil
        }
        return out
    }

    private mutating func systemCallNames(_ node: Int, key: String) -> [String]? {
        guard case .sequence(let items) = document[node].kind else {
            error(node, "'\(key)' must be a list of system calls and @groups, such as [@system-service]")
            return nil
        }
        var out: [String] = []
        var ok = true
        for item in items {
            guard let name = string(item, key: key) else { ok = false; continue }
            if name.hasPrefix("@") {
                guard SystemCallGroups.all[name] != nil else {
                    var message = "unknown system call group '\(name)'"
                    if let guess = Spelling.suggestion(for: name, among: SystemCallGroups.all.keys.sorted()) { message += "; did you mean '\(guess)'?" }
                    error(item, message)
                    ok = false
                    continue
                }
            } else if seccomp_syscall_resolve_name(name) == -1 {   // __NR_SCMP_ERROR; below it: another architecture's, skipped
                var message = "unknown system call '\(name)'"
                if let guess = Spelling.suggestion(for: name, among: SystemCallGroups.knownNames) { message += "; did you mean '\(guess)'?" }
                error(item, message)
                ok = false
                continue
            }
            if !out.contains(name) { out.append(name) }
        }
        return ok ? out : nil
    }
}
