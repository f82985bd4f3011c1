// Giving back the resident pages of read-only file mappings, once, after
// the master's first table load (ReloadJob): the one function of this
// target that does more than wrap a call. It walks /proc/self/smaps with
// fixed buffers and madvises raw address ranges, which is C's business.
#include <stdio.h>
#include <sys/mman.h>
#include "clinux.h"

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
