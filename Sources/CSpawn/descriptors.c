// The child's own descriptor table: only 0-4 (the standard three and the
// two slots), whatever the master has open. See cspawn.c: the same rules
// hold (raw syscalls only, in a CLONE_VM child).
#define _GNU_SOURCE
#include "cspawn.h"
#include "child.h"

#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif

// A record of getdents64 (the kernel's struct linux_dirent64; glibc's
// dirent functions allocate, so the child reads the directory itself).
struct fd_dirent {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

// Closes every descriptor above the slots that /proc/self/fd lists: the cost
// follows what is open, not the soft limit (which the master raises to its
// hard one). Raw openat and getdents64 into a buffer on the stack, as
// CPython's _posixsubprocess does. -1 when /proc cannot be read.
static CHILD_CODE int close_listed_descriptors(void) {
    long dir = syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) return -1;
    char buffer[4096] __attribute__((aligned(8)));
    for (;;) {
        long n = syscall(SYS_getdents64, dir, buffer, sizeof buffer);
        if (n < 0) { syscall(SYS_close, dir); return -1; }
        if (n == 0) break;
        for (long at = 0; at < n;) {
            struct fd_dirent *d = (struct fd_dirent *)(buffer + at);
            at += d->d_reclen;
            long fd = 0;
            int digits = 0;
            for (const char *c = d->d_name; *c; c++) {
                if (*c < '0' || *c > '9') { digits = 0; break; }
                fd = fd * 10 + (*c - '0');
                digits++;
            }
            if (digits > 0 && fd > SLOT_ERR && fd != dir) syscall(SYS_close, fd);
        }
    }
    syscall(SYS_close, dir);
    return 0;
}

// Gives the child its own descriptor table holding only 0-4 (the table is
// shared with the parent until now), so nothing the master has open
// survives, at a cost that does not depend on how much that is.
CHILD_CODE int cspawn_unshare_descriptors(void) {
    if (syscall(SYS_close_range, SLOT_ERR + 1U, ~0U, CLOSE_RANGE_UNSHARE) == 0) return 0;
    // Kernels before 5.9: copy the whole table, then close what is open.
    if (syscall(SYS_unshare, CLONE_FILES) < 0) return -1;
    if (close_listed_descriptors() == 0) return 0;
    // No /proc: one by one up to the soft limit, which the master raised to
    // its hard one (hundreds of thousands of calls, but only without /proc
    // on a kernel older than close_range).
    struct rlimit rl;
    long max = 1024;
    if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        max = (long)rl.rlim_cur;
    for (long fd = SLOT_ERR + 1; fd < max; fd++) syscall(SYS_close, fd);
    return 0;
}

