// Thin wrappers over the _GNU_SOURCE calls, so the header Swift imports
// does not need _GNU_SOURCE (which changes glibc's socket prototypes).
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "clinux.h"

int clinux_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    return accept4(fd, addr, len, flags);
}

int clinux_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}
