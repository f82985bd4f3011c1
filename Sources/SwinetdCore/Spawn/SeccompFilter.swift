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

    /// `address_families`: socket(2) and socketpair(2) with any family not
    /// listed fail with EAFNOSUPPORT (systemd's RestrictAddressFamilies=);
    /// the sockets the handler was given keep working. io_uring, which
    /// makes sockets inside the kernel where no filter sees the family
    /// (IORING_OP_SOCKET), is not there at all (ENOSYS, so a program falls
    /// back to plain system calls). A failure of libseccomp is returned
    /// (the spawn then fails: never a handler without its filter).
    static func addressFamilies(_ allowed: [AddressFamily]) -> Result<SeccompFilter, Errno> {
        guard let ctx = seccomp_init(0x7fff_0000) else { return .failure(.noMemory) }   // SCMP_ACT_ALLOW
        defer { seccomp_release(ctx) }
        var rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, 0x8000_0000)   // SCMP_ACT_KILL_PROCESS
        if rc < 0 { return .failure(Errno(rawValue: -rc)) }
        let refuse: UInt32 = 0x0005_0000 | UInt32(EAFNOSUPPORT)   // SCMP_ACT_ERRNO(EAFNOSUPPORT)
        // As systemd builds it: below the first family listed and above
        // the last, one comparison each; in between, one per family left
        // out. The program stays short, which matters because the kernel
        // checks and compiles it again at every handler's load.
        let keep = allowed.map(\.number).sorted()
        var compares: [scmp_arg_cmp] = []
        if let first = keep.first, let last = keep.last {
            compares.append(scmp_arg_cmp(arg: 0, op: SCMP_CMP_LT, datum_a: scmp_datum_t(first), datum_b: 0))
            compares.append(scmp_arg_cmp(arg: 0, op: SCMP_CMP_GT, datum_a: scmp_datum_t(last), datum_b: 0))
            for family in first..<last where !keep.contains(family) {
                compares.append(scmp_arg_cmp(arg: 0, op: SCMP_CMP_EQ, datum_a: scmp_datum_t(family), datum_b: 0))
            }
        }
        for call in ["socket", "socketpair"] {
            let number = seccomp_syscall_resolve_name(call)
            if compares.isEmpty {
                rc = seccomp_rule_add_array(ctx, refuse, number, 0, nil)   // [] : none at all
                if rc < 0 { return .failure(Errno(rawValue: -rc)) }
            }
            for var compare in compares {
                rc = seccomp_rule_add_array(ctx, refuse, number, 1, &compare)
                if rc < 0 { return .failure(Errno(rawValue: -rc)) }
            }
        }
        let absent: UInt32 = 0x0005_0000 | UInt32(ENOSYS)
        for call in ["io_uring_setup", "io_uring_enter", "io_uring_register"] {
            let number = seccomp_syscall_resolve_name(call)
            guard number >= 0 else { continue }   // a libseccomp older than io_uring
            rc = seccomp_rule_add_array(ctx, absent, number, 0, nil)
            if rc < 0 { return .failure(Errno(rawValue: -rc)) }
        }
        return export(ctx)
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
