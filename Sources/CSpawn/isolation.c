// The isolation keys' steps in the handler's child (see cspawn.c: the same
// rules hold: raw syscalls only, in a CLONE_VM child). Each function
// returns 0, or the failing stage with errno set for cspawn.c's
// child_fail.
#define _GNU_SOURCE
#include "cspawn.h"
#include "child.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

// A handler that will not be root gets the listed capabilities as ambient ones.
static CHILD_CODE int gets_ambient(const struct cspawn_plan *p) {
    return p->set_capabilities && p->capabilities && p->change_credentials && p->uid != 0;
}

CHILD_CODE int cspawn_isolate_before_credentials(const struct cspawn_plan *p) {
    // `private_network`: the service's empty namespace, made once by the
    // master; entered while still root (CAP_SYS_ADMIN). The connection on
    // the slots stays in the namespace it was accepted in.
    if (p->private_network && syscall(SYS_setns, p->network_namespace, CLONE_NEWNET) < 0)
        return CSPAWN_STAGE_PRIVATE_NETWORK;

    // `capabilities`: while still root (CAP_SETPCAP), every capability
    // not listed leaves the bounding set, so nothing the handler runs can
    // gain it back (a setuid-root program included); a handler that will
    // not be root keeps the listed ones through setuid (KEEPCAPS) and
    // raises them below as ambient capabilities, which execve passes on.
    int ambient = gets_ambient(p);
    if (p->set_capabilities) {
        for (int cap = 0; cap < 64; cap++) {
            if (p->capabilities & (1ULL << cap)) continue;
            if (syscall(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
                if (errno == EINVAL) break;   // past the kernel's last capability
                return CSPAWN_STAGE_CAPABILITIES;
            }
        }
        // The inheritable and ambient sets too: execve gives root its
        // bounding set plus its inheritable one, and keeps the ambient
        // one, so what swinetd was started with there (setpriv
        // --inh-caps, a container's runtime) would come back.
        struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct data[2] = { { 0 } };
        if (syscall(SYS_capget, &header, data) < 0) return CSPAWN_STAGE_CAPABILITIES;
        for (int i = 0; i < 2; i++) data[i].inheritable &= (uint32_t)(p->capabilities >> (32 * i));
        if (syscall(SYS_capset, &header, data) < 0) return CSPAWN_STAGE_CAPABILITIES;
        if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) return CSPAWN_STAGE_CAPABILITIES;
        if (ambient && syscall(SYS_prctl, PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return CSPAWN_STAGE_CAPABILITIES;
    }

    // The service's view of the file system (protect_system, protect_home,
    // the path lists): its mount namespace, set up once by the master.
    // setns also puts the root and working directory at the namespace's.
    if (p->set_mount_namespace && syscall(SYS_setns, p->mount_namespace, CLONE_NEWNS) < 0)
        return CSPAWN_STAGE_MOUNT;

    // `root_directory`: by descriptor (opened when the plan was made, in
    // the service's namespace when it has one), never by a path looked up
    // now. Before private_tmp's unshare, which moves the root and working
    // directory into the copy it makes; after it, the root would be a
    // mount of the service's namespace, where nothing can be mounted.
    if (p->root_directory >= 0
        && (syscall(SYS_fchdir, p->root_directory) < 0 || syscall(SYS_chroot, ".") < 0))
        return CSPAWN_STAGE_ROOT_DIRECTORY;

    // `private_tmp`: a namespace of this handler's own, copied from the
    // service's (whose mounts receive nothing from it), so the tmpfs on
    // /tmp is seen by this handler alone and freed when it ends.
    if (p->private_tmp && syscall(SYS_unshare, CLONE_NEWNS) < 0) return CSPAWN_STAGE_PRIVATE_TMP;

    if (p->private_tmp) {
        static const char *const where[] = { "/tmp", "/var/tmp" };
        for (int i = 0; i < 2; i++) {
            if (syscall(SYS_mount, "tmpfs", where[i], "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0
                && !(errno == ENOENT && i == 1))   // a root_directory without /var/tmp
                return CSPAWN_STAGE_PRIVATE_TMP;
        }
    }

    return 0;
}

CHILD_CODE int cspawn_isolate_after_credentials(const struct cspawn_plan *p) {
    if (gets_ambient(p)) {
        // setuid kept the permitted set (KEEPCAPS) and emptied the rest:
        // the listed ones become permitted, inheritable and effective, then
        // ambient (which needs them permitted and inheritable).
        struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct data[2] = { { 0 } };
        for (int i = 0; i < 2; i++) {
            uint32_t word = (uint32_t)(p->capabilities >> (32 * i));
            data[i].effective = data[i].permitted = data[i].inheritable = word;
        }
        if (syscall(SYS_capset, &header, data) < 0) return CSPAWN_STAGE_CAPABILITIES;
        for (int cap = 0; cap < 64; cap++) {
            if ((p->capabilities & (1ULL << cap))
                && syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
                return CSPAWN_STAGE_CAPABILITIES;
        }
    }

    return 0;
}

CHILD_CODE int cspawn_isolate_last(const struct cspawn_plan *p) {
    // Last, after the credentials: from here no execve grants privileges
    // (setuid and setgid bits, file capabilities), for the handler and for
    // everything it starts; the flag cannot be cleared again.
    // A seccomp filter implies it for a handler that is not root, as
    // systemd has it for User= (the kernel's own rule for loading a filter
    // without CAP_SYS_ADMIN): a setuid program it runs must not start
    // under a filter it does not expect.
    int filtered_user = p->seccomp_filter && p->change_credentials && p->uid != 0;
    if ((p->no_new_privs || filtered_user) && syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return CSPAWN_STAGE_NO_NEW_PRIVS;

    // The service's seccomp filter, the very last step: from here only
    // execve runs (which @default always allows), so neither the child's
    // own steps nor a list that leaves out setuid or dup3 can stop it.
    // Root loads it with CAP_SYS_ADMIN; a swinetd that is not root needs
    // no_new_privileges first, as systemd sets it for a filter without it.
    if (p->seccomp_filter) {
        struct sock_fprog prog = { .len = p->seccomp_length, .filter = (struct sock_filter *)p->seccomp_filter };
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0
            && (errno != EACCES || syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0
                || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0))
            return CSPAWN_STAGE_SECCOMP;
    }

    return 0;
}
