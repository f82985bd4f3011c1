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

int clinux_open_in_root(int root, const char *path) {
    struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
    return (int)syscall(SYS_openat2, root, path, &how, sizeof how);
}

static int set_read_only(int tree) {
    struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
    return (int)syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a);
}

static int move_onto(int tree, int target) {
    return (int)syscall(SYS_move_mount, tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
}

// The tree at `target` (with everything mounted below it) bound onto
// itself read-only, so the change covers exactly that path and not the
// whole file system it is on. (Read-only is only ever added.)
static int rebind_read_only(int target) {
    int tree = (int)syscall(SYS_open_tree, target, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    if (tree < 0) return -1;
    int rc = set_read_only(tree);
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
        rc = set_read_only(mnt);
        if (rc == 0) rc = move_onto(mnt, target);
    } else {
        int f = openat(mnt, "hidden", O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0);
        int tree = f < 0 ? -1 : (int)syscall(SYS_open_tree, mnt, "hidden", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (f >= 0) close(f);
        rc = tree < 0 ? -1 : set_read_only(tree);
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

// A clone of the tree at `path` as it is now (the host's view: taken
// before any step), to be put back later; -1 with errno (ENOENT for an
// optional path that is not there).
static int clone_tree(const char *path) {
    int fd = open_no_symlinks(path);
    if (fd < 0) return -1;
    int tree = (int)syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    int e = errno;
    close(fd);
    errno = e;
    return tree;
}

// Puts back a clone taken by clone_tree over `path`.
static int put_back(int tree, const char *path) {
    int fd = open_no_symlinks(path);
    if (fd < 0) return -1;
    int rc = move_onto(tree, fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

// The API file systems under protect_system: strict: /dev and /proc as
// the host has them (read-only is only ever added, never taken away), /sys
// left read-only, and /proc/sys and /proc/sysrq-trigger made read-only
// (systemd's ProtectKernelTunables=): a root handler without capabilities
// could otherwise still write core_pattern and have the kernel run a
// program of its choice as full root.
static const char *const api_kept[] = { "/dev", "/proc" };
static const char *const tunables[] = {
    "/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/acpi", "/proc/apm", "/proc/asound",
    "/proc/fs", "/proc/scsi", "/proc/pressure", "/proc/latency_stats", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/kcore", "/proc/kallsyms", "/proc/timer_list",
};
#define TUNABLES (sizeof tunables / sizeof *tunables)

static int apply(const struct clinux_mount_step *s, int tree, const int *api) {
    if (s->kind == CLINUX_MOUNT_ALL_READ_ONLY) {
        struct mount_attr a = { .attr_set = MOUNT_ATTR_RDONLY };
        if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &a, sizeof a) < 0) return -1;
        for (int i = 0; i < 2; i++) {
            if (api[i] >= 0 && put_back(api[i], api_kept[i]) < 0) return -1;
        }
        for (size_t i = 0; i < TUNABLES; i++) {
            int fd = open_no_symlinks(tunables[i]);
            if (fd < 0) { if (errno == ENOENT) continue; return -1; }
            int rc = rebind_read_only(fd);
            int e = errno;
            close(fd);
            errno = e;
            if (rc < 0) return -1;
        }
        return 0;
    }
    if (s->kind == CLINUX_MOUNT_READ_WRITE) {
        if (tree < 0) return (s->optional && errno == ENOENT) ? 0 : -1;
        return put_back(tree, s->path);
    }
    int fd = open_no_symlinks(s->path);
    if (fd < 0) return (errno == ENOENT && s->optional) ? 0 : -1;
    int rc;
    switch (s->kind) {
    case CLINUX_MOUNT_READ_ONLY: rc = rebind_read_only(fd); break;
    case CLINUX_MOUNT_INACCESSIBLE: rc = hide(fd); break;
    default: errno = EINVAL; rc = -1;
    }
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

// At most this many read_write_paths (the table loader refuses more).
#define MAX_STEPS 256

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
    int trees[MAX_STEPS];
    int api[2] = { -1, -1 };
    int clone_errno[MAX_STEPS];
    if (j->count > MAX_STEPS) { j->error = E2BIG; return NULL; }
    for (size_t i = 0; i < j->count; i++) trees[i] = -1;
    // Only this thread: CLONE_NEWNS implies CLONE_FS, which gives it its
    // own root and working directory first.
    if (unshare(CLONE_NEWNS) < 0) { j->error = errno; return NULL; }
    // Private: nothing mounted here reaches the host, and nothing the host
    // mounts later shows here (a mount over a hidden path would uncover
    // it). The view is the host's as it was when it was made.
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) { j->error = errno; return NULL; }
    // What becomes writable again, cloned before anything is made
    // read-only, so putting it back restores the host's own flags.
    for (size_t i = 0; i < j->count; i++) {
        if (j->steps[i].kind == CLINUX_MOUNT_READ_WRITE) {
            trees[i] = clone_tree(j->steps[i].path);
            clone_errno[i] = errno;
            if (trees[i] < 0 && !(clone_errno[i] == ENOENT && j->steps[i].optional)) {
                j->failed_step = (int)i;
                j->error = clone_errno[i];
                goto out;
            }
        } else if (j->steps[i].kind == CLINUX_MOUNT_ALL_READ_ONLY) {
            for (int k = 0; k < 2; k++) {
                if (api[k] < 0 && (api[k] = clone_tree(api_kept[k])) < 0 && errno != ENOENT) {
                    j->failed_step = (int)i;
                    j->error = errno;
                    goto out;
                }
            }
        }
    }
    for (size_t i = 0; i < j->count; i++) {
        errno = trees[i] < 0 ? clone_errno[i] : 0;
        if (apply(&j->steps[i], trees[i], api) < 0) { j->failed_step = (int)i; j->error = errno; goto out; }
    }
    if (j->root_directory) {
        j->root = open_no_symlinks(j->root_directory);
        if (j->root < 0) { j->error = errno; goto out; }
    }
    j->ns = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (j->ns < 0) {
        j->error = errno;
        if (j->root >= 0) { close(j->root); j->root = -1; }
    }
out:
    for (size_t i = 0; i < j->count; i++) if (trees[i] >= 0) close(trees[i]);
    for (int k = 0; k < 2; k++) if (api[k] >= 0) close(api[k]);
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
