// The spawn watchdog: a thread of the master that ends a handler's process
// stuck on its way to execve. The spawn is vfork-style, so the master's
// thread waits in clone until the child exec's or dies; once the child has
// the handler's uid, any process of that uid may stop it there (SIGSTOP),
// and the master would serve nothing. See cspawn.h.
#define _GNU_SOURCE
#include "cspawn.h"
#include "child.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

// `spawn_seq` is odd while a spawn is under way, and the kernel writes the
// child's pid into `spawn_child` as it makes the child (CLONE_PARENT_SETTID).
static uint64_t spawn_seq;
static pid_t spawn_child;
static pthread_once_t watchdog_once = PTHREAD_ONCE_INIT;

// Kills a child that has been on its way to execve for longer than
// CSPAWN_STALL_SECONDS: the only thing that can keep it there is a stop
// signal or a kernel wait. A handler just exec'd when the stall ended may
// be killed instead; it is the master's child, not yet reaped, so its pid
// cannot have gone to another process. It only sleeps, reads atomics and
// kills: it takes no lock a forked child could inherit taken.
static void *watchdog(void *unused) {
    (void)unused;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, NULL);   // the master's signals are its loop's (signalfd)
    pthread_setname_np(pthread_self(), "spawn-watchdog");
    uint64_t seen = 0;
    int ticks = 0;
    for (;;) {
        struct timespec half = { 0, 500 * 1000 * 1000 };
        nanosleep(&half, NULL);
        uint64_t seq = __atomic_load_n(&spawn_seq, __ATOMIC_ACQUIRE);
        if ((seq & 1) == 0 || seq != seen) {
            seen = seq;
            ticks = 0;
            continue;
        }
        if (++ticks < 2 * CSPAWN_STALL_SECONDS) continue;
        pid_t pid = __atomic_load_n(&spawn_child, __ATOMIC_ACQUIRE);
        if (pid > 0 && __atomic_load_n(&spawn_seq, __ATOMIC_ACQUIRE) == seq) kill(pid, SIGKILL);
        ticks = 0;
    }
    return NULL;
}

static void start_watchdog(void) {
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    // Without it the master still works; a stalled child then stalls it.
    (void)pthread_create(&thread, &attr, watchdog, NULL);
    pthread_attr_destroy(&attr);
}

pid_t *cspawn_watch_begin(void) {
    pthread_once(&watchdog_once, start_watchdog);
    __atomic_store_n(&spawn_child, 0, __ATOMIC_RELEASE);
    __atomic_add_fetch(&spawn_seq, 1, __ATOMIC_ACQ_REL);   // odd: under way
    return &spawn_child;
}

void cspawn_watch_end(void) {
    __atomic_add_fetch(&spawn_seq, 1, __ATOMIC_ACQ_REL);   // even: done
}
