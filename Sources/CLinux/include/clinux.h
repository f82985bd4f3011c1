// Linux facilities that Swift's Glibc module leaves out or wraps too
// tightly: epoll, signalfd, the calls that make descriptors close-on-exec
// atomically (accept4, pipe2, declared only under _GNU_SOURCE), raw signal
// masks (glibc refuses its reserved signals 32 and 33, which a stray kill
// can still send), close_range, malloc_trim, SO_PEERCRED, the descriptor-based
// calls on a UNIX socket's file, memfd_create, and giving back the pages of
// file mappings (file_pages.c).
#ifndef CLINUX_H
#define CLINUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

// No <sys/socket.h> here: Swift's Glibc module has it, and a second module
// that includes it too makes its names (SOCK_*, MSG_*) belong to whichever
// of the two the compiler loads first, so a file that imports only Glibc
// may not find them. Hence `void *` and `unsigned *` below.

/// accept4(2): the accepted socket gets `flags` (SOCK_CLOEXEC) atomically.
/// `addr` is a struct sockaddr, `len` a socklen_t.
int clinux_accept4(int fd, void *addr, unsigned *len, int flags);

/// pipe2(2): both ends get `flags` (O_CLOEXEC) atomically.
int clinux_pipe2(int fds[2], int flags);

/// A signal set as the kernel sees it: bit (signal - 1), signals 1 to 64.
typedef uint64_t clinux_sigmask;

/// rt_sigprocmask(2) without glibc's filter: `how` is SIG_BLOCK,
/// SIG_UNBLOCK or SIG_SETMASK. Returns 0, or -1 with errno.
int clinux_sigprocmask(int how, clinux_sigmask mask);

/// signalfd4(2) over `mask` (which may include 32 and 33).
int clinux_signalfd(clinux_sigmask mask, int flags);

/// Sets `signal`'s disposition to SIG_DFL with rt_sigaction(2) (any signal
/// but KILL and STOP, reserved ones included). Returns 0, or -1 with errno.
int clinux_default_disposition(int signal);

/// close_range(2): closes `first` to `last`. Returns 0, or -1 with errno.
int clinux_close_range(unsigned first, unsigned last);

/// malloc_trim(3): gives freed heap memory back to the kernel.
void clinux_malloc_trim(void);

/// How many connections wait in a listening TCP socket's accept queue
/// (TCP_INFO's tcpi_unacked, which is that count for a listener, as ss(8)
/// shows it in Recv-Q). Returns the count, or -1 with errno.
int clinux_listen_queue(int fd);

/// The uid, gid and pid of the process at the other end of a UNIX socket
/// (SO_PEERCRED; Swift's Glibc module lacks struct ucred). Returns 0, or -1
/// with errno.
int clinux_peer_cred(int fd, unsigned *uid, unsigned *gid, int *pid);

// A UNIX socket's file, changed without a path another user could swap
// (see UnixSocketFile): each call acts on a descriptor, none follows a
// symlink.

/// open(2) of the folder `path` with O_PATH | O_DIRECTORY | O_CLOEXEC (a
/// symlink to a folder is followed, once). Returns the descriptor, or -1.
int clinux_open_folder(const char *path);

/// openat(2) with O_PATH | O_NOFOLLOW | O_CLOEXEC: a handle on `name` in
/// the folder `dirfd` itself, a symlink included, never its target.
/// Returns the descriptor, or -1 with errno.
int clinux_open_handle(int dirfd, const char *name);

/// ioctl(SIOCUNIXFILE): an O_PATH descriptor of the very file a bound UNIX
/// socket `fd` was bound to, wherever that file is now. Returns the
/// descriptor, or -1 with errno (EPERM without CAP_NET_ADMIN; ENOTTY or
/// EINVAL on a kernel without it).
int clinux_unix_socket_file(int fd);

/// fchownat(fd, "", uid, gid, AT_EMPTY_PATH): the file of an O_PATH
/// descriptor; (unsigned)-1 leaves that id. Returns 0, or -1 with errno.
int clinux_chown_handle(int fd, unsigned uid, unsigned gid);

/// chmod(2) of the file of an O_PATH descriptor, through /proc/self/fd (what
/// glibc's fchmodat(AT_SYMLINK_NOFOLLOW) does). Returns 0, or -1 with errno.
int clinux_chmod_handle(int fd, unsigned mode);

/// memfd_create(2) without MFD_CLOEXEC: an upgrade's state, inherited by the
/// image it execs.
int clinux_memfd(const char *name);

/// In network_namespace.c: a new, empty network namespace (only a loopback
/// interface, brought up), made by the calling thread stepping into it and back:
/// a descriptor of it (close-on-exec), -1 with errno when it cannot be made
/// (no CAP_SYS_ADMIN, a kernel without network namespaces), or -2 when the
/// thread could not step back (it is left in the new namespace).
int clinux_empty_network_namespace(void);

/// In mount_namespace.c: one change to a service's view of the file system.
enum clinux_mount_kind {
    CLINUX_MOUNT_READ_ONLY = 1,     ///< `path` and what is below it, read-only
    CLINUX_MOUNT_READ_WRITE = 2,    ///< `path` as the host has it again (cloned before any step; read-only is never cleared)
    CLINUX_MOUNT_INACCESSIBLE = 3,  ///< an empty, mode-000, read-only mount over `path`
    CLINUX_MOUNT_ALL_READ_ONLY = 4, ///< everything read-only but /dev and /proc (as the host has them; /proc/sys read-only)
};

struct clinux_mount_step {
    int kind;          ///< enum clinux_mount_kind
    const char *path;  ///< absolute, with no symlink in it
    int optional;      ///< non-zero: a path that does not exist is skipped (protect_home's)
};

/// A new mount namespace with `steps` applied in order (private: no mount
/// propagates to or from the host), made on a thread of its own: a
/// descriptor of it (close-on-exec), or -1 with errno and `*failed_step`
/// the index of the step that failed (-1: before or after the steps).
/// With `root_directory`, `*root_fd` is an O_PATH descriptor of that folder
/// as the namespace sees it (else -1), for the child's chroot.
int clinux_mount_namespace(const struct clinux_mount_step *steps, size_t count, const char *root_directory,
                           int *root_fd, int *failed_step);

/// An O_PATH descriptor (close-on-exec) of `path`, refused (ELOOP) when
/// any component of it is a symlink; -1 with errno.
int clinux_open_no_symlinks(const char *path);

/// An O_PATH descriptor (close-on-exec) of `path` looked up inside the
/// folder `root` as if it were "/" (RESOLVE_IN_ROOT: "..", and absolute
/// symlinks, stay inside it), as a chroot's process would see it; -1 with errno.
int clinux_open_in_root(int root, const char *path);

/// In file_pages.c: unmaps from this process (MADV_DONTNEED) the pages of every read-only
/// file mapping that holds no private copy (code and constants of the
/// binary and its libraries, never a relocated RELRO page): what start-up
/// alone touched stops counting in RSS, and what the loop uses faults back
/// in from the page cache. Returns how many kB were resident in them, or -1.
long clinux_release_file_pages(void);

#endif
