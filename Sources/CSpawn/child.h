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
#endif

// The isolation keys' steps (isolation.c): 0, or the failing stage with
// errno set. Hidden, so a call from the child is a direct one, never a
// lazily bound PLT entry (the dynamic linker's resolver takes locks).
#define CHILD_STEP __attribute__((visibility("hidden")))
CHILD_STEP int cspawn_isolate_before_credentials(const struct cspawn_plan *p);
CHILD_STEP int cspawn_isolate_after_credentials(const struct cspawn_plan *p);
CHILD_STEP int cspawn_isolate_last(const struct cspawn_plan *p);

#endif
