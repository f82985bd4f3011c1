// Linux facilities that Swift's Glibc module leaves out: epoll, signalfd,
// and the calls that make descriptors close-on-exec atomically (accept4,
// pipe2), which glibc declares only under _GNU_SOURCE.
#ifndef CLINUX_H
#define CLINUX_H

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

/// accept4(2): the accepted socket gets `flags` (SOCK_CLOEXEC) atomically.
int clinux_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

/// pipe2(2): both ends get `flags` (O_CLOEXEC) atomically.
int clinux_pipe2(int fds[2], int flags);

#endif
