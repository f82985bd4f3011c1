/// The named groups of system calls `system_calls` accepts, by systemd's
/// names and meaning (systemd.exec(5), SystemCallFilter=), so a filter
/// written for a unit reads the same here. A group may name other groups.
/// Names this machine's libseccomp does not know (another architecture's,
/// or obsolete ones) are skipped when a filter is built, as systemd does.
enum SystemCallGroups {
    static let all: [String: [String]] = [
        "@default": ["arch_prctl", "brk", "cacheflush", "clock_getres", "clock_getres_time64", "clock_gettime",
                     "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "execve", "exit", "exit_group",
                     "futex_time64", "getrandom", "mmap", "mmap2", "mprotect", "munmap", "riscv_hwprobe", "sched_getaffinity",
                     "futex", "futex_waitv", "get_robust_list", "get_thread_area", "getegid", "geteuid",
                     "getgid", "getgroups", "getpgid", "getpgrp", "getpid", "getppid", "getresgid",
                     "getresuid", "getrlimit", "getsid", "gettid", "gettimeofday", "getuid", "membarrier",
                     "nanosleep", "pause", "prlimit64", "restart_syscall",
                     "riscv_flush_icache", "rseq", "rt_sigreturn", "sched_yield",
                     "set_robust_list", "set_thread_area", "set_tid_address", "set_tls", "sigreturn",
                     "time", "ugetrlimit"],
        "@aio": ["io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_setup", "io_submit",
                 "io_uring_enter", "io_uring_register", "io_uring_setup"],
        "@basic-io": ["_llseek", "close", "close_range", "dup", "dup2", "dup3", "lseek", "pread64", "preadv",
                      "preadv2", "pwrite64", "pwritev", "pwritev2", "read", "readv", "write", "writev"],
        "@chown": ["chown", "chown32", "fchown", "fchown32", "fchownat", "lchown", "lchown32"],
        "@clock": ["adjtimex", "clock_adjtime", "clock_settime", "settimeofday", "stime"],
        "@cpu-emulation": ["modify_ldt", "subpage_prot", "switch_endian", "vm86", "vm86old"],
        "@debug": ["lookup_dcookie", "perf_event_open", "pidfd_getfd", "ptrace", "rtas", "sys_debug_setcontext"],
        "@file-system": ["access", "chdir", "chmod", "close", "creat", "faccessat", "faccessat2", "fallocate",
                         "fchdir", "fchmod", "fchmodat", "fchmodat2", "fcntl", "fcntl64", "fgetxattr",
                         "flistxattr", "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs",
                         "fstatfs64", "ftruncate", "ftruncate64", "futimesat", "getcwd", "getdents",
                         "getdents64", "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1",
                         "inotify_rm_watch", "lgetxattr", "link", "linkat", "listxattr", "llistxattr",
                         "lremovexattr", "lsetxattr", "lstat", "lstat64", "mkdir", "mkdirat", "mknod",
                         "mknodat", "mmap", "mmap2", "munmap", "newfstatat", "oldfstat", "oldlstat", "oldstat",
                         "open", "openat", "openat2", "readlink", "readlinkat", "removexattr", "rename",
                         "renameat", "renameat2", "rmdir", "setxattr", "stat", "stat64", "statfs", "statfs64",
                         "statx", "symlink", "symlinkat", "truncate", "truncate64", "unlink", "unlinkat",
                         "utime", "utimensat", "utimes"],
        "@io-event": ["_newselect", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old",
                      "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2",
                      "poll", "ppoll", "pselect6", "select"],
        "@ipc": ["ipc", "memfd_create", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
                 "mq_timedsend", "mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd", "pipe", "pipe2",
                 "process_madvise", "process_vm_readv", "process_vm_writev", "semctl", "semget", "semop",
                 "semtimedop", "shmat", "shmctl", "shmdt", "shmget"],
        "@keyring": ["add_key", "keyctl", "request_key"],
        "@memlock": ["mlock", "mlock2", "mlockall", "munlock", "munlockall"],
        "@module": ["delete_module", "finit_module", "init_module"],
        "@mount": ["chroot", "fsconfig", "fsmount", "fsopen", "fspick", "mount", "mount_setattr", "move_mount",
                   "open_tree", "pivot_root", "umount", "umount2"],
        "@network-io": ["accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt",
                        "listen", "recv", "recvfrom", "recvmmsg", "recvmsg", "send", "sendmmsg", "sendmsg",
                        "sendto", "setsockopt", "shutdown", "socket", "socketcall", "socketpair"],
        "@obsolete": ["_sysctl", "afs_syscall", "bdflush", "break", "create_module", "ftime", "get_kernel_syms",
                      "getpmsg", "gtty", "idle", "lock", "mpx", "prof", "profil", "putpmsg", "query_module",
                      "security", "sgetmask", "ssetmask", "stty", "sysfs", "tuxcall", "ulimit", "uselib",
                      "ustat", "vserver"],
        "@privileged": ["@chown", "@clock", "@module", "@raw-io", "@reboot", "@swap", "_sysctl", "acct", "bpf",
                        "capset", "chroot", "fanotify_init", "fanotify_mark", "nfsservctl", "open_by_handle_at",
                        "pivot_root", "quotactl", "setdomainname", "setfsuid", "setfsuid32", "setgroups",
                        "setgroups32", "sethostname", "setresuid", "setresuid32", "setreuid", "setreuid32",
                        "setuid", "setuid32", "vhangup"],
        "@process": ["arch_prctl", "capget", "clone", "clone3", "execveat", "fork", "getrusage", "kill",
                     "pidfd_open", "pidfd_send_signal", "prctl", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
                     "setns", "swapcontext", "tgkill", "times", "tkill", "unshare", "vfork", "wait4",
                     "waitid", "waitpid"],
        "@raw-io": ["ioperm", "iopl", "pciconfig_iobase", "pciconfig_read", "pciconfig_write"],
        "@reboot": ["kexec_file_load", "kexec_load", "reboot"],
        "@resources": ["ioprio_set", "mbind", "migrate_pages", "move_pages", "nice", "sched_setaffinity",
                       "sched_setattr", "sched_setparam", "sched_setscheduler", "set_mempolicy", "setpriority",
                       "setrlimit"],
        "@setuid": ["setgid", "setgid32", "setgroups", "setgroups32", "setregid", "setregid32", "setresgid",
                    "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setuid", "setuid32"],
        "@signal": ["rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigsuspend", "rt_sigtimedwait",
                    "sigaction", "sigaltstack", "signal", "signalfd", "signalfd4", "sigpending", "sigprocmask",
                    "sigsuspend"],
        "@swap": ["swapoff", "swapon"],
        "@sync": ["fdatasync", "fsync", "msync", "sync", "sync_file_range", "sync_file_range2", "syncfs"],
        "@timer": ["alarm", "getitimer", "setitimer", "timer_create", "timer_delete", "timer_getoverrun",
                   "timer_gettime", "timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime",
                   "times"],
        "@system-service": ["@aio", "@basic-io", "@chown", "@default", "@file-system", "@io-event", "@ipc",
                            "@keyring", "@memlock", "@network-io", "@process", "@resources", "@setuid",
                            "@signal", "@sync", "@timer", "brk", "cachestat", "capget", "capset",
                            "copy_file_range", "fadvise64", "fadvise64_64", "flock", "get_mempolicy", "getcpu",
                            "getpriority", "getrandom", "ioctl", "ioprio_get", "kcmp", "madvise", "mprotect",
                            "mremap", "name_to_handle_at", "oldolduname", "olduname", "personality",
                            "readahead", "readdir", "remap_file_pages", "sched_get_priority_max",
                            "sched_get_priority_min", "sched_getaffinity", "sched_getattr", "sched_getparam",
                            "sched_getscheduler", "sched_rr_get_interval", "sched_yield", "sendfile",
                            "sendfile64", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setpgid",
                            "setsid", "splice", "sysinfo", "tee", "umask", "uname", "userfaultfd", "vmsplice"],
    ]

    /// The system call names `item` stands for (a group, expanded, or a
    /// plain name), or nil for a group that does not exist.
    static func expand(_ item: String) -> [String]? {
        guard item.hasPrefix("@") else { return [item] }
        guard let members = all[item] else { return nil }
        var out: [String] = []
        for m in members { out += expand(m) ?? [] }
        return out
    }

    /// Every plain name some group lists (for did-you-mean).
    static let knownNames: [String] = Array(Set(all.values.joined().filter { !$0.hasPrefix("@") })).sorted()
}
