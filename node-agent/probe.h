/* SPDX-License-Identifier: Apache-2.0 */
/* The readline uretprobes, one per real file (the layer file behind an
 * overlay file, see realfile.h), shared by every target that uses the file
 * and detached when the last one stops. */
#ifndef SHELLAUDIT_PROBE_H
#define SHELLAUDIT_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "elfsym.h"

struct capture;
struct probe_set;
struct refused;

#define PROBE_SYMBOL "readline"
#define PROBE_WHY_MAX 128

/* A file probe_acquire refused to parse: its ELF headers exceed a bound of
 * elfsym.h or are malformed, or reading it took longer than the bound. */
struct probe_refusal {
	bool refused;
	bool known;		/* remembered (refused.h): the file was not parsed again */
	char id[ELFSYM_ID_LEN]; /* the file's identity */
	char why[PROBE_WHY_MAX];
};

/* Caller frees with probe_set_free(). refused (the caller's, outliving the
 * set; may be NULL) remembers refused files by identity. */
int probe_set_new(struct capture *cap, struct refused *refused, struct probe_set **out);
/* Lets go of every probe: pinned ones stay attached (capture_unpin()
 * first ends them), the others are detached. */
void probe_set_free(struct probe_set *ps);

/*
 * Makes `owner` (a target id) a user of the readline probe of the file open
 * at fd, attaching it if no one uses it yet. fd was opened through process
 * pid (its root, exe or map_files), whose mounts name the file's layers.
 * `label` names the file in logs (its path inside the container). Returns
 * 1 when the probe was attached now, 0 when it already was, or the negative
 * errors of elfsym_lookup() (-ENXIO: readline is imported, look in the
 * libraries; a bash linking libreadline then has a probe of its own all the
 * same, on its `bind -x` function, owned like the others). A file found
 * without readline is remembered, so checking it
 * again is one fstat. A refused file (ref, may be NULL, says so and why) is
 * also remembered by identity, across containers and agents; the caller
 * logs it with its container. A probed file whose size, mtime or ctime
 * changed is examined again: with its readline and the other probe points
 * where they were (ctime alone changed: a touch, a chmod) its probes stay;
 * else (rewritten in place: the same real file, another content; or keyed
 * by its overlay inode, maybe copied up) they are detached and, when it
 * still has a readline, attached where it is now, for all its owners (1).
 * At most one file is parsed, within the bounds of elfsym.h.
 */
int probe_acquire(struct probe_set *ps, int fd, pid_t pid, uint32_t owner, const char *label,
		  struct probe_refusal *ref);

/* What probe_acquire() remembers of the file open at fd without a probe
 * (see above): its answer, a negative errno, and *ref as it was then
 * (may be NULL); 0 when it remembers nothing, and then probe_acquire()
 * must tell. One fstat, nothing parsed. */
int probe_negative_of(const struct probe_set *ps, int fd, struct probe_refusal *ref);

/* Unpins the readline probes a previous agent left that no probe of this
 * set took over (their files are no longer used by a target). */
int probe_set_sweep(struct probe_set *ps);

/* Drops every use by owner; detaches the probes nobody uses any more. */
void probe_release_owner(struct probe_set *ps, uint32_t owner);

/* Number of attached probes, and of those `owner` uses. */
size_t probe_count(const struct probe_set *ps);
size_t probe_count_owner(const struct probe_set *ps, uint32_t owner);

#endif
