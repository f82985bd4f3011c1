// Thin wrappers over the _GNU_SOURCE calls and raw syscalls, so the header
// Swift imports does not need _GNU_SOURCE (which changes glibc's socket
// prototypes) and Swift never calls the variadic syscall(2).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>
#include "clinux.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

int clinux_accept4(int fd, void *addr, unsigned *len, int flags) {
    return accept4(fd, addr, len, flags);
}

int clinux_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

int clinux_sigprocmask(int how, clinux_sigmask mask) {
    return (int)syscall(SYS_rt_sigprocmask, how, &mask, NULL, sizeof mask);
}

int clinux_signalfd(clinux_sigmask mask, int flags) {
    return (int)syscall(SYS_signalfd4, -1, &mask, sizeof mask, flags);
}

// The kernel's own struct sigaction (not glibc's), for rt_sigaction.
struct kernel_sigaction {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)(void);
    clinux_sigmask mask;
};

int clinux_default_disposition(int signal) {
    struct kernel_sigaction dfl = { 0 };
    return (int)syscall(SYS_rt_sigaction, signal, &dfl, NULL, sizeof(clinux_sigmask));
}

int clinux_is_ignored(int signal) {
    struct kernel_sigaction old;
    if (syscall(SYS_rt_sigaction, signal, NULL, &old, sizeof(clinux_sigmask)) != 0) return 0;
    return old.handler == SIG_IGN;
}

int clinux_close_range(unsigned first, unsigned last) {
    return (int)syscall(SYS_close_range, first, last, 0);
}

void clinux_malloc_trim(void) {
    malloc_trim(0);
}

int clinux_listen_queue(int fd) {
    struct tcp_info info;
    socklen_t len = sizeof info;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) < 0) return -1;
    return (int)info.tcpi_unacked;
}


int clinux_peer_cred(int fd, unsigned *uid, unsigned *gid, int *pid) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -1;
    *uid = cred.uid;
    *gid = cred.gid;
    *pid = cred.pid;
    return 0;
}

#ifndef SIOCUNIXFILE
#define SIOCUNIXFILE (SIOCPROTOPRIVATE + 0)
#endif

int clinux_open_folder(const char *path) {
    return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int clinux_open_handle(int dirfd, const char *name) {
    return openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
}

int clinux_unix_socket_file(int fd) {
    return ioctl(fd, SIOCUNIXFILE, 0);
}

int clinux_chown_handle(int fd, unsigned uid, unsigned gid) {
    return fchownat(fd, "", (uid_t)uid, (gid_t)gid, AT_EMPTY_PATH);
}

int clinux_chmod_handle(int fd, unsigned mode) {
    char proc[32];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    return chmod(proc, (mode_t)mode);
}

int clinux_memfd(const char *name) {
    return (int)syscall(SYS_memfd_create, name, 0U);
}

long clinux_release_file_pages(void) {
    FILE *f = fopen("/proc/self/smaps", "re");
    if (!f) return -1;
    char line[4352];
    unsigned long lo = 0, hi = 0;
    int candidate = 0;
    long rss = 0, released = 0, anonymous = 0;
    // Each mapping: a header line, then its fields; decide at the next header
    // (or the end) once its Rss and Anonymous are known.
    for (;;) {
        char *got = fgets(line, sizeof line, f);
        // Field names start with a capital (Rss:, VmFlags:); a header with
        // the mapping's start address in lowercase hex.
        int header = got && ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f'));
        if (!got || header) {
            if (candidate && anonymous == 0 && rss > 0 && madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0) released += rss;
            candidate = 0; rss = 0; anonymous = 0;
            if (!got) break;
            char perms[8] = {0}, path[4096] = {0};
            if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %4095[^\n]", &lo, &hi, perms, path) >= 3)
                candidate = perms[1] != 'w' && perms[3] == 'p' && path[0] == '/';
            continue;
        }
        long kb;
        if (sscanf(line, "Rss: %ld kB", &kb) == 1) rss = kb;
        else if (sscanf(line, "Anonymous: %ld kB", &kb) == 1) anonymous = kb;
    }
    fclose(f);
    return released;
}
