/* SPDX-License-Identifier: Apache-2.0 */
/* AuditRecords: immutable batches of one session's entries, chained per
 * container by digest, named after their position in the chain. */
#ifndef SHELLAUDIT_RECORD_H
#define SHELLAUDIT_RECORD_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "digest.h"

#define RECORD_MAX_ENTRIES 1000

/* Who the entries belong to, as the ShellAuditNode target says. */
struct record_identity {
	const char *ns, *pod, *pod_uid, *container, *container_id, *node;
	const cJSON *policies;	/* array of names */
	const char *retention;
};

struct record_session {
	const char *id;		/* NULL: entries outside a session (execs) */
	int pid;
	const char *start;	/* RFC 3339 */
};

/* The record's name: pod, container, 8 hex of the container ID's digest
 * (a recreated pod of the same name starts a new chain) and the sequence:
 * the same inputs always give the same name, so a replay after a crash
 * meets AlreadyExists instead of writing a duplicate. */
int record_name(const struct record_identity *id, uint64_t seq, char *buf, size_t cap);
/* The label value that selects every record of one container. */
void record_container_label(const char *container_id, char out[20]);

/* Builds the AuditRecord object; takes ownership of entries (an array,
 * 1..RECORD_MAX_ENTRIES items). prev is the previous record's digest (NULL
 * or "" for sequence 0). digest gets this record's. Returns the object the
 * caller frees, or NULL on error. */
cJSON *record_build(const struct record_identity *id, const struct record_session *sess,
		    cJSON *entries, uint64_t seq, const char *prev, char digest[DIGEST_STR_LEN]);

/* Recomputes a record's digest from its spec as the API server returns it:
 * sha256 over the canonical JSON of the spec without its digest field. */
int record_digest(const cJSON *spec, char digest[DIGEST_STR_LEN]);

#endif
