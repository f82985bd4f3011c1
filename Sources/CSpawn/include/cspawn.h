// cspawn: the child side of swinetd's fork/exec, in C.
//
// Why C: between vfork and execve the child shares the master's memory and
// may make only raw system calls. Swift cannot promise that (its
// runtime may allocate, take locks or retain), so the master prepares every
// byte the child needs beforehand (argv, envp, groups, the descriptor plan)
// and this file only carries the plan out, in the order the classics use:
// signals, session, credentials, directory, descriptors, exec.
#ifndef CSPAWN_H
#define CSPAWN_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Where a failing child stopped; reported with the errno so the log can say
/// "setuid: Operation not permitted" rather than only "status 127".
enum cspawn_stage {
    CSPAWN_OK = 0,
    CSPAWN_STAGE_SETSID = 1,
    CSPAWN_STAGE_SETGROUPS = 2,
    CSPAWN_STAGE_SETGID = 3,
    CSPAWN_STAGE_SETUID = 4,
    CSPAWN_STAGE_CHDIR = 5,
    CSPAWN_STAGE_DUP2 = 6,         ///< the child's dup2 onto 0, 1 or 2
    CSPAWN_STAGE_EXECVE = 7,
    CSPAWN_STAGE_CLONE = 8,        ///< no child: clone failed
    CSPAWN_STAGE_CLOSE_RANGE = 9,  ///< the child's private copy of descriptors 0-4
    CSPAWN_STAGE_SLOTS = 10,       ///< no child: putting the sources into slots 3 and 4 failed
    CSPAWN_STAGE_STACK = 11,       ///< no child: no memory for the child's stack
    CSPAWN_STAGE_RLIMIT = 12,      ///< the child's prlimit for one of `limits`
    CSPAWN_STAGE_NICE = 13,        ///< the child's setpriority
    CSPAWN_STAGE_NO_NEW_PRIVS = 14, ///< the child's prctl(PR_SET_NO_NEW_PRIVS)
    CSPAWN_STAGE_CAPABILITIES = 15, ///< the child's bounding set, capset or ambient raise
    CSPAWN_STAGE_PRIVATE_NETWORK = 16, ///< the child's setns into the service's network namespace
    CSPAWN_STAGE_SECCOMP = 17,     ///< the child's seccomp filter (address_families, system_calls)
    CSPAWN_STAGE_MOUNT = 18,       ///< the child's setns into the service's mount namespace
    CSPAWN_STAGE_PRIVATE_TMP = 19, ///< the child's own mount namespace and tmpfs on /tmp and /var/tmp
    CSPAWN_STAGE_ROOT_DIRECTORY = 20, ///< the child's chroot (root_directory)
    CSPAWN_STAGE_STALLED = 21,     ///< the child never reached execve: stopped (SIGSTOP from its own uid) or killed, and ended by the watchdog
    CSPAWN_STAGE_PROXY_HEADER = 22, ///< the child's discarding of the connection's PROXY header
};

/// One resource limit the child sets, soft and hard, before it drops its
/// privileges (so root may raise a hard limit).
struct cspawn_rlimit {
    int resource;                ///< RLIMIT_*
    unsigned long long value;    ///< RLIM_INFINITY for none
};

/// Everything the child needs, prepared by the parent before the spawn.
/// Every pointer must stay valid until cspawn_spawn returns.
struct cspawn_plan {
    const char *path;            ///< absolute path passed to execve
    char *const *argv;           ///< NULL-terminated
    char *const *envp;           ///< NULL-terminated
    const char *cwd;             ///< chdir target; NULL leaves the directory alone
    int change_credentials;      ///< non-zero: setgroups, setgid, setuid below
    uid_t uid;
    gid_t gid;
    const gid_t *groups;         ///< supplementary groups (may be NULL when ngroups is 0)
    size_t ngroups;
    const struct cspawn_rlimit *rlimits;  ///< may be NULL when nrlimits is 0
    size_t nrlimits;
    int set_nice;                ///< non-zero: setpriority to `nice`
    int nice;
    int set_umask;               ///< non-zero: umask to `umask`
    unsigned int umask;
    int no_new_privs;            ///< non-zero: PR_SET_NO_NEW_PRIVS before execve
    /// Non-zero: the handler's capabilities are `capabilities` (bit N for
    /// capability N) and no more: the bounding set is cut to them, and a
    /// handler whose uid is not 0 gets them as ambient capabilities.
    int set_capabilities;
    unsigned long long capabilities;
    /// Non-zero: the child enters the network namespace `network_namespace`
    /// (the service's own; -1 when it could not be made, and the spawn fails).
    int private_network;
    int network_namespace;
    /// Non-zero: the child enters the mount namespace `mount_namespace`
    /// (the service's own view of the file system; -1 when it could not be
    /// made, and the spawn fails).
    int set_mount_namespace;
    int mount_namespace;
    /// Non-zero: the child makes a mount namespace of its own (from the
    /// service's) with a new tmpfs on /tmp and /var/tmp.
    int private_tmp;
    /// An O_PATH descriptor of the handler's root directory (chroot), or -1.
    int root_directory;
    /// A seccomp BPF program (struct sock_filter[seccomp_length]) the child
    /// loads last before execve; NULL for none.
    const void *seccomp_filter;
    unsigned short seccomp_length;
    /// Non-zero: systemd-style socket passing. The connection (or the wait
    /// service's socket) goes on descriptor 3 instead of 0 and 1, which get
    /// /dev/null, and the child writes its own pid in decimal into
    /// `listen_pid` (room for 11 bytes) for the LISTEN_PID variable.
    int systemd_activation;
    char *listen_pid;
    /// Bytes at the start of the connection the child discards before
    /// execve (a PROXY header the master has read by peeking and checked):
    /// the handler reads from the first byte after them. 0: none. The
    /// master would pay a syscall and a copy per connection for it; the
    /// child pays instead.
    size_t discard;
};

