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
#include <limits.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "util.h"

/* include/uapi/linux/nsfs.h of Linux 6.9+; the headers here may be older. */
#ifndef NS_GET_MNTNS_ID
#define NS_GET_MNTNS_ID _IOR(0xb7, 0x5, uint64_t)
#endif

/* A runc state.json is a few KiB; more is not one. */
#define CONTAINER_STATE_MAX (1 << 20)

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

bool container_pid_in(pid_t pid, const char *id)
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

int container_proc_stat(pid_t pid, struct container_stat *out)
{
	char path[64], buf[1024], *p, *end;
	unsigned long long v;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EINVAL;
	buf[n] = '\0';
	/* The name may hold spaces and parentheses: fields start after the
	 * last ')'. Field 3 is the state, 4 the parent, 6 the session, 22 the
	 * start time. */
	p = strrchr(buf, ')');
	if (!p)
		return -EINVAL;
	p++;
	for (field = 3; field <= 22; field++) {
		while (*p == ' ')
			p++;
		if (!*p)
			return -EINVAL;
		if (field == 4 || field == 6 || field == 22) {
			errno = 0;
			v = strtoull(p, &end, 10);
			if (end == p || errno)
				return -EINVAL;
			if (field == 4)
				out->ppid = (pid_t)v;
			else if (field == 6)
				out->sid = (pid_t)v;
			else
				out->start = v;
		}
		p = strchr(p, ' ');
		if (!p && field < 22)
			return -EINVAL;
		if (!p)
			break;
	}
	return 0;
}

int container_runtime_state_parse(const char *json, size_t n, pid_t *pid, uint64_t *start)
{
	cJSON *root = cJSON_ParseWithLength(json, n);
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "init_process_pid");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(root, "init_process_start");
	int ret = -EINVAL;

	if (cJSON_IsNumber(p) && cJSON_IsNumber(s) && p->valuedouble >= 1 &&
	    p->valuedouble <= 4194304 && p->valuedouble == (double)(int)p->valuedouble &&
	    s->valuedouble >= 0 && s->valuedouble < 9007199254740992.0) {
		*pid = (pid_t)p->valuedouble;
		*start = (uint64_t)s->valuedouble;
		ret = 0;
	}
	cJSON_Delete(root);
	return ret;
}

/* The init a runc state.json at path records, when that process still runs
 * (same start time) in the container's cgroup. */
static bool container_state_init(const char *path, const char *id, pid_t *pid)
{
	struct container_stat cs;
	uint64_t start;
	struct stat st;
	pid_t p;
	char *buf;
	ssize_t n;
	bool ok = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0)
		return false;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > CONTAINER_STATE_MAX ||
	    !(buf = malloc((size_t)st.st_size + 1))) {
		close(fd);
		return false;
	}
	n = pread(fd, buf, (size_t)st.st_size, 0);
	close(fd);
	if (n > 0 && container_runtime_state_parse(buf, (size_t)n, &p, &start) == 0 &&
	    container_proc_stat(p, &cs) == 0 && cs.start == start && container_pid_in(p, id)) {
		*pid = p;
		ok = true;
	}
	free(buf);
	return ok;
}

/* Looks for ROOT/ID/state.json and ROOT/NAMESPACE/ID/state.json. */
static bool container_root_init(const char *root, const char *id, pid_t *pid)
{
	char path[PATH_MAX];
	struct dirent *de;
	bool found = false;
	int n = 0;
	DIR *d;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/state.json", root, id) < sizeof(path) &&
	    container_state_init(path, id, pid))
		return true;
	if (!(d = opendir(root)))
		return false;
	/* Runtime namespaces (k8s.io, moby, default) are few. */
	while (!found && n++ < 256 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s/%s/state.json", root, de->d_name,
				     id) < sizeof(path))
			found = container_state_init(path, id, pid);
	}
	closedir(d);
	return found;
}

int container_find_init(const char *id, const char *roots, pid_t *pid, const char **how)
{
	char root[PATH_MAX];
	const char *p = roots ? roots : "", *colon;
	struct container_stat cs;
	struct dirent *d;
	long best = -1, v;
	uint64_t best_start = 0;
	char *end;
	DIR *dir;

	while (*p) {
		size_t n;

		colon = strchr(p, ':');
		n = colon ? (size_t)(colon - p) : strlen(p);
		if (n && n < sizeof(root)) {
			memcpy(root, p, n);
			root[n] = '\0';
			if (container_root_init(root, id, pid)) {
				*how = "runtime state";
				return 0;
			}
		}
		p += n + (colon ? 1 : 0);
	}
	dir = opendir("/proc");
	if (!dir)
		return -errno;
	while ((d = readdir(dir))) {
		v = strtol(d->d_name, &end, 10);
		if (*end || v <= 0 || container_proc_stat((pid_t)v, &cs))
			continue;
		if (best >= 0 && (cs.start > best_start || (cs.start == best_start && v > best)))
			continue;
		if (container_pid_in((pid_t)v, id)) {
			best = v;
			best_start = cs.start;
		}
	}
	closedir(dir);
	if (best < 0)
		return -ESRCH;
	*pid = (pid_t)best;
	*how = "oldest process of its cgroup";
	return 0;
}

uint64_t container_mntns_id(int nsfd)
{
	uint64_t id = 0;

	if (ioctl(nsfd, NS_GET_MNTNS_ID, &id))
		return 0;
	return id;
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
	struct container_stat cs = { 0 };
	char path[64];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		close(fd);
		return -errno;
	}
	out->mntns = (uint64_t)st.st_ino;
	out->nsid = container_mntns_id(fd);
	close(fd);
	out->cgroup = container_cgroup_id(pid);
	out->start = container_proc_stat(pid, &cs) == 0 ? cs.start : 0;
	return 0;
}
