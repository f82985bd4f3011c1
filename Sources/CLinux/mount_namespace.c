// A mount namespace of a service's own (protect_system, protect_home,
// read_only_paths, read_write_paths, inaccessible_paths, private_tmp),
// made once per service by the master and entered by each handler's child
// with setns: the mounts are set up once, not per connection.
//
// Made on a thread of its own, which unshares its filesystem attributes
// and mount namespace, sets the view up, opens the namespace and ends: the
// master's own thread never leaves the host's namespace. Every path is
// opened with openat2(RESOLVE_NO_SYMLINKS) and mounted by descriptor (the
// new mount API), so nothing is followed that another user could change;
// the table loader has already refused paths in folders others can write.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include "clinux.h"

int clinux_open_no_symlinks(const char *path) {
    struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
    return (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
}
#define open_no_symlinks clinux_open_no_symlinks

static int set_attributes(int tree, unsigned long long set, unsigned long long clear) {
    struct mount_attr a = { .attr_set = set, .attr_clr = clear };
    return (int)syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a);
}

static int move_onto(int tree, int target) {
    return (int)syscall(SYS_move_mount, tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

// The tree at `target` (with everything mounted below it) bound onto
// itself with `set` and `clear` applied, so the change covers exactly that
// path and not the whole file system it is on.
static int rebind(int target, unsigned long long set, unsigned long long clear) {
    int tree = (int)syscall(SYS_open_tree, target, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    if (tree < 0) return -1;
    int rc = set_attributes(tree, set, clear);
    if (rc == 0) rc = move_onto(tree, target);
    int e = errno;
    close(tree);
    errno = e;
    return rc;
}

// An empty tmpfs, detached: mode 000 and read-only for a folder made
// inaccessible; for a file, a mode-000 empty file inside it is bound.
static int hide(int target) {
    struct stat st;
    if (fstat(target, &st) < 0) return -1;
    int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0) return -1;
    int rc = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "mode", "000", 0);
    if (rc == 0) rc = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "size", "4k", 0);
    if (rc == 0) rc = (int)syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
    int mnt = rc == 0 ? (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC) : -1;
    int e = errno;
    close(fs);
    if (mnt < 0) { errno = e; return -1; }
    if (S_ISDIR(st.st_mode)) {
        rc = set_attributes(mnt, MOUNT_ATTR_RDONLY, 0);
        if (rc == 0) rc = move_onto(mnt, target);
    } else {
        int f = openat(mnt, "hidden", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0);
        int tree = f < 0 ? -1 : (int)syscall(SYS_open_tree, mnt, "hidden", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (f >= 0) close(f);
        rc = tree < 0 ? -1 : set_attributes(tree, MOUNT_ATTR_RDONLY, 0);
        if (rc == 0) rc = move_onto(tree, target);
        e = errno;
        if (tree >= 0) close(tree);
        errno = e;
    }
    e = errno;
    close(mnt);
    errno = e;
    return rc;
}

static int apply(const struct clinux_mount_step *s) {
    if (s->kind == CLINUX_MOUNT_ALL_READ_ONLY) {
        // Everything read-only, recursively (protect_system: strict); the
        // API file systems come back as they were, as systemd keeps them.
        struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
        if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &a, sizeof a) < 0) return -1;
        static const char *api[] = { "/dev", "/proc", "/sys" };
        for (int i = 0; i < 3; i++) {
            int fd = open_no_symlinks(api[i]);
            if (fd < 0) { if (errno == ENOENT) continue; return -1; }
            int rc = rebind(fd, 0, MOUNT_ATTR_RDONLY);
            int e = errno;
            close(fd);
            errno = e;
            if (rc < 0) return -1;
        }
        return 0;
    }
    int fd = open_no_symlinks(s->path);
    if (fd < 0) return (errno == ENOENT && s->optional) ? 0 : -1;
    int rc;
    switch (s->kind) {
    case CLINUX_MOUNT_READ_ONLY: rc = rebind(fd, MOUNT_ATTR_RDONLY, 0); break;
    case CLINUX_MOUNT_READ_WRITE: rc = rebind(fd, 0, MOUNT_ATTR_RDONLY); break;
    case CLINUX_MOUNT_INACCESSIBLE: rc = hide(fd); break;
    default: errno = EINVAL; rc = -1;
    }
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

struct job {
    const struct clinux_mount_step *steps;
    size_t count;
    const char *root_directory;
    int ns;
    int root;
    int failed_step;
    int error;
};

static void *make(void *opaque) {
    struct job *j = opaque;
    // Only this thread: CLONE_NEWNS implies CLONE_FS, which gives it its
    // own root and working directory first.
    if (unshare(CLONE_NEWNS) < 0) { j->error = errno; return NULL; }
    // Nothing mounted here reaches the host (slave: the host's later
    // mounts still show here).
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) { j->error = errno; return NULL; }
    for (size_t i = 0; i < j->count; i++) {
        if (apply(&j->steps[i]) < 0) { j->failed_step = (int)i; j->error = errno; return NULL; }
    }
    if (j->root_directory) {
        j->root = open_no_symlinks(j->root_directory);
        if (j->root < 0) { j->error = errno; return NULL; }
    }
    j->ns = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (j->ns < 0) {
        j->error = errno;
        if (j->root >= 0) { close(j->root); j->root = -1; }
    }
    return NULL;
}

int clinux_mount_namespace(const struct clinux_mount_step *steps, size_t count, const char *root_directory,
                           int *root_fd, int *failed_step) {
    struct job j = { steps, count, root_directory, -1, -1, -1, 0 };
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, make, &j);
    if (rc != 0) { errno = rc; return -1; }
    pthread_join(thread, NULL);
    *root_fd = j.root;
    *failed_step = j.failed_step;
    if (j.ns < 0) errno = j.error;
    return j.ns;
}
