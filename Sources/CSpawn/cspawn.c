// The child side of spawning a handler. See include/cspawn.h for the contract.
// Only raw syscalls run in the child: it shares the master's memory
// (CLONE_VM) until execve, so it must not call into glibc wrappers that
// take locks or touch thread state, nor into a sanitizer's interceptors
// (CHILD_CODE also keeps ThreadSanitizer's instrumentation out of it: the
// child is not a thread the runtime knows).
#define _GNU_SOURCE
#include "cspawn.h"
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>


#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CSPAWN_TSAN 1
#include <dlfcn.h>
#endif
#endif

// clone(2) through glibc. ThreadSanitizer intercepts clone as if it were
// fork, and its after-fork hooks, run by a CLONE_VM child in our memory,
// break its state; under it we call glibc's own clone, unseen.
// With CLONE_PARENT_SETTID the kernel writes the child's pid at `ptid`
// before the child runs (for the watchdog: watchdog.c).
static pid_t spawn_clone(int (*fn)(void *), void *stack, int flags, void *arg, pid_t *ptid) {
#ifdef CSPAWN_TSAN
    typedef int (*clone_fn)(int (*)(void *), void *, int, void *, ...);
    static clone_fn real_clone;
    if (!real_clone) real_clone = (clone_fn)dlsym(RTLD_NEXT, "clone");
    return real_clone(fn, stack, flags, arg, ptid);
#else
    return clone(fn, stack, flags, arg, ptid);
#endif
}

static int null_fd = -1;          // /dev/null, to empty the slots after a spawn
static uint64_t signals_to_reset; // bit (sig - 1): a disposition other than SIG_DFL
static int handler_nofile_set;    // non-zero: handlers get handler_nofile as their soft RLIMIT_NOFILE
static unsigned long long handler_nofile;
static unsigned long long handler_nofile_hard;   // the hard limit when handler_nofile was set (0: unknown)

// The child runs on its own small stack; the parent is suspended meanwhile,
// so one stack serves every spawn. 64 KiB is ample for this straight-line code.
#define CHILD_STACK_SIZE (64 * 1024)
static char *child_stack;

// The kernel's own struct sigaction (not glibc's), for rt_sigaction.
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

struct child_args {
    const struct cspawn_plan *plan;
    volatile struct cspawn_result *result;   // shared with the parent (CLONE_VM)
};

int cspawn_init(void) {
    if (null_fd >= 0) return 0;
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0) return -1;
    // Keep a copy above the slots, then fill each slot (dup3 refuses to copy
    // a descriptor onto itself, which happens when open landed in a slot).
    int keep = fcntl(fd, F_DUPFD_CLOEXEC, SLOT_ERR + 1);
    if (keep < 0) return -1;
    if (fd != SLOT_CONN && dup3(keep, SLOT_CONN, O_CLOEXEC) < 0) return -1;
    if (fd != SLOT_ERR && dup3(keep, SLOT_ERR, O_CLOEXEC) < 0) return -1;
    if (fd != SLOT_CONN && fd != SLOT_ERR) close(fd);
    null_fd = keep;
    signals_to_reset = 0;
    for (int sig = 1; sig <= 64; sig++) {
        struct kernel_sigaction old;
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof(uint64_t)) == 0 && old.handler != SIG_DFL)
            signals_to_reset |= 1ULL << (sig - 1);
    }
    return 0;
}

void cspawn_set_handler_nofile(unsigned long long soft) {
    handler_nofile = soft;
    handler_nofile_set = 1;
    // The hard limit, read once here rather than by every child: the
    // master only ever raises its soft limit (see DescriptorLimit).
    struct rlimit rl;
    handler_nofile_hard = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (unsigned long long)rl.rlim_max : 0;
}

int cspawn_null_fd(void) {
    return null_fd;
}

static CHILD_CODE _Noreturn void child_fail(volatile struct cspawn_result *r, int stage, int err) {
    r->stage = stage;
    r->error = err;
    // exit_group cannot fail, but should anything ever refuse it (a
    // filter: the table loader refuses one that would), never spin with
    // the master waiting: exit, then SIGKILL to itself.
    for (;;) {
        syscall(SYS_exit_group, 127);
        syscall(SYS_exit, 127);
        syscall(SYS_kill, syscall(SYS_getpid), SIGKILL);
    }
}

