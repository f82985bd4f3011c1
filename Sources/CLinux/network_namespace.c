// A network namespace of its own for a service's handlers
// (`private_network`), made once by the master and entered by each
// handler's child with setns. Linux makes one only by moving a thread into
// it (unshare or clone), so the master's thread steps in and straight back:
// nothing else runs in between (the master is one thread), and its sockets
// stay where they were made whatever namespace it is in.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include "clinux.h"

int clinux_empty_network_namespace(void) {
    int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) return -1;
    if (unshare(CLONE_NEWNET) < 0) {
        int e = errno;
        close(home);
        errno = e;
        return -1;
    }
    int made = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int e = errno;
    if (setns(home, CLONE_NEWNET) < 0) {
        // Still in the new namespace: every socket opened from now on would
        // be in it. The caller must stop.
        close(home);
        if (made >= 0) close(made);
        return -2;
    }
    close(home);
    errno = e;
    return made;
}
