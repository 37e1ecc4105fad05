/* SPDX-License-Identifier: Apache-2.0 */
/* parked: AuditRecords the API server refused for this object (400, 403,
 * 404, 413, 422: a namespace gone or being deleted, an admission policy that
 * denies, a record too large), kept on disk beside the spool instead of
 * blocking the node's queue or being dropped, and tried again from time to
 * time: the cause may clear (the namespace recreated, the policy changed).
 * One file per record, named by the record, written whole (a temporary
 * file, fsync, rename), holding the record and why it was refused. Bounded
 * by PARKED_MAX_FILES and PARKED_MAX_BYTES, and each namespace by a
 * PARKED_NS_SHARE-th of both (so that one namespace refusing a flood, say
 * stuck Terminating while its pod runs, leaves room to the others): past
 * them parked_add refuses, and the caller keeps the record where it was. */
#ifndef SHELLAUDIT_PARKED_H
#define SHELLAUDIT_PARKED_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define PARKED_MAX_FILES 1024
#define PARKED_MAX_BYTES (64u << 20)
#define PARKED_NS_SHARE 4
/* What is kept of the API's details.causes: the first few, each string cut
 * (on a UTF-8 boundary) to its field's size less one. The ShellAuditNode
 * schema's maxItems and maxLength follow these. */
#define PARKED_CAUSES_MAX 3

struct parked_cause {
	char field[128]; /* "spec.entries[0].text", "metadata.namespace" */
	char reason[64]; /* "FieldValueInvalid", "NamespaceTerminating" */
	char message[192];
};

/* Why the API server refused a record: its HTTP status, and from the
 * metav1.Status it answered with, reason, message and details.causes. */
struct parked_why {
	long code;
	char reason[64];
	char message[256];
	struct parked_cause causes[PARKED_CAUSES_MAX];
	int ncauses;
};

struct parked;

/* Fills why from an answer: code, and body (len bytes, any bytes: the API
 * server's or whatever answered) when it is a metav1.Status; reason and
 * message (the kube_response's, or NULL) where the body says nothing. */
void parked_why_from_status(struct parked_why *why, long code, const char *reason,
			    const char *message, const char *body, size_t len);

/* Opens (making it) the directory dir and counts what it holds (a parked
 * record survives restarts). Caller frees with parked_free(). */
int parked_open(const char *dir, struct parked **out);
void parked_free(struct parked *pk);

/* Parks record (metadata.name and metadata.namespace needed) with the
 * API's answer (why: code, reason, message, causes). -ENOSPC past the
 * bounds, -EINVAL for a record without a usable name. */
int parked_add(struct parked *pk, const cJSON *record, const struct parked_why *why);

/* Tries parked records again, at most max of them and each once at most,
 * from the one after the last tried (so that all get their turn): fn gets
 * each record (read from its file, discarded after: fn may change it) and
 * returns 0 when it went out (its file is removed), <0 to keep it parked,
 * >0 to keep it parked and try no more now (no answer came: the others
 * would wait as long). Returns how many were tried. */
typedef int (*parked_fn)(cJSON *record, void *arg);
int parked_retry(struct parked *pk, parked_fn fn, void *arg, int max);

/* How many records are parked, and the newest few (at most max) as
 * {name, namespace, code, reason, message, causes: [{field, reason,
 * message}]} for a status (empty strings and causes left out): a new
 * array. */
size_t parked_count(const struct parked *pk);
cJSON *parked_summary(const struct parked *pk, int max);

#endif