static CHILD_CODE int child_main(void *opaque) {
    struct child_args *a = opaque;
    const struct cspawn_plan *p = a->plan;
    volatile struct cspawn_result *r = a->result;


    // Default dispositions for every signal that has another (the master
    // ignores SIGPIPE, may have inherited ignored signals, and the runtime
    // has crash handlers), then an empty mask. Raw syscalls: glibc's
    // wrappers refuse its own reserved signals (32 and 33), which an
    // ignoring parent would otherwise pass on.
    struct kernel_sigaction dfl = { 0 };   // handler SIG_DFL (0), no flags, empty mask
    for (int sig = 1; sig <= 64; sig++) {
        if (signals_to_reset & (1ULL << (sig - 1)))
            syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t));
    }
    uint64_t none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(uint64_t));

    if (syscall(SYS_setsid) < 0) child_fail(r, CSPAWN_STAGE_SETSID, errno);

    // Limits and priority while still privileged: root may raise a hard
    // limit or lower the nice value, the handler's user may not.
    for (size_t i = 0; i < p->nrlimits; i++) {
        struct rlimit rl = { .rlim_cur = p->rlimits[i].value, .rlim_max = p->rlimits[i].value };
        if (syscall(SYS_prlimit64, 0, p->rlimits[i].resource, &rl, NULL) < 0) child_fail(r, CSPAWN_STAGE_RLIMIT, errno);
    }
    if (p->set_nice && syscall(SYS_setpriority, PRIO_PROCESS, 0, p->nice) < 0) child_fail(r, CSPAWN_STAGE_NICE, errno);
    if (p->set_umask) syscall(SYS_umask, p->umask);

    // The isolation keys' steps (isolation.c): those that need root,
    // before the credentials change; the ambient capabilities after it;
    // no_new_privileges last, before execve.
    int stage = cspawn_isolate_before_credentials(p);
    if (stage) child_fail(r, stage, errno);

    if (p->change_credentials) {
        // Raw syscalls: glibc's wrappers would try to synchronise the
        // credentials of all threads, which is not safe in a CLONE_VM child.
        if (syscall(SYS_setgroups, p->ngroups, p->groups) < 0) child_fail(r, CSPAWN_STAGE_SETGROUPS, errno);
        if (syscall(SYS_setgid, p->gid) < 0) child_fail(r, CSPAWN_STAGE_SETGID, errno);
        if (syscall(SYS_setuid, p->uid) < 0) child_fail(r, CSPAWN_STAGE_SETUID, errno);
    }

    if ((stage = cspawn_isolate_after_credentials(p))) child_fail(r, stage, errno);

    if (p->cwd && syscall(SYS_chdir, p->cwd) < 0) child_fail(r, CSPAWN_STAGE_CHDIR, errno);

    // Only now touch descriptors: before this the table is the master's too.
    if (cspawn_unshare_descriptors() < 0) child_fail(r, CSPAWN_STAGE_CLOSE_RANGE, errno);
    // The slots are above 2, so dup3 always makes a fresh copy without
    // FD_CLOEXEC; the slots themselves are close-on-exec.
    if (p->systemd_activation) {
        // sd_listen_fds(3): the socket on 3 (the connection's slot, kept
        // across exec), /dev/null on 0 and 1, and LISTEN_PID our own pid.
        long null = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || syscall(SYS_dup3, null, 0, 0) < 0 || syscall(SYS_dup3, null, 1, 0) < 0
            || syscall(SYS_fcntl, SLOT_CONN, F_SETFD, 0) < 0)
            child_fail(r, CSPAWN_STAGE_DUP2, errno);
        syscall(SYS_close, null);
        if (p->listen_pid) {
            long pid = syscall(SYS_getpid);
            char digits[12];
            int n = 0;
            do { digits[n++] = (char)('0' + pid % 10); pid /= 10; } while (pid > 0 && n < 11);
            for (int i = 0; i < n; i++) p->listen_pid[i] = digits[n - 1 - i];
            p->listen_pid[n] = 0;
        }
    } else if (syscall(SYS_dup3, SLOT_CONN, 0, 0) < 0 || syscall(SYS_dup3, SLOT_CONN, 1, 0) < 0) {
        child_fail(r, CSPAWN_STAGE_DUP2, errno);
    }
    if (syscall(SYS_dup3, SLOT_ERR, 2, 0) < 0) child_fail(r, CSPAWN_STAGE_DUP2, errno);
    // The soft descriptor limit swinetd was started with, not the master's
    // raised one; only now, after the descriptors are private (the fallback
    // above closes up to the soft limit), and never over the plan's own.
    if (handler_nofile_set) {
        int planned = 0;
        for (size_t i = 0; i < p->nrlimits; i++) planned |= p->rlimits[i].resource == RLIMIT_NOFILE;
        // One call where the hard limit is known (a get and a set per
        // spawn before); should it fail (someone lowered the master's hard
        // limit since), the limits are read and set as they are now.
        struct rlimit rl = { .rlim_cur = handler_nofile, .rlim_max = handler_nofile_hard };
        if (!planned && handler_nofile < handler_nofile_hard && syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &rl, NULL) == 0) {
            // done
        } else if (!planned && syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) == 0 && rl.rlim_cur > handler_nofile) {
            rl.rlim_cur = handler_nofile;
            if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &rl, NULL) < 0) child_fail(r, CSPAWN_STAGE_RLIMIT, errno);
        }
    }
    // The master makes its stderr pipes non-blocking (for its own read end,
    // in one pipe2 call); a handler gets blocking descriptors. The flag
    // lives in the file description, which only this child still uses.
    long flags = syscall(SYS_fcntl, 2, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) && syscall(SYS_fcntl, 2, F_SETFL, flags & ~O_NONBLOCK) < 0)
        child_fail(r, CSPAWN_STAGE_DUP2, errno);

    // The header is all in the socket's buffer (the master peeked at it):
    // MSG_TRUNC drops it without a copy, and it never waits. What was
    // dropped is said in the result, so a retry (the handler's user at
    // RLIMIT_NPROC) never drops the client's own bytes.
    for (size_t left = p->discard; left > 0;) {
        long n = syscall(SYS_recvfrom, SLOT_CONN, NULL, left, MSG_TRUNC | MSG_DONTWAIT, NULL, NULL);
        if (n <= 0) child_fail(r, CSPAWN_STAGE_PROXY_HEADER, n == 0 ? ECONNRESET : errno);
        left -= (size_t)n;
        r->discarded += (size_t)n;
    }

    if ((stage = cspawn_isolate_last(p))) child_fail(r, stage, errno);

    r->stage = CSPAWN_OK;
    r->error = 0;
    syscall(SYS_execve, p->path, p->argv, p->envp);
    child_fail(r, CSPAWN_STAGE_EXECVE, errno);
}

