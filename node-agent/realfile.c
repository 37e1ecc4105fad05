// SPDX-License-Identifier: Apache-2.0
/* The real file behind an overlay file (see realfile.h).
 *
 * Nothing the kernel shows names the layer file behind an overlay file:
 * fstat, statx, /proc/PID/maps and map_files all give the overlay's device
 * and the overlay keeps the lower inode number after a copy-up. So the
 * layer file is looked up by the file's path inside the overlay, in the
 * layer directories named by the mount's options, and every answer is
 * proved before it is used:
 *
 * - the upper directory is the overlay's upper layer: the overlay encodes
 *   its root by the upper root's own file handle;
 * - a file of the upper layer is the file: same attributes as the open file
 *   (the overlay shows the upper file's; ctime cannot be set), and for a
 *   file created in the container, the same file handle;
 * - without the path in the upper layer the file was never copied up, and
 *   a lower layer's file is the file when its handle is the one the overlay
 *   encodes for the open file (the lower origin) and its attributes match.
 *
 * A lower file not found by path (a renamed directory, redirect_dir) is
 * named by the overlay's handle, which holds the lower file system's uuid
 * and the file's handle there; only when all lower layers are on one device
 * (uuids may be null or repeated, the device is not). Anything else keeps
 * the overlay inode: more probes than needed, never a missed file.
 */
#include "realfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "digest.h"
#include "rootfs.h"
#include "util.h"

#ifndef AT_HANDLE_FID
#define AT_HANDLE_FID 0x200
#endif
#define REALFILE_OVERLAY_MAGIC 0x794c7630 /* OVERLAYFS_SUPER_MAGIC */

/* The overlay's file handle (struct ovl_fh in fs/overlayfs/overlayfs.h):
 * 3 bytes of padding, then version, magic, len (from version on), flags,
 * type, the layer's uuid (16 bytes) and the layer's own handle. */
#define REALFILE_OVL_TYPE 0xf8 /* OVL_FILEID_V1 */
#define REALFILE_OVL_MAGIC 0xfb
#define REALFILE_OVL_PAD 3
#define REALFILE_OVL_HDR 21 /* version to uuid */
#define REALFILE_OVL_FLAGS (REALFILE_OVL_PAD + 3)
#define REALFILE_OVL_FID_TYPE (REALFILE_OVL_PAD + 4)
#define REALFILE_OVL_FID (REALFILE_OVL_PAD + REALFILE_OVL_HDR)
#define REALFILE_OVL_FLAG_UPPER 0x4 /* OVL_FH_FLAG_PATH_UPPER */

/* Within a layer: no symlink, no mount crossing, no way out. */
#define REALFILE_BENEATH \
	(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

/* Where the mounter's (containerd's) paths are: the host root seen through
 * the host's init (the agent runs with hostPID), else our own root. Which
 * one was right is proved by the upper layer's handle, or by the files'. */
static const char *const realfile_host_roots[] = { "/proc/1/root", "/" };

struct realfile_fh {
	int type;
	uint32_t len;
	unsigned char b[REALFILE_FH_MAX];
};

/* Everything one resolution needs, allocated once (it is large). */
struct realfile_ctx {
	char line[REALFILE_LINE_MAX];
	char root[PATH_MAX];
	char file[PATH_MAX];
	struct realfile_mount m;
	struct realfile_fh ovl; /* the overlay's handle of the open file */
	struct realfile_fh fh;
	const char *rel; /* the file's path inside the overlay, no leading '/' */
};

static int realfile_openat2(int dirfd, const char *path, int flags, uint64_t resolve)
{
	struct open_how how = { .flags = (uint64_t)flags | O_CLOEXEC, .resolve = resolve };
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

static int realfile_handle(int fd, struct realfile_fh *out)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + REALFILE_FH_MAX];
	} u;
	int mnt;

	out->type = 0; /* no handle until the kernel gives one */
	out->len = 0;
	u.fh.handle_bytes = REALFILE_FH_MAX;
	if (name_to_handle_at(fd, "", &u.fh, &mnt, AT_EMPTY_PATH | AT_HANDLE_FID))
		return -errno;
	if (u.fh.handle_bytes > REALFILE_FH_MAX)
		return -EOVERFLOW;
	out->type = u.fh.handle_type;
	out->len = u.fh.handle_bytes;
	memcpy(out->b, u.fh.f_handle, out->len);
	return 0;
}

