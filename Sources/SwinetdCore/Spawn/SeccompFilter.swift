#if canImport(Glibc)
import Glibc
#endif
import CLinux
import CSeccomp

/// A service's seccomp filter, built once with libseccomp when the
/// service's plan is made and loaded by each handler's child
/// (seccomp(SECCOMP_SET_MODE_FILTER)) before execve: the BPF program's
/// bytes, which the child points the kernel at.
///
/// Built for the machine's own architecture only: a system call made
/// through another ABI (i386's int 0x80, x32) fails libseccomp's
/// architecture check and the whole process is killed (not only the
/// thread), so no family check can be slipped past through a 32-bit entry.
final class SeccompFilter {
    /// struct sock_filter, 8 bytes each.
    let program: UnsafeMutableRawBufferPointer
    var instructions: Int { program.count / 8 }

    private init(_ bytes: [UInt8]) {
        program = .allocate(byteCount: max(bytes.count, 8), alignment: 8)
        program.copyBytes(from: bytes)
    }

    deinit { program.deallocate() }

    private static let allow: UInt32 = 0x7fff_0000          // SCMP_ACT_ALLOW
    private static let killProcess: UInt32 = 0x8000_0000    // SCMP_ACT_KILL_PROCESS
    private static func fail(_ errno: Int32) -> UInt32 { 0x0005_0000 | UInt32(errno) }   // SCMP_ACT_ERRNO

    /// The service's one filter for `address_families` and `system_calls`
    /// together (a handler loads one program, checked once per call).
    ///
    /// `address_families`: socket(2) and socketpair(2) with any family not
    /// listed fail with EAFNOSUPPORT (systemd's RestrictAddressFamilies=);
    /// the sockets the handler was given keep working. io_uring, which
    /// makes sockets inside the kernel where no filter sees the family
    /// (IORING_OP_SOCKET), is not there at all (ENOSYS, so a program falls
    /// back to plain system calls).
    ///
    /// `system_calls` (systemd's SystemCallFilter=): with `allow`, only
    /// @default, the calls listed and the groups' members are allowed,
    /// less those of `deny`; with `deny` alone, everything but those.
    /// Anything else kills the process (SIGSYS) or fails with EPERM, as
    /// `action` says. A failure of libseccomp is returned (the spawn then
    /// fails: never a handler without its filter).
    static func build(families: [AddressFamily]?, systemCalls: SystemCalls?) -> Result<SeccompFilter, Errno> {
        let refused = systemCalls.map { $0.action == .kill ? killProcess : fail(EPERM) } ?? killProcess
        let allowList = systemCalls?.allow.map { Set(numbers(["@default"] + $0)) }
        let denied = Set(numbers(systemCalls?.deny ?? []))
        let fallback = allowList == nil ? allow : refused
        guard let ctx = seccomp_init(fallback) else { return .failure(.noMemory) }
        defer { seccomp_release(ctx) }
        var rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, killProcess)
        if rc < 0 { return .failure(Errno(rawValue: -rc)) }
        // A binary tree of system call numbers, not a list: the kernel
        // checks every call of the handler against it, and at each load
        // runs it once per system call number to fill its cache, which for
        // @system-service's ~280 calls halves the load (~450 µs to ~180 µs
        // measured here), time the master waits in the spawn.
        if allowList != nil {
            rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)
            if rc < 0 { return .failure(Errno(rawValue: -rc)) }
        }
        func add(_ action: UInt32, _ number: Int32, _ compare: scmp_arg_cmp? = nil) -> Errno? {
            guard action != fallback || compare != nil else { return nil }
            let r: Int32
            if var c = compare {
                r = seccomp_rule_add_array(ctx, action, number, 1, &c)
            } else {
                r = seccomp_rule_add_array(ctx, action, number, 0, nil)
            }
            return r < 0 ? Errno(rawValue: -r) : nil
        }
        // What each call does before `address_families` is applied.
        func plain(_ number: Int32) -> UInt32 {
            if denied.contains(number) { return refused }
            if let allowList { return allowList.contains(number) ? allow : refused }
            return allow
        }
        var special: Set<Int32> = []
        if let families {
            let refuse = fail(EAFNOSUPPORT)
            // As systemd builds it: below the first family listed and above
            // the last, one comparison each; in between, one per family
            // left out (and, when the fallback is not to allow, one per
            // family kept). The program stays short, which matters because
            // the kernel checks and compiles it again at every handler's load.
            let keep = families.map(\.number).sorted()
            for call in ["socket", "socketpair"] {
                let number = seccomp_syscall_resolve_name(call)
                guard number >= 0, plain(number) == allow else { continue }
                special.insert(number)
                guard let first = keep.first, let last = keep.last else {
                    if let e = add(refuse, number) { return .failure(e) }   // []: none at all
                    continue
                }
                var compares = [scmp_arg_cmp(arg: 0, op: SCMP_CMP_LT, datum_a: scmp_datum_t(first), datum_b: 0),
                                scmp_arg_cmp(arg: 0, op: SCMP_CMP_GT, datum_a: scmp_datum_t(last), datum_b: 0)]
                for family in first...last where !keep.contains(family) {
                    compares.append(scmp_arg_cmp(arg: 0, op: SCMP_CMP_EQ, datum_a: scmp_datum_t(family), datum_b: 0))
                }
                for c in compares { if let e = add(refuse, number, c) { return .failure(e) } }
                if fallback != allow {
                    for family in keep {
                        let c = scmp_arg_cmp(arg: 0, op: SCMP_CMP_EQ, datum_a: scmp_datum_t(family), datum_b: 0)
                        if let e = add(allow, number, c) { return .failure(e) }
                    }
                }
            }
        }
        // Under any filter: io_uring's operations (IORING_OP_OPENAT,
        // _SOCKET, _CONNECT...) run inside the kernel where no filter sees
        // them, so a deny list or a family list would be stepped around.
        for call in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
            let number = seccomp_syscall_resolve_name(call)
            guard number >= 0, plain(number) == allow else { continue }   // a libseccomp older than io_uring
            special.insert(number)
            if let e = add(fail(ENOSYS), number) { return .failure(e) }
        }
        for number in (allowList ?? []).union(denied).subtracting(special).sorted() {
            if let e = add(plain(number), number) { return .failure(e) }
        }
        return export(ctx)
    }

    /// The native numbers of `items` (names and @groups); names this
    /// machine's libseccomp does not know are skipped, as systemd does.
    private static func numbers(_ items: [String]) -> [Int32] {
        items.flatMap { SystemCallGroups.expand($0) ?? [] }.map { seccomp_syscall_resolve_name($0) }.filter { $0 >= 0 }
    }

    /// libseccomp writes the program to a descriptor: a memfd, read back.
    private static func export(_ ctx: scmp_filter_ctx) -> Result<SeccompFilter, Errno> {
        let fd = clinux_memfd("swinetd-seccomp")
        guard fd >= 0 else { return .failure(.current) }
        defer { closeDescriptor(fd) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        let rc = seccomp_export_bpf(ctx, fd)
        if rc < 0 { return .failure(Errno(rawValue: -rc)) }
        guard lseek(fd, 0, SEEK_SET) == 0 else { return .failure(.current) }
        switch readAll(fd, limit: 1 << 20) {
        case .success(let bytes) where !bytes.isEmpty && bytes.count % 8 == 0: return .success(SeccompFilter(bytes))
        case .success: return .failure(.invalidArgument)
        case .failure(let e): return .failure(e)
        }
    }
}
