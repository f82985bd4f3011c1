// The child side of spawning a handler. See include/cspawn.h for the contract.
// Only async-signal-safe calls and raw syscalls run in the child: it shares
// the master's memory (CLONE_VM) until execve.
#define _GNU_SOURCE
#include "cspawn.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

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
    int conn_fd;
    int stderr_fd;
    volatile struct cspawn_result *result;   // shared with the parent (CLONE_VM)
};

static _Noreturn void child_fail(volatile struct cspawn_result *r, int stage, int err) {
    r->stage = stage;
    r->error = err;
    _exit(127);
}

static void close_from_3(void) {
    if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0) return;
    // Kernels before 5.9: close one by one up to the descriptor limit.
    struct rlimit rl;
    long max = 1024;
    if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        max = (long)rl.rlim_cur;
    for (long fd = 3; fd < max; fd++) close((int)fd);
}

static int child_main(void *opaque) {
    struct child_args *a = opaque;
    const struct cspawn_plan *p = a->plan;
    volatile struct cspawn_result *r = a->result;

    // Default dispositions for every signal (the master ignores SIGPIPE, and
    // may have inherited ignored signals), then an empty mask. Raw syscalls:
    // glibc's wrappers refuse its own reserved signals (32 and 33), which an
    // ignoring parent would otherwise pass on.
    struct kernel_sigaction dfl = { 0 };   // handler SIG_DFL (0), no flags, empty mask
    for (int sig = 1; sig <= 64; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(uint64_t));
    }
    uint64_t none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(uint64_t));

    if (setsid() < 0) child_fail(r, CSPAWN_STAGE_SETSID, errno);

    if (p->change_credentials) {
        // Raw syscalls: glibc's wrappers would try to synchronise the
        // credentials of all threads, which is not safe in a CLONE_VM child.
        if (syscall(SYS_setgroups, p->ngroups, p->groups) < 0) child_fail(r, CSPAWN_STAGE_SETGROUPS, errno);
        if (syscall(SYS_setgid, p->gid) < 0) child_fail(r, CSPAWN_STAGE_SETGID, errno);
        if (syscall(SYS_setuid, p->uid) < 0) child_fail(r, CSPAWN_STAGE_SETUID, errno);
    }

    if (p->cwd && chdir(p->cwd) < 0) child_fail(r, CSPAWN_STAGE_CHDIR, errno);

    // Move the sources above 2 first so that dup2 always makes a fresh copy
    // (dup2(fd, fd) would keep FD_CLOEXEC), then lay out 0, 1 and 2.
    int c = a->conn_fd, e = a->stderr_fd;
    if (c < 3 && (c = fcntl(c, F_DUPFD, 3)) < 0) child_fail(r, CSPAWN_STAGE_DUP2, errno);
    if (e < 3 && (e = fcntl(e, F_DUPFD, 3)) < 0) child_fail(r, CSPAWN_STAGE_DUP2, errno);
    if (dup2(c, 0) < 0 || dup2(c, 1) < 0 || dup2(e, 2) < 0) child_fail(r, CSPAWN_STAGE_DUP2, errno);
    close_from_3();

    execve(p->path, p->argv, p->envp);
    child_fail(r, CSPAWN_STAGE_EXECVE, errno);
}

struct cspawn_result cspawn_spawn(const struct cspawn_plan *plan, int conn_fd, int stderr_fd) {
    volatile struct cspawn_result result = { .pid = -1, .stage = CSPAWN_OK, .error = 0 };
    if (!child_stack) {
        void *s = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (s == MAP_FAILED) {
            struct cspawn_result out = { -1, CSPAWN_STAGE_CLONE, errno };
            return out;
        }
        child_stack = s;
    }
    struct child_args args = { plan, conn_fd, stderr_fd, &result };

    // Block every signal across the clone, as glibc's posix_spawn does, so no
    // handler can run in the child while it shares our memory.
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t pid = clone(child_main, child_stack + CHILD_STACK_SIZE,
                      CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
    int clone_errno = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);

    struct cspawn_result out = { pid, result.stage, result.error };
    if (pid < 0) {
        out.stage = CSPAWN_STAGE_CLONE;
        out.error = clone_errno;
    }
    return out;
}

pid_t cspawn_fork(void) {
    return fork();
}