/* The overlay handle's length (padding included, not the rounding), or 0
 * when h is not an overlay handle. */
static uint32_t realfile_ovl_len(const struct realfile_fh *h)
{
	const unsigned char *fb = h->b + REALFILE_OVL_PAD;

	if (h->type != REALFILE_OVL_TYPE || h->len < REALFILE_OVL_FID || h->b[0] || h->b[1] ||
	    h->b[2] || fb[0] != 0 || fb[1] != REALFILE_OVL_MAGIC || fb[2] < REALFILE_OVL_HDR ||
	    fb[2] > h->len - REALFILE_OVL_PAD)
		return 0;
	return REALFILE_OVL_PAD + fb[2];
}

/* True when fd's own handle is the layer handle inside overlay handle ovl. */
static bool realfile_is_encoded(const struct realfile_fh *ovl, int fd)
{
	struct realfile_fh raw;
	uint32_t n = realfile_ovl_len(ovl);

	return n && realfile_handle(fd, &raw) == 0 && raw.type == ovl->b[REALFILE_OVL_FID_TYPE] &&
	       raw.len == n - REALFILE_OVL_FID &&
	       memcmp(raw.b, ovl->b + REALFILE_OVL_FID, raw.len) == 0;
}

static bool realfile_same_attrs(const struct stat *a, const struct stat *b)
{
	return a->st_mode == b->st_mode && a->st_uid == b->st_uid && a->st_gid == b->st_gid &&
	       a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Decodes mountinfo's octal escapes (\040 and the like) in place. */
static int realfile_unoctal(char *s)
{
	char *w = s;
	int v;

	for (; *s; s++) {
		if (*s != '\\') {
			*w++ = *s;
			continue;
		}
		if (s[1] < '0' || s[1] > '3' || s[2] < '0' || s[2] > '7' || s[3] < '0' ||
		    s[3] > '7')
			return -EINVAL;
		v = (s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0');
		if (v == 0)
			return -EINVAL;
		*w++ = (char)v;
		s += 3;
	}
	*w = '\0';
	return 0;
}

static int realfile_add_lower(struct realfile_mount *m, const char *dir)
{
	if (dir[0] != '/')
		return -ENOTSUP; /* relative to the mounter's working directory */
	if (m->nlower == REALFILE_LOWER_MAX)
		return -ENOTSUP;
	m->lower[m->nlower++] = dir;
	return 0;
}

/* "lowerdir=": layers separated by ':', '\' escaping the next character
 * (the overlay's own syntax, as the mounter wrote it); "::" starts the
 * data-only layers, which are never looked up by path. */
static int realfile_split_lowers(char *v, struct realfile_mount *m)
{
	char *r = v, *w = v, *start = v;
	int err;

	for (;;) {
		if (*r == '\\') {
			if (!r[1])
				return -EINVAL;
			*w++ = r[1];
			r += 2;
			continue;
		}
		if (*r != ':' && *r != '\0') {
			*w++ = *r++;
			continue;
		}
		if (w == start)
			return m->nlower ? 0 : -EINVAL;
		if (*r == '\0') {
			*w = '\0';
			return realfile_add_lower(m, start);
		}
		*w = '\0';
		if ((err = realfile_add_lower(m, start)))
			return err;
		r++;
		start = ++w;
	}
}

static int realfile_parse_overlay(char *opts, struct realfile_mount *m)
{
	bool legacy = false, plus = false;
	char *o, *v;
	int err;

	while ((o = strsep(&opts, ","))) {
		if ((v = strchr(o, '=')))
			*v++ = '\0';
		else
			continue;
		if ((err = realfile_unoctal(v)))
			return err;
		if (!strcmp(o, "upperdir")) {
			/* Whether the kernel kept the mounter's escapes here is
			 * not certain: a path with a backslash is not used. */
			if (m->upper)
				return -EINVAL;
			if (v[0] != '/' || strchr(v, '\\'))
				return -ENOTSUP;
			m->upper = v;
		} else if (!strcmp(o, "lowerdir")) {
			if (legacy || plus)
				return -EINVAL;
			legacy = true;
			if ((err = realfile_split_lowers(v, m)))
				return err;
		} else if (!strcmp(o, "lowerdir+")) {
			if (legacy)
				return -EINVAL;
			plus = true;
			if (strchr(v, '\\'))
				return -ENOTSUP;
			if ((err = realfile_add_lower(m, v)))
				return err;
		}
	}
	return m->nlower ? 0 : -EINVAL;
}

int realfile_parse_mountinfo(char *line, struct realfile_mount *m)
{
	char *f[64], *s = line, *end;
	size_t n = 0, dash;
	int err;

	memset(m, 0, sizeof(*m));
	line[strcspn(line, "\n")] = '\0';
	while (s) {
		if (n == ARRAY_SIZE(f))
			return -EINVAL;
		f[n++] = strsep(&s, " ");
	}
	/* id parent major:minor root mountpoint options [optional...] - type source super */
	for (dash = 6; dash < n && strcmp(f[dash], "-"); dash++)
		;
	if (n < 10 || dash + 4 != n)
		return -EINVAL;
	if (f[0][0] < '0' || f[0][0] > '9')
		return -EINVAL;
	errno = 0;
	m->id = strtoul(f[0], &end, 10);
	if (*end || errno)
		return -EINVAL;
	if ((err = realfile_unoctal(f[3])) || (err = realfile_unoctal(f[4])) ||
	    (err = realfile_unoctal(f[dash + 1])))
		return err;
	if (f[3][0] != '/' || f[4][0] != '/')
		return -EINVAL;
	m->root = f[3];
	m->mountpoint = f[4];
	m->fstype = f[dash + 1];
	if (strcmp(m->fstype, "overlay"))
		return 0;
	return realfile_parse_overlay(f[dash + 3], m);
}

int realfile_read_mount(FILE *f, unsigned long id, char *line, size_t cap,
			struct realfile_mount *m)
{
	size_t len;
	char *end;
	int ch;

	if (cap < 2 || cap > INT_MAX)
		return -EINVAL;
	while (fgets(line, (int)cap, f)) {
		len = strlen(line);
		errno = 0;
		if (strtoul(line, &end, 10) != id || *end != ' ' || errno) {
			if (len && line[len - 1] != '\n')
				while ((ch = fgetc(f)) != EOF && ch != '\n')
					;
			continue;
		}
		if (len && line[len - 1] != '\n' && !feof(f))
			return -E2BIG;
		return realfile_parse_mountinfo(line, m);
	}
	return -ENOENT;
}

/* The mountinfo line of mount id in pid's mountinfo, parsed into c->m. */
static int realfile_find_mount(struct realfile_ctx *c, pid_t pid, unsigned long id)
{
	char path[64];
	FILE *f;
	int err;

	snprintf(path, sizeof(path), "/proc/%d/mountinfo", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	err = realfile_read_mount(f, id, c->line, sizeof(c->line), &c->m);
	fclose(f);
	return err;
}

static int realfile_readlink(const char *path, char *buf, size_t cap)
{
	ssize_t n = readlink(path, buf, cap);

	if (n < 0)
		return -errno;
	if ((size_t)n >= cap)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return 0;
}

/* The path of the open file inside the overlay mount, as the kernel names
 * it: the fd's path less the process root and the mount point (both paths
 * are read from the same mount tree, ours or the container's). */
static const char *realfile_rel_path(struct realfile_ctx *c, int fd, pid_t pid)
{
	char path[64], prefix[PATH_MAX + 8];
	const char *mp = c->m.mountpoint;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	if (realfile_readlink(path, c->root, sizeof(c->root)))
		return "cannot read the root of the process";
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (realfile_readlink(path, c->file, sizeof(c->file)) || c->file[0] != '/')
		return "cannot read the path of the file";
	if (!strcmp(c->root, "/"))
		n = (size_t)snprintf(prefix, sizeof(prefix), "%s", mp);
	else
		n = (size_t)snprintf(prefix, sizeof(prefix), "%s%s", c->root,
				     strcmp(mp, "/") ? mp : "");
	if (n >= sizeof(prefix))
		return "path too long";
	if (!strcmp(prefix, "/"))
		n = 0;
	if (strncmp(c->file, prefix, n) || c->file[n] != '/' || !c->file[n + 1])
		return "file path outside the mount";
	c->rel = c->file + n + 1;
	return NULL;
}

/* Opens the layer directory `dir` in *hostroot, or when none is chosen yet
 * in the first host root that has it (which becomes *hostroot). */
static int realfile_open_layer(const char *dir, int *hostroot)
{
	size_t i;
	int root, fd;

	if (*hostroot >= 0)
		return realfile_openat2(*hostroot, dir, O_PATH | O_DIRECTORY,
					RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	for (i = 0; i < ARRAY_SIZE(realfile_host_roots); i++) {
		root = open(realfile_host_roots[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (root < 0)
			continue;
		fd = realfile_openat2(root, dir, O_PATH | O_DIRECTORY,
				      RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
		if (fd >= 0) {
			*hostroot = root;
			return fd;
		}
		close(root);
	}
	return -ENOENT;
}

/* The upper layer, proved by the overlay's handle of its root (which is the
 * upper root's). Tries each host root until one holds it. */
static int realfile_open_upper(struct realfile_ctx *c, int mntfd, int *hostroot)
{
	struct realfile_fh rootfh;
	size_t i;
	int root, fd;

	if (realfile_handle(mntfd, &rootfh) || !realfile_ovl_len(&rootfh) ||
	    !(rootfh.b[REALFILE_OVL_FLAGS] & REALFILE_OVL_FLAG_UPPER))
		return -ENOTSUP;
	for (i = 0; i < ARRAY_SIZE(realfile_host_roots); i++) {
		root = open(realfile_host_roots[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (root < 0)
			continue;
		fd = realfile_openat2(root, c->m.upper, O_PATH | O_DIRECTORY,
				      RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
		if (fd >= 0 && realfile_is_encoded(&rootfh, fd)) {
			*hostroot = root;
			return fd;
		}
		if (fd >= 0)
			close(fd);
		close(root);
	}
	return -ENOENT;
}

/* Looks the file up in the upper layer: 1 and out set when it is there, 0
 * when it is not (never copied up), or a reason to give up. */
static const char *realfile_in_upper(struct realfile_ctx *c, int mntfd, const struct stat *st,
				     int *hostroot, int *found, struct realfile_key *out)
{
	bool pure = c->ovl.b[REALFILE_OVL_FLAGS] & REALFILE_OVL_FLAG_UPPER;
	const char *why = NULL;
	struct stat ust;
	int up, fd;

	*found = 0;
	up = realfile_open_upper(c, mntfd, hostroot);
	if (up < 0)
		return "upper layer not found";
	fd = realfile_openat2(up, c->rel, O_PATH | O_NOFOLLOW, REALFILE_BENEATH);
	if (fd == -ENOENT) {
		why = pure ? "file of the upper layer missing from it" : NULL;
		goto out;
	}
	if (fd < 0) {
		why = "cannot look the file up in the upper layer";
		goto out;
	}
	if (fstat(fd, &ust) || !S_ISREG(ust.st_mode) || !realfile_same_attrs(&ust, st) ||
	    (pure && !realfile_is_encoded(&c->ovl, fd))) {
		why = "the upper layer's file is another";
		goto out;
	}
	out->kind = REALFILE_OVERLAY_UPPER;
	out->dev = ust.st_dev;
	out->ino = ust.st_ino;
	*found = 1;
out:
	if (fd >= 0)
		close(fd);
	close(up);
	return why;
}

/* The file in the lower layers, by path, else by the overlay's handle. */
static const char *realfile_in_lowers(struct realfile_ctx *c, const struct stat *st, int *hostroot,
				      struct realfile_key *out)
{
	bool by_path = true, one_dev = true;
	struct stat lst;
	dev_t dev = 0;
	size_t i;
	int dir, fd;

	for (i = 0; i < c->m.nlower; i++) {
		dir = realfile_open_layer(c->m.lower[i], hostroot);
		if (dir < 0)
			return "lower layer not found";
		if (fstat(dir, &lst)) {
			close(dir);
			return "lower layer not found";
		}
		if (i == 0)
			dev = lst.st_dev;
		one_dev &= lst.st_dev == dev;
		fd = by_path ? realfile_openat2(dir, c->rel, O_PATH | O_NOFOLLOW, REALFILE_BENEATH)
			     : -ENOENT;
		close(dir);
		if (fd == -ENOENT)
			continue;
		/* The first layer that has the path decides: the file if it
		 * is the overlay's origin, else (a whiteout, an error, another
		 * file) the path leads nowhere certain. */
		by_path = false;
		if (fd < 0)
			continue;
		if (fstat(fd, &lst) == 0 && S_ISREG(lst.st_mode) && realfile_same_attrs(&lst, st) &&
		    realfile_is_encoded(&c->ovl, fd)) {
			close(fd);
			out->kind = REALFILE_OVERLAY_LOWER;
			out->dev = lst.st_dev;
			out->ino = lst.st_ino;
			return NULL;
		}
		close(fd);
	}
	if (!one_dev)
		return "lower file not found by path and the lower layers are on several devices";
	out->kind = REALFILE_OVERLAY_HANDLE;
	out->dev = dev;
	out->ino = 0;
	out->fh_len = realfile_ovl_len(&c->ovl);
	memcpy(out->fh, c->ovl.b, out->fh_len);
	return NULL;
}

/* Resolves the overlay file at fd; on failure returns why and leaves out. */
static const char *realfile_overlay(struct realfile_ctx *c, int fd, pid_t pid,
				    const struct stat *st, struct realfile_key *out)
{
	struct realfile_key k = { 0 };
	const char *why = NULL;
	int procroot = -1, mntfd = -1, ofd = -1, hostroot = -1, found = 0;
	struct statx sx;
	struct stat ost;

	if (st->st_nlink == 0)
		return "file unlinked";
	if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) || !(sx.stx_mask & STATX_MNT_ID))
		return "no mount id";
	/* c->m is set when realfile_find_mount() returns 0 (the analyzer
	 * takes -errno after a failed fopen() for a possible 0). */
	if (realfile_find_mount(c, pid, (unsigned long)sx.stx_mnt_id) ||
	    // NOLINTNEXTLINE(clang-analyzer-core.CallAndMessage)
	    strcmp(c->m.fstype, "overlay"))
		return "overlay mount not understood";
	if (strcmp(c->m.root, "/"))
		return "a part of an overlay mounted";
	if (realfile_handle(fd, &c->ovl) || !realfile_ovl_len(&c->ovl))
		return "no overlay file handle";
	if ((why = realfile_rel_path(c, fd, pid)))
		return why;

	/* The path must name this very file in this very mount. */
	procroot = rootfs_open_root(pid);
	if (procroot < 0)
		return "cannot open the root of the process";
	mntfd = realfile_openat2(procroot, c->m.mountpoint, O_PATH | O_DIRECTORY,
				 RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
	if (mntfd < 0 ||
	    statx(mntfd, "", AT_EMPTY_PATH, STATX_MNT_ID, &sx) || !(sx.stx_mask & STATX_MNT_ID) ||
	    !(sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) ||
	    !(sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) ||
	    sx.stx_mnt_id != (uint64_t)c->m.id) {
		why = "overlay mount not reachable";
		goto out;
	}
	ofd = realfile_openat2(mntfd, c->rel, O_PATH | O_NOFOLLOW, REALFILE_BENEATH);
	if (ofd < 0 || fstat(ofd, &ost) || ost.st_dev != st->st_dev || ost.st_ino != st->st_ino) {
		why = "file path changed";
		goto out;
	}

	if (c->m.upper) {
		why = realfile_in_upper(c, mntfd, st, &hostroot, &found, &k);
		if (why || found)
			goto out;
	} else if (c->ovl.b[REALFILE_OVL_FLAGS] & REALFILE_OVL_FLAG_UPPER) {
		why = "upper file handle without an upper layer";
		goto out;
	}
	why = realfile_in_lowers(c, st, &hostroot, &k);
out:
	if (!why)
		*out = k;
	if (hostroot >= 0)
		close(hostroot);
	if (ofd >= 0)
		close(ofd);
	if (mntfd >= 0)
		close(mntfd);
	if (procroot >= 0)
		close(procroot);
	return why;
}

int realfile_key_of(int fd, pid_t pid, struct realfile_key *out, const char **why)
{
	struct realfile_ctx *c;
	struct statfs sfs;
	struct stat st;
	const char *w;

	if (why)
		*why = NULL;
	if (fstat(fd, &st))
		return -errno;
	memset(out, 0, sizeof(*out));
	out->kind = REALFILE_INODE;
	out->dev = st.st_dev;
	out->ino = st.st_ino;
	if (fstatfs(fd, &sfs) || sfs.f_type != REALFILE_OVERLAY_MAGIC)
		return 0;
	c = malloc(sizeof(*c));
	if (!c) {
		w = "out of memory";
	} else {
		w = realfile_overlay(c, fd, pid, &st, out);
		free(c);
	}
	if (why)
		*why = w;
	return 0;
}

bool realfile_key_equal(const struct realfile_key *a, const struct realfile_key *b)
{
	return a->kind == b->kind && a->dev == b->dev && a->ino == b->ino &&
	       a->fh_len == b->fh_len && memcmp(a->fh, b->fh, a->fh_len) == 0;
}

const char *realfile_kind_name(enum realfile_kind kind)
{
	switch (kind) {
	case REALFILE_OVERLAY_UPPER:
		return "overlay-upper";
	case REALFILE_OVERLAY_LOWER:
		return "overlay-lower";
	case REALFILE_OVERLAY_HANDLE:
		return "overlay-handle";
	case REALFILE_INODE:
		break;
	}
	return "inode";
}

void realfile_key_str(const struct realfile_key *k, char *buf, size_t cap)
{
	static const char letter[] = { 'i', 'u', 'l', 'h' };
	char d[DIGEST_STR_LEN];

	if (k->kind == REALFILE_OVERLAY_HANDLE) {
		/* 128 bits of SHA-256: the name stays short and unique. */
		digest_bytes(k->fh, k->fh_len, d);
		snprintf(buf, cap, "h%x_%x-%.32s", major(k->dev), minor(k->dev), d + 7);
		return;
	}
	snprintf(buf, cap, "%c%x_%x-%lx", letter[k->kind], major(k->dev), minor(k->dev),
		 (unsigned long)k->ino);
}
