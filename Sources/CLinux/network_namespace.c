// A network namespace of its own for a service's handlers
// (`private_network`), made by the master and entered by each handler's
// child with setns. Linux makes one only by moving a thread into it
// (unshare or clone), so the master's thread steps in and straight back:
// nothing else runs in between (the master is one thread), and its sockets
// stay where they were made whatever namespace it is in.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "clinux.h"

// The new namespace's loopback comes up, as systemd's PrivateNetwork= has
// it: handlers of the service may talk to each other and to themselves on
// 127.0.0.1 there, never to the host's.
static int loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int e = errno;
    close(s);
    errno = e;
    return rc;
}

int clinux_empty_network_namespace(void) {
    int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) return -1;
    if (unshare(CLONE_NEWNET) < 0) {
        int e = errno;
        close(home);
        errno = e;
        return -1;
    }
    int made = loopback_up() == 0 ? open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC) : -1;
    int e = errno;
    if (setns(home, CLONE_NEWNET) < 0) {
        // Still in the new namespace: every socket opened from now on would
        // be in it. The caller must stop.
        close(home);
        if (made >= 0) close(made);
        return -2;
    }
    close(home);
    if (made < 0) errno = e;
    return made;
}
