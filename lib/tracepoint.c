// SPDX-License-Identifier: Apache-2.0
/* Tracepoint ids and perf events (see tracepoint.h). */
#include "tracepoint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/perf_event.h>

/* glibc 2.36 has wrappers, older ones do not; the syscalls are 5.2's. */
#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#endif
#ifndef FSMOUNT_CLOEXEC
#define FSMOUNT_CLOEXEC 0x00000001
#endif
#ifndef FSCONFIG_CMD_CREATE
#define FSCONFIG_CMD_CREATE 6
#endif
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#endif

static int tracepoint_fs_mounted(const char *path)
{
	char probe[PATH_MAX];

	snprintf(probe, sizeof(probe), "%s/events", path);
	if (access(probe, F_OK))
		return -ENOENT;
	return open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

int tracepoint_fs_open(bool *detached)
{
	int fs, mnt, err;

	*detached = false;
	if ((mnt = tracepoint_fs_mounted("/sys/kernel/tracing")) >= 0 ||
	    (mnt = tracepoint_fs_mounted("/sys/kernel/debug/tracing")) >= 0)
		return mnt;
	fs = (int)syscall(SYS_fsopen, "tracefs", FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		err = -errno;
		close(fs);
		return err;
	}
	mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY);
	err = mnt < 0 ? -errno : 0;
	close(fs);
	if (err)
		return err;
	*detached = true;
	return mnt;
}

long tracepoint_id(int tracefs, const char *category, const char *name)
{
	char path[PATH_MAX], buf[32], *end;
	ssize_t n;
	long id;
	int fd;

	if (strchr(category, '/') || strchr(name, '/') || !strcmp(name, "..") ||
	    !strcmp(category, ".."))
		return -EINVAL;
	snprintf(path, sizeof(path), "events/%s/%s/id", category, name);
	fd = openat(tracefs, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EINVAL;
	buf[n] = '\0';
	errno = 0;
	id = strtol(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n') || id < 0)
		return -EINVAL;
	return id;
}

int tracepoint_perf_open(long id)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_TRACEPOINT,
		.size = sizeof(attr),
		.config = (unsigned long long)id,
		.sample_period = 1,
		.wakeup_events = 1,
	};
	int fd;

	/* Any process (-1), one CPU (0): the tracepoint's BPF programs run
	 * wherever it fires; libbpf opens its tracepoint events the same way. */
	fd = (int)syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}
