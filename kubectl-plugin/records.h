/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AuditRecords kubectl-shellaudit reads, grouped as the agent's spool
 * batches them: a chain per container ID (every record of one container,
 * linked by digest) and a session per (container ID, session key), the
 * key "" holding the programs run outside any session.
 *
 * Records are matched on their spec (pod, container, container ID), never
 * on their labels: a tenant can relabel records, not change a spec.
 */
#ifndef SHELLAUDIT_PLUGIN_RECORDS_H
#define SHELLAUDIT_PLUGIN_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "hmap.h"

struct kube_client;

/* What to load; NULL fields match anything. */
struct records_filter {
	const char *ns; /* NULL: every namespace */
	const char *pod, *container;
	const char *label; /* 8 hex or more of the container-ID label (a session name's prefix) */
};

enum chain_state { CHAIN_INTACT, CHAIN_BROKEN };
/* Whether the container a chain belongs to still runs. */
enum chain_running { RUNNING_UNKNOWN, RUNNING_YES, RUNNING_NO };

struct chain {
	char *cid;	/* spec.containerID */
	char label[20]; /* record_container_label(cid): 16 hex */
	char *ns, *pod, *pod_uid, *container;
	cJSON **recs; /* the records (owned copies), in the order listed */
	size_t n, cap;
	enum chain_state state;
	enum chain_running running;
};

/* Displayed and accepted by `show` as "<8 hex of the label>-<session key>",
 * or the 8 hex alone for the programs run outside any session. */
#define SESSION_NAME_MAX 160

struct session {
	struct chain *chain; /* not owned */
	char *key;	     /* spec.session.id, "" outside a session */
	char name[SESSION_NAME_MAX];
	char *user;		     /* spec.attribution.user, NULL until attribution exists */
	char *end;		     /* spec.session.end when a record says it ended */
	struct timespec first, last; /* of its entries */
	long lines, execs, gaps, records;
};

struct records {
	struct hmap chains;   /* by container ID; owns its struct chain */
	struct hmap sessions; /* by name; owns its struct session */
	long skipped;	      /* records without the fields a record must have */
	char *rv;	      /* the list's resourceVersion, to watch from */
};

/* Lists the AuditRecords of f->ns (or all namespaces), keeps those f
 * matches, groups them. Each chain is verified (verify_chain) and, when
 * running is set, the pods are read to tell whether their containers still
 * run. On error, message names what failed. Caller frees *out with
 * records_free(). */
int records_load(struct kube_client *c, const struct records_filter *f, bool running,
		 struct records **out, char *message, size_t msglen);
void records_free(struct records *r);

/* Adds one record (copied) to r when f matches it: 1 added, 0 not matched
 * or malformed (counted in skipped), -errno. *sess (optional) gets its
 * session. For records arriving through a watch: the chain's state is not
 * re-verified. */
int records_add(struct records *r, const struct records_filter *f, const cJSON *rec,
		struct session **sess);
int records_init(struct records **out);

/* The sessions of r sorted by their first entry (caller frees the array,
 * not the sessions); *n gets their number. */
struct session **records_sessions(const struct records *r, size_t *n);

/* A record's session name; name holds SESSION_NAME_MAX bytes. */
void records_session_name(const cJSON *rec, char *name);

/* Splits a session name into the label prefix and the key; -EINVAL when it
 * is not one. label gets at least 8 hex, key a pointer into name. */
int records_parse_session_name(const char *name, char label[20], const char **key);

/* The user a record's attribution names, or NULL. */
const char *records_user(const cJSON *rec);

/* The container logs and verify read when -c is not given: the one
 * container the records in r name, else the pod's default container as
 * kubectl picks it (the kubectl.kubernetes.io/default-container
 * annotation, else the first). *out (caller frees) gets it. -ENOENT: r
 * holds no record and the pod cannot be read; -EINVAL: the records name
 * several containers and the pod cannot be read. why (terminal-safe) says
 * which. */
int records_pick_container(struct kube_client *c, const struct records *r, const char *ns,
			   const char *pod, char **out, char *why, size_t whylen);

/* A name Kubernetes allows for a namespace or pod, safe in a request path. */
bool records_valid_name(const char *s);

/* Parses an entry's or a record's time; the epoch when it is missing or
 * malformed (it then sorts first). */
struct timespec records_time(const char *s);

#endif
