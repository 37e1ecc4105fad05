/* SPDX-License-Identifier: Apache-2.0 */
/* Opening paths inside a container's root file system without ever leaving
 * it: symlinks and ".." resolve against the container root (openat2
 * RESOLVE_IN_ROOT), magic links (/proc/self/...) are refused. */
#ifndef SHELLAUDIT_ROOTFS_H
#define SHELLAUDIT_ROOTFS_H

#include <sys/types.h>

/* Opens /proc/PID/root as a directory handle: the root the process sees.
 * Returns the fd (caller closes) or a negative errno. */
int rootfs_open_root(pid_t pid);

/* Opens `path` (absolute or relative, interpreted inside the root) for
 * reading, as a regular file. Returns the fd (caller closes) or a negative
 * errno: -ENOENT, -ELOOP, -EXDEV (would escape), -EINVAL (not a regular
 * file), -ENOSYS (kernel without openat2). */
int rootfs_open_file(int rootfd, const char *path);

/* The target of the symlink at `path` inside the root (the link itself, not
 * followed), NUL-terminated in buf. Returns 0 or a negative errno
 * (-EINVAL when path is not a symlink). */
int rootfs_readlink(int rootfd, const char *path, char *buf, size_t cap);

#endif
