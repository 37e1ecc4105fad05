/* SPDX-License-Identifier: Apache-2.0 */
/* The real file behind an open file: what a uprobe lands on. On overlayfs
 * every container has its own overlay inode for one file of its image, but
 * the kernel attaches a uprobe to the layer's file underneath (the upper
 * copy once the container copied it up, else the lower file). A key names
 * that real file, so that files of one image share one probe. */
#ifndef SHELLAUDIT_REALFILE_H
#define SHELLAUDIT_REALFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

enum realfile_kind {
	REALFILE_INODE, /* not resolved: the inode fstat shows (overlay inodes included) */
	REALFILE_OVERLAY_UPPER, /* the file of the overlay's upper layer */
	REALFILE_OVERLAY_LOWER, /* the file of a lower layer, found by its path */
	REALFILE_OVERLAY_HANDLE, /* a lower file not found by path: its file handle */
};

#define REALFILE_FH_MAX 128

/*
 * Two files have equal keys only if a uprobe on either lands on the same
 * real inode. dev:ino is the real file's, except for REALFILE_OVERLAY_HANDLE
 * where dev is the one device of all the lower layers, ino 0, and fh the
 * overlay's handle of the lower file (it names the lower file system by
 * uuid and the file by that file system's own handle).
 */
struct realfile_key {
	enum realfile_kind kind;
	dev_t dev;
	ino_t ino;
	uint32_t fh_len;
	unsigned char fh[REALFILE_FH_MAX];
};

/*
 * The key of the file open at fd, opened through the mount namespace of
 * process pid (its root, exe or map_files). Never fails: anything that
 * cannot be proved falls back to REALFILE_INODE, and *why (may be NULL)
 * then says why for a log line (NULL when fd is not on overlayfs).
 * Returns 0, or a negative errno when fd cannot even be fstat'ed.
 */
int realfile_key_of(int fd, pid_t pid, struct realfile_key *out, const char **why);

bool realfile_key_equal(const struct realfile_key *a, const struct realfile_key *b);

/* "inode", "overlay-upper", "overlay-lower", "overlay-handle". */
const char *realfile_kind_name(enum realfile_kind kind);

/* The key as text without dots, unique per key, for logs and bpffs pin
 * names: "<letter><major>_<minor>-<ino hex>" or "h<major>_<minor>-<hash>". */
void realfile_key_str(const struct realfile_key *k, char *buf, size_t cap);

/* Parsing /proc/PID/mountinfo, exposed for the unit tests. */

#define REALFILE_LINE_MAX 16384
#define REALFILE_LOWER_MAX 128

/* One mountinfo line; the strings point into the parsed line. */
struct realfile_mount {
	unsigned long id;
	const char *root; /* the path inside the file system mounted here */
	const char *mountpoint; /* relative to the reading process's root */
	const char *fstype;
	/* overlay only: absolute paths in the mounter's namespace; upper is
	 * NULL for a read-only overlay, lower lists the merged lower layers
	 * top first (data-only layers are left out) */
	const char *upper;
	const char *lower[REALFILE_LOWER_MAX];
	size_t nlower;
};

/*
 * Parses one mountinfo line in place (line is modified; the result points
 * into it). Returns 0; -EINVAL for a malformed line; -ENOTSUP for an
 * overlay whose layers cannot be named with certainty (relative paths,
 * ambiguous escapes, more than REALFILE_LOWER_MAX layers).
 */
int realfile_parse_mountinfo(char *line, struct realfile_mount *m);

/* Finds the line of mount `id` in mountinfo stream f, read into line (cap
 * bytes), and parses it. -ENOENT when there is none, -E2BIG when it is
 * longer than cap (other long lines are skipped), else as above. */
int realfile_read_mount(FILE *f, unsigned long id, char *line, size_t cap,
			struct realfile_mount *m);

#endif