struct cspawn_result cspawn_spawn(const struct cspawn_plan *plan, int conn_fd, int stderr_fd) {
    // Until the child says otherwise just before its execve, it has not
    // got there: what the master is told should the watchdog kill it
    // (even before its first instruction).
    volatile struct cspawn_result result = { .pid = -1, .stage = CSPAWN_STAGE_STALLED, .error = ETIMEDOUT, .discarded = 0 };
    if (!child_stack) {
        void *s = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (s == MAP_FAILED) {
            struct cspawn_result out = { -1, CSPAWN_STAGE_STACK, errno };
            return out;
        }
        child_stack = s;
    }
    if (null_fd < 0 && cspawn_init() < 0) {
        struct cspawn_result out = { -1, CSPAWN_STAGE_CLONE, errno };
        return out;
    }
    // Put the two sources in their slots (replacing /dev/null there). If
    // the second fails, the first must not keep the connection open.
    if (dup3(conn_fd, SLOT_CONN, O_CLOEXEC) < 0 || dup3(stderr_fd, SLOT_ERR, O_CLOEXEC) < 0) {
        struct cspawn_result out = { -1, CSPAWN_STAGE_SLOTS, errno };
        dup3(null_fd, SLOT_CONN, O_CLOEXEC);
        dup3(null_fd, SLOT_ERR, O_CLOEXEC);
        return out;
    }
    struct child_args args = { plan, &result };

    // Block every signal across the clone, as glibc's posix_spawn does, so no
    // handler can run in the child while it shares our memory.
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t *watched = cspawn_watch_begin();
    pid_t pid = spawn_clone(child_main, child_stack + CHILD_STACK_SIZE,
                            CLONE_VM | CLONE_VFORK | CLONE_FILES | CLONE_PARENT_SETTID | SIGCHLD, &args, watched);
    int clone_errno = errno;
    cspawn_watch_end();
    sigprocmask(SIG_SETMASK, &old, NULL);
    // Empty the slots again: the master must not keep the connection open.
    dup3(null_fd, SLOT_CONN, O_CLOEXEC);
    dup3(null_fd, SLOT_ERR, O_CLOEXEC);

    struct cspawn_result out = { pid, result.stage, result.error, result.discarded };
    if (pid < 0) {
        out.stage = CSPAWN_STAGE_CLONE;
        out.error = clone_errno;
    }
    return out;
}

pid_t cspawn_fork(void) {
    // Besides the loop's thread there is at most the spawn watchdog, which
    // only sleeps, reads atomics and kills: it holds no lock a forked
    // child could inherit taken.
    return fork();
}
