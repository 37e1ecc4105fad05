/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the session webhook reads from an AdmissionReview and writes back:
 * no I/O, no state. A review of CONNECT pods/exec, pods/attach or
 * pods/portforward, UPDATE pods/ephemeralcontainers (the ephemeral
 * containers it adds) or CREATE of a node-debug pod becomes one pending
 * session each (the ShellAuditSession object of
 * crds/shellaudit.io_shellauditsessions.yaml); the answer always allows,
 * and carries the session ID as an audit annotation when there is one.
 *
 * The review comes from the API server, or from whoever reached the port:
 * every field is bounded (strings cut, lists capped with a flag), and a
 * body that is no review is refused with a reason.
 */
#ifndef SHELLAUDIT_ADMISSION_H
#define SHELLAUDIT_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

/* The audit annotation's key; the API server prefixes it with the
 * webhook's name: sessions.shellaudit.io/session-id. */
#define ADMISSION_ANNOTATION "session-id"
#define ADMISSION_UID_MAX 64
#define ADMISSION_MAX_SESSIONS 8

enum admission_kind {
	ADMISSION_EXEC,
	ADMISSION_ATTACH,
	ADMISSION_PORTFORWARD,
	ADMISSION_EPHEMERAL, /* kubectl debug POD: an ephemeral container added */
	ADMISSION_DEBUGPOD,  /* kubectl debug node/NODE: a pod created */
};

/* One pending session. Strings are NUL-terminated, cut to their field's
 * bound; the cJSON members are owned. */
struct admission_session {
	char name[ADMISSION_UID_MAX + 4]; /* object name: the uid, "-N" after the first */
	enum admission_kind kind;
	char ns[64], pod[254], container[64];
	char node[254], pod_uid[64];  /* DEBUGPOD from the object; else the caller's */
	char target[64], image[1025]; /* EPHEMERAL, DEBUGPOD */
	cJSON *command;		      /* array of strings, or NULL */
	bool command_truncated;
	bool tty, stdin;
	cJSON *ports;	      /* PORTFORWARD: array of numbers, or NULL */
	bool container_named; /* the request named its container */
};

struct admission_review {
	char uid[ADMISSION_UID_MAX + 1]; /* the request's uid: the session ID */
	char operation[16];
	bool dry_run;
	cJSON *user; /* {username, uid, groups, extra[, truncated]} */
	struct admission_session s[ADMISSION_MAX_SESSIONS];
	size_t n;
	/* Why there is no session when n is 0 ("dry run", "not a session"...). */
	const char *skipped;
};

/* Parses an AdmissionReview (admission.k8s.io/v1). 0 with *out filled (n
 * may be 0, skipped saying why); -EINVAL when the body is no review (err
 * says why). Caller frees with admission_review_clear(). */
int admission_parse(const char *body, size_t len, struct admission_review *out, char *err,
		    size_t errlen);
void admission_review_clear(struct admission_review *r);

/* The answer: allowed, with the audit annotation session-id when
 * session_id is non-NULL. uid is the request's ("" when unknown). Caller
 * frees the string. */
char *admission_response(const char *uid, const char *session_id);

/* kubectl's default container of a pod (the
 * kubectl.kubernetes.io/default-container annotation when it names one of
 * its containers, else the first container) into out; -ENOENT when the pod
 * has no container. */
int admission_default_container(const cJSON *pod, char *out, size_t cap);

/* The kind's name in the CRD: "Exec", "Attach", ... */
const char *admission_kind_name(enum admission_kind k);

/*
 * The ShellAuditSession object for session i of r, admitted at `now`
 * (wall clock), expiring ttl_s later; audit_expected sets
 * spec.auditExpected. s->node must be set. Caller frees.
 */
cJSON *admission_session_object(const struct admission_review *r, size_t i,
				const struct timespec *now, long ttl_s, bool audit_expected);

#endif
