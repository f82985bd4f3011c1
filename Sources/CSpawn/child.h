// What cspawn.c and isolation.c share about the code that runs in the
// handler's child (not part of the target's public header).
#ifndef CSPAWN_CHILD_H
#define CSPAWN_CHILD_H

#include "cspawn.h"

// Keeps ThreadSanitizer's instrumentation out of the child, which is not a
// thread the runtime knows.
#if defined(__clang__)
#define CHILD_CODE __attribute__((no_sanitize("thread")))
#else
#define CHILD_CODE
// Gives the child a descriptor table of its own holding only 0-4
// (descriptors.c): 0, or -1 with errno.
CHILD_STEP int cspawn_unshare_descriptors(void);

// The spawn watchdog (watchdog.c): begin starts it once and marks a spawn
// under way, returning where the kernel is to write the child's pid; end
// marks it done.
CHILD_STEP pid_t *cspawn_watch_begin(void);
CHILD_STEP void cspawn_watch_end(void);

#endif

// The slots where the connection and the stderr source wait for the child.
#define SLOT_CONN 3
#define SLOT_ERR 4

// The isolation keys' steps (isolation.c): 0, or the failing stage with
// errno set. Hidden, so a call from the child is a direct one, never a
// lazily bound PLT entry (the dynamic linker's resolver takes locks).
#define CHILD_STEP __attribute__((visibility("hidden")))
CHILD_STEP int cspawn_isolate_before_credentials(const struct cspawn_plan *p);
CHILD_STEP int cspawn_isolate_after_credentials(const struct cspawn_plan *p);
CHILD_STEP int cspawn_isolate_last(const struct cspawn_plan *p);

// Gives the child a descriptor table of its own holding only 0-4
// (descriptors.c): 0, or -1 with errno.
CHILD_STEP int cspawn_unshare_descriptors(void);

// The spawn watchdog (watchdog.c): begin starts it once and marks a spawn
// under way, returning where the kernel is to write the child's pid; end
// marks it done.
CHILD_STEP pid_t *cspawn_watch_begin(void);
CHILD_STEP void cspawn_watch_end(void);

#endif
