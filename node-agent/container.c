// SPDX-License-Identifier: Apache-2.0
/* Container discovery through /proc and cgroup paths (see container.h). */
#include "container.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "util.h"

static bool container_is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return false;
	return true;
}

int container_parse_id(const char *spec, char *out, size_t cap)
{
	static const char *const schemes[] = { "containerd://", "cri-o://", "docker://" };
	size_t i, n;

	for (i = 0; i < ARRAY_SIZE(schemes); i++) {
		n = strlen(schemes[i]);
		if (strncmp(spec, schemes[i], n) == 0) {
			spec += n;
			break;
		}
	}
	n = strlen(spec);
	if (n < 12 || n >= CONTAINER_ID_MAX || n >= cap || !container_is_hex(spec, n))
		return -EINVAL;
	memcpy(out, spec, n + 1);
	return 0;
}

int container_id_from_cgroup_path(const char *path, char *out, size_t cap)
{
	static const char *const prefixes[] = { "cri-containerd-", "crio-", "docker-", "libpod-" };
	const char *base = strrchr(path, '/');
	size_t n, i, plen;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 6 && strcmp(base + n - 6, ".scope") == 0) {
		n -= 6;
		for (i = 0; i < ARRAY_SIZE(prefixes); i++) {
			plen = strlen(prefixes[i]);
			if (strncmp(base, prefixes[i], plen) == 0)
				break;
		}
		if (i == ARRAY_SIZE(prefixes))
			return -ENOENT;
		base += plen;
		n -= plen;
	}
	/* Exactly 64 hex digits: shorter hex names (a pod UID without its
	 * "pod" prefix never appears, but other services might) are not
	 * taken for containers. crio-conmon-<id> fails here on the dash. */
	if (n != 64 || n >= cap || !container_is_hex(base, n))
		return -ENOENT;
	memcpy(out, base, n);
	out[n] = '\0';
	return 0;
}

/* True when one of the cgroup lines of pid names container id. */
static bool container_pid_in(pid_t pid, const char *id)
{
	char path[64], line[4096], found[CONTAINER_ID_MAX];
	bool match = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!match && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':');

		p = p ? strchr(p + 1, ':') : NULL;
		if (!p)
			continue;
		p[strcspn(p, "\n")] = '\0';
		if (container_id_from_cgroup_path(p + 1, found, sizeof(found)) == 0 &&
		    strcmp(found, id) == 0)
			match = true;
	}
	fclose(f);
	return match;
}

int container_find_pid(const char *id, pid_t *pid)
{
	struct dirent *d;
	long best = -1, v;
	char *end;
	DIR *dir;

	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		v = strtol(d->d_name, &end, 10);
		if (*end || v <= 0)
			continue;
		if ((best < 0 || v < best) && container_pid_in((pid_t)v, id))
			best = v;
	}
	closedir(dir);
	if (best < 0)
		return -ESRCH;
	*pid = (pid_t)best;
	return 0;
}

int container_mntns_of_pid(pid_t pid, uint64_t *mntns)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	if (stat(path, &st))
		return -errno;
	*mntns = (uint64_t)st.st_ino;
	return 0;
}

/* The cgroup v2 id of pid: the inode of its directory in the unified
 * hierarchy (what bpf_get_current_cgroup_id() returns), 0 without one. */
static uint64_t container_cgroup_id(pid_t pid)
{
	static const char *const roots[] = { "/sys/fs/cgroup/unified", "/sys/fs/cgroup" };
	char path[64], line[4096], dir[4200];
	struct statfs sfs;
	struct stat st;
	uint64_t id = 0;
	size_t i;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		for (i = 0; i < ARRAY_SIZE(roots) && !id; i++) {
			if (statfs(roots[i], &sfs) || sfs.f_type != CGROUP2_SUPER_MAGIC)
				continue;
			snprintf(dir, sizeof(dir), "%s%s", roots[i], line + 3);
			if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
				id = (uint64_t)st.st_ino;
		}
		break;
	}
	fclose(f);
	return id;
}

int container_ident_of_pid(pid_t pid, struct container_ident *out)
{
	int err = container_mntns_of_pid(pid, &out->mntns);

	if (err)
		return err;
	out->cgroup = container_cgroup_id(pid);
	return 0;
}
