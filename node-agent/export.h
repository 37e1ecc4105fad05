/* SPDX-License-Identifier: Apache-2.0 */
/* export: the Kubernetes agent's JSON-lines copy of every entry it spools,
 * for a log pipeline (Fluent Bit, Vector) that ships it to a SIEM. One JSON
 * object per line: the entry as it goes into its AuditRecord (redacted,
 * escaped, bounded), with the container's identity (node, namespace, pod,
 * podUID, container, containerID) and its session beside it (with who
 * opened it, or the session root whose decision comes as a line of kind
 * "attribution": see sink_spool_attribute).
 *
 * Writing never blocks the caller: on a pipe or socket (stdout read by the
 * container runtime) the descriptor is made non-blocking and what the reader
 * has not taken yet waits in a buffer of at most EXPORT_BUFFER_MAX bytes;
 * lines that do not fit are counted and become one "gap" line once the
 * reader catches up. A regular file is appended to. */
#ifndef SHELLAUDIT_EXPORT_H
#define SHELLAUDIT_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define EXPORT_BUFFER_MAX (4u << 20)

struct export;

struct export_stats {
	uint64_t lines;   /* written, or buffered to be written */
	uint64_t dropped; /* lost: the reader did not keep up, or a write failed */
	uint64_t gaps;    /* gap lines written for them */
};

/* Opens path ("-": stdout, else appended, created 0600). -errno. */
int export_open(const char *path, struct export **out);
/* The same on an open descriptor the caller keeps owning (for tests). */
int export_open_fd(int fd, struct export **out);
/* One entry of the container whose record identity is id, in session sess
 * (NULL outside one). Neither is kept. 0, or -errno when the line could not
 * even be built (out of memory); a line the output cannot take now is
 * counted, not an error. */
int export_entry(struct export *x, const cJSON *id, const cJSON *sess, const cJSON *entry);
/* Writes what the buffer holds, as far as the output takes it now. */
void export_flush(struct export *x);
void export_get_stats(const struct export *x, struct export_stats *out);
/* NULL-safe. Flushes once (still without blocking) and closes what it
 * opened. */
void export_free(struct export *x);

#endif
