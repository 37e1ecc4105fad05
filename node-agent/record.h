/* SPDX-License-Identifier: Apache-2.0 */
/* AuditRecords: immutable batches of one session's entries, chained per
 * container by digest, named after their position in the chain. */
#ifndef SHELLAUDIT_RECORD_H
#define SHELLAUDIT_RECORD_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "digest.h"

#define RECORD_MAX_ENTRIES 1000
/* Held by every record until its retention has passed. */
#define RECORD_FINALIZER "shellaudit.io/retention"
#define RECORD_EXPIRES_ANNOTATION "shellaudit.io/expires-at"
/* Metadata a metadata-only watch sees (the controller's storage budget):
 * the record's size in bytes as sent, and its spec.policies joined by ','. */
#define RECORD_BYTES_ANNOTATION "shellaudit.io/bytes"
#define RECORD_POLICIES_ANNOTATION "shellaudit.io/policies"

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
	const cJSON *attribution; /* who opened it (spec.attribution), or NULL */
};

/* The record's name: pod, container, 8 hex of the container ID's digest
 * (a recreated pod of the same name starts a new chain), the sequence, and
 * 10 hex of the record's own digest. The same record always gets the same
 * name, so a replay after a crash meets AlreadyExists instead of writing a
 * duplicate; and nobody can take a record's name before it is formed (the
 * admission policy checks the suffix against spec.digest), so another
 * node's agent cannot squat it. */
int record_name(const struct record_identity *id, uint64_t seq, const char *digest, char *buf,
		size_t cap);
/* The name to use when `name` (record_name's) is taken by a different
 * record anyway: the suffix grows to 20 hex of the digest. Deterministic
 * too, so a replay meets its own record again. */
int record_name_taken(const char *name, const char *digest, char *buf, size_t cap);
/* The label value that selects every record of one container. */
void record_container_label(const char *container_id, char out[20]);

struct sign_key;

#define RECORD_TIME_LEN 40

/*
 * Builds the AuditRecord object; takes ownership of entries (an array,
 * 1..RECORD_MAX_ENTRIES items). prev is the previous record's digest (NULL
 * or "" for sequence 0) and prev_kept_until what record_kept_until() said
 * of it (NULL or "": unknown). key signs the record (spec.signature: the
 * key's ID and an Ed25519 signature of record_signed_text()); NULL only in
 * tests, since the CRD requires a signature. digest gets this record's.
 * The finalizer shellaudit.io/retention is set: the record can only go
 * once its retention has passed (see config/rbac/auditrecord_policy.yaml).
 * The annotation shellaudit.io/expires-at holds record_kept_until(), the
 * earliest time it can expire, for a controller that reads only metadata,
 * and shellaudit.io/policies its policies (spec.policies joined by ',').
 * Returns the object the caller frees, or NULL on error.
 */
cJSON *record_build(const struct record_identity *id, const struct record_session *sess,
		    cJSON *entries, uint64_t seq, const char *prev, const char *prev_kept_until,
		    const struct sign_key *key, char digest[DIGEST_STR_LEN]);

/* Sets the annotation shellaudit.io/bytes of rec to the length of rec as
 * cJSON_PrintUnformatted() sends it, that annotation included; returns
 * the length, or a negative errno. Metadata only: the digest and the
 * signature do not change. Call it again after any change to rec. */
long record_set_bytes(cJSON *rec);

/* Recomputes a record's digest from its spec as the API server returns it:
 * sha256 over the canonical JSON of the spec without its digest and
 * signature fields. */
int record_digest(const cJSON *spec, char digest[DIGEST_STR_LEN]);

/* What a record's signature signs: a fixed prefix, the node and the digest
 * (which covers the whole spec), into buf. */
int record_signed_text(const char *node, const char *digest, char *buf, size_t cap);

/* Checks spec.signature against the node's public key (base64) and key ID:
 * 0 when valid; -EBADMSG with *why set when the record is unsigned, signed
 * with another key, or the signature does not match its node and digest. */
int record_check_signature(const cJSON *spec, const char *key_id, const char *public_key,
			   const char **why);

/* The earliest time the record can expire, as RFC 3339: its last entry's
 * time plus its retention (it is created after its last entry, and expires
 * at its creation plus its retention). -EINVAL when the spec lacks them. */
int record_kept_until(const cJSON *spec, char out[RECORD_TIME_LEN]);

#endif
