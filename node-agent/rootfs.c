// SPDX-License-Identifier: Apache-2.0
/* Paths inside a container root (see rootfs.h). */
#include "rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int rootfs_open_root(pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int rootfs_open_file(int rootfd, const char *path)
{
	struct open_how how = {
		.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	struct stat st;
	long fd;

	fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd < 0)
		return -errno;
	/* O_NONBLOCK keeps a FIFO from blocking the open; anything but a
	 * regular file is refused after. */
	if (fstat((int)fd, &st) || !S_ISREG(st.st_mode)) {
		close((int)fd);
		return -EINVAL;
	}
	return (int)fd;
}

int rootfs_readlink(int rootfd, const char *path, char *buf, size_t cap)
{
	struct open_how how = {
		.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	ssize_t n;
	long fd;

	if (cap == 0)
		return -EINVAL;
	fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	if (fd < 0)
		return -errno;
	n = readlinkat((int)fd, "", buf, cap - 1);
	close((int)fd);
	if (n < 0)
		return errno == ENOENT ? -EINVAL : -errno;
	buf[n] = '\0';
	return 0;
}
