// SPDX-License-Identifier: Apache-2.0
/* Finding readline inside a container (see discover.h). */
#include "discover.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "container.h"
#include "elfsym.h"
#include "log.h"
#include "probe.h"
#include "rootfs.h"
#include "util.h"

#if defined(__x86_64__)
#define DISCOVER_TRIPLET "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define DISCOVER_TRIPLET "aarch64-linux-gnu"
#else
#define DISCOVER_TRIPLET "unknown"
#endif

static const char *const discover_lib_dirs[] = {
	"/lib/" DISCOVER_TRIPLET, "/usr/lib/" DISCOVER_TRIPLET, "/lib64", "/usr/lib64", "/lib",
	"/usr/lib",
};

static const char *const discover_shells[] = {
	"/bin/bash", "/usr/bin/bash", "/usr/local/bin/bash", "/bin/sh", "/usr/bin/sh",
};

static const char *const discover_libs[] = { "libreadline.so.8", "libreadline.so.7",
					     "libedit.so.2" };

static bool discover_is_readline_lib(const char *name)
{
	return strncmp(name, "libreadline.so", 14) == 0 || strncmp(name, "libedit.so", 10) == 0;
}

/* True while the process pidfd refers to has not exited: what was opened
 * through /proc/PID before this check belonged to it. */
static bool discover_alive(int pidfd)
{
	return syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
}

/* Opens `path` in the root and probes it. ENOENT is normal for the usual
 * paths; a symlink that points nowhere inside the root is worth a line,
 * since it often means a link to a host path. */
static int discover_path(struct probe_set *ps, uint32_t owner, pid_t pid, int rootfd,
			 const char *path, bool quiet_enoent)
{
	char target[512];
	int fd, err;

	fd = rootfs_open_file(rootfd, path);
	if (fd < 0) {
		if (fd == -ENOENT && rootfs_readlink(rootfd, path, target, sizeof(target)) == 0)
			log_with(LOG_WARN, LOG_KV("file", path, "link", target),
				 "not probed: symlink does not resolve inside the container");
		else if (fd != -ENOENT || !quiet_enoent)
			log_with(fd == -ENOENT ? LOG_DEBUG : LOG_WARN, LOG_KV("file", path),
				 "not probed: cannot open inside the container: %s",
				 strerror(-fd));
		return fd;
	}
	err = probe_acquire(ps, fd, pid, owner, path);
	close(fd);
	return err;
}

/* The libraries named in the maps of pid that provide readline. */
static int discover_maps(struct probe_set *ps, uint32_t owner, pid_t pid, int pidfd,
			 bool *found)
{
	char path[64], line[4096], file[128];
	int ret = 0, err, fd;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *range = line, *name = strrchr(line, '/'), *sp;

		if (!name || !discover_is_readline_lib(name + 1))
			continue;
		name[strcspn(name, "\n")] = '\0';
		sp = strchr(range, ' ');
		if (!sp || sp - range > 40)
			continue;
		*sp = '\0';
		if (snprintf(file, sizeof(file), "/proc/%d/map_files/%s", (int)pid, range) >=
		    (int)sizeof(file))
			continue;
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (!discover_alive(pidfd)) {
			close(fd);
			break;
		}
		*found = true;
		/* The path as the process sees it: the first '/' of the line. */
		err = probe_acquire(ps, fd, pid, owner, strchr(sp + 1, '/'));
		close(fd);
		if (err == 1)
			ret = 1;
		else if (err == 0 || err == -ENOENT)
			continue;
		break; /* the library is open; its mappings are one file */
	}
	fclose(f);
	return ret;
}

/* The readline libraries the executable at exefd links, looked up in the
 * usual directories of the process's root (at exec time, before the dynamic
 * loader ran, nothing is mapped yet). Returns 1 when a probe was attached,
 * 0 when the library was found, -EAGAIN when it was not (it may be
 * elsewhere: look at the maps once the loader ran). */
