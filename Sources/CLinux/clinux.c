// Thin wrappers over the _GNU_SOURCE calls and raw syscalls, so the header
// Swift imports does not need _GNU_SOURCE (which changes glibc's socket
// prototypes) and Swift never calls the variadic syscall(2). Each function
// here is one call (or one call and its struct); what does more has a file
// of its own (file_pages.c, network_namespace.c).
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