/// The outcome of one spawn.
struct cspawn_result {
    pid_t pid;                   ///< the child's pid, or -1 when no child was made
    int stage;                   ///< enum cspawn_stage: CSPAWN_OK when execve succeeded
    int error;                   ///< the errno at that stage (0 on success)
    /// Bytes of the plan's `discard` the child dropped before it failed or
    /// exec'd: a retry of a held connection discards only the rest.
    size_t discarded;
};

/// Prepares spawning; call once, first thing in main, before any other
/// descriptor is opened. It takes descriptors 3 and 4 as the spawn's two
/// slots (on /dev/null, close-on-exec, replacing whatever was there) and
/// records which signals have a disposition other than the default, so each
/// child resets only those. Returns 0, or -1 with errno.
int cspawn_init(void);

/// Every handler starts with `soft` as its soft RLIMIT_NOFILE (unless its
/// plan sets `nofile` itself): the master raises its own soft limit to make
/// room for two descriptors per handler, and handlers keep the limit swinetd
/// was started with (a program using select(2) relies on 1024).
void cspawn_set_handler_nofile(unsigned long long soft);

/// The close-on-exec /dev/null descriptor cspawn_init opened; the master uses
/// it too (for `stderr: null`) rather than opening a second one.
int cspawn_null_fd(void);

/// Starts the handler described by `plan` with `conn_fd` on descriptors 0 and
/// 1 (or on 3, with /dev/null on 0 and 1, for systemd activation) and
/// `stderr_fd` on descriptor 2 (made blocking if it was not); every other
/// descriptor is closed.
///
/// The child gets default dispositions for every signal, an empty signal mask,
/// a new session, the plan's resource limits, nice value and umask, its
/// credentials and directory, and then execve.
/// The spawn is vfork-style (CLONE_VM|CLONE_VFORK): the parent is suspended
/// until the child has exec'd or died, so the cost does not grow with the
/// master's memory, and a failure's stage and errno are written straight into
/// the result (a shared-memory report, no pipe). When the child fails it
/// _exit(127)s; the caller still reaps it as usual.
///
/// The child also shares the descriptor table (CLONE_FILES) until it takes a
/// private copy of just descriptors 0-4 (close_range with
/// CLOSE_RANGE_UNSHARE): the two sources wait in slots 3 and 4. So the cost
/// does not grow with the number of listening sockets either.
///
/// The master waits for the child (vfork), and once the child has taken
/// the handler's uid, any process of that uid may stop it (SIGSTOP) before
/// its execve, which would freeze the master. A watchdog thread, started
/// at the first spawn, kills a child that has not exec'd after
/// CSPAWN_STALL_SECONDS; the result is then CSPAWN_STAGE_STALLED.
///
/// Returns the result; `result.pid == -1` means no child was created
/// (stage CSPAWN_STAGE_CLONE, _SLOTS or _STACK, with that step's errno).
/// However it ends, slots 3 and 4 are back on /dev/null when it returns:
/// the master never keeps a connection open in a slot.
struct cspawn_result cspawn_spawn(const struct cspawn_plan *plan, int conn_fd, int stderr_fd);

/// How long a child may take to reach execve before the watchdog kills it.
#define CSPAWN_STALL_SECONDS 3

/// fork(2) for the master's children that go on running swinetd's own code
/// rather than exec'ing a handler: daemonizing (Daemon) and the table loader
/// (TableLoadProcess), which reads and checks the table in a process of its
/// own. The master's loop is one thread, and the spawn watchdog takes no
/// lock, so a plain fork is safe; it is here because Swift's Glibc overlay
/// does not promise fork.
pid_t cspawn_fork(void);

#ifdef __cplusplus
}
#endif

#endif