static int discover_needed(struct probe_set *ps, uint32_t owner, pid_t pid, int exefd)
{
	char names[ELFSYM_MAX_NEEDED][ELFSYM_NAME_MAX], path[512];
	const char *why = NULL;
	int n, i, ret = -EAGAIN, err, rootfd;
	size_t d;

	n = elfsym_needed(exefd, names, ELFSYM_MAX_NEEDED, &why);
	if (n <= 0)
		return n < 0 ? n : -EAGAIN;
	rootfd = rootfs_open_root(pid);
	if (rootfd < 0)
		return rootfd;
	for (i = 0; i < n; i++) {
		if (!discover_is_readline_lib(names[i]) || strchr(names[i], '/'))
			continue;
		for (d = 0; d < ARRAY_SIZE(discover_lib_dirs); d++) {
			if (snprintf(path, sizeof(path), "%s/%s", discover_lib_dirs[d],
				     names[i]) >= (int)sizeof(path))
				continue;
			err = discover_path(ps, owner, pid, rootfd, path, true);
			if (err == -ENOENT)
				continue;
			if (err == 1)
				ret = 1;
			else if (ret != 1)
				ret = 0;
			break;
		}
	}
	close(rootfd);
	return ret;
}

int discover_scope_of_pid(pid_t pid, struct discover_scope *out)
{
	char path[64];
	struct stat st;
	int err;

	err = container_mntns_of_pid(pid, &out->mntns);
	if (err)
		return err;
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	if (stat(path, &st))
		return -errno;
	out->root_dev = st.st_dev;
	out->root_ino = st.st_ino;
	return 0;
}

static bool discover_in_scope(pid_t pid, const struct discover_scope *scope)
{
	struct discover_scope s;

	return discover_scope_of_pid(pid, &s) == 0 && s.mntns == scope->mntns &&
	       s.root_dev == scope->root_dev && s.root_ino == scope->root_ino;
}

int discover_process(struct probe_set *ps, uint32_t owner, const struct discover_scope *scope,
		     pid_t pid)
{
	char path[64], label[512];
	int pidfd, fd = -1, err;
	bool found = false;
	ssize_t n;

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return -ESRCH;
	if (!discover_in_scope(pid, scope)) {
		err = -ESRCH;
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = readlink(path, label, sizeof(label) - 1);
	label[n > 0 ? n : 0] = '\0';
	/* Checked after the opens: if the process still lives, the pid was
	 * not reused and what we opened is its executable. */
	if (fd < 0 || !discover_alive(pidfd)) {
		err = -ESRCH;
		goto out;
	}
	err = probe_acquire(ps, fd, pid, owner, label);
	if (err != -ENXIO)
		goto out;
	err = discover_maps(ps, owner, pid, pidfd, &found);
	if (!found)
		err = discover_needed(ps, owner, pid, fd);
out:
	if (fd >= 0)
		close(fd);
	close(pidfd);
	if (err == -ENOENT || err == -ENODATA || err == -ENXIO)
		return 0;
	return err;
}

int discover_container(struct probe_set *ps, uint32_t owner, const struct discover_scope *scope,
		       pid_t pid)
{
	char path[512];
	struct dirent *de;
	uint64_t ns;
	size_t i, d;
	int rootfd, n = 0;
	DIR *dir;
	long v;
	char *end;

	rootfd = rootfs_open_root(pid);
	if (rootfd < 0)
		return rootfd;
	for (i = 0; i < ARRAY_SIZE(discover_shells); i++)
		if (discover_path(ps, owner, pid, rootfd, discover_shells[i], true) == 1)
			n++;
	for (i = 0; i < ARRAY_SIZE(discover_libs); i++) {
		for (d = 0; d < ARRAY_SIZE(discover_lib_dirs); d++) {
			snprintf(path, sizeof(path), "%s/%s", discover_lib_dirs[d],
				 discover_libs[i]);
			if (discover_path(ps, owner, pid, rootfd, path, true) == 1)
				n++;
		}
	}
	close(rootfd);

	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while ((de = readdir(dir))) {
		v = strtol(de->d_name, &end, 10);
		if (*end || v <= 0)
			continue;
		if (container_mntns_of_pid((pid_t)v, &ns) || ns != scope->mntns)
			continue;
		if (discover_process(ps, owner, scope, (pid_t)v) == 1)
			n++;
	}
	closedir(dir);
	return n;
}
