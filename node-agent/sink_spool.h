/* SPDX-License-Identifier: Apache-2.0 */
/* The Kubernetes agent's sink: entries of targeted containers, redacted by
 * their rules and escaped, into the durable spool as AuditRecord entries. */
#ifndef SHELLAUDIT_SINK_SPOOL_H
#define SHELLAUDIT_SINK_SPOOL_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "redact.h"
#include "sink.h"
#include "spool.h"

/* What the sink needs to know of one target, by container ID (the name the
 * capture engine gives its entries). */
struct sink_spool_target {
	const cJSON *id;	/* record identity: ns, pod, podUID, container,
				 * containerID, node, policies, retention, events */
	const struct redact_set *redact;
	bool readline, exec, terminal;	/* what the policies capture */
};

typedef const struct sink_spool_target *(*sink_spool_lookup_fn)(const char *container, void *arg);

struct sink_spool_stats {
	uint64_t entries, dropped_full, withheld, gaps;
};

/* The spool and the lookup's targets stay the caller's. Caller frees with
 * sink_close(). */
int sink_spool_open(struct spool *sp, sink_spool_lookup_fn lookup, void *arg, struct sink **out);
void sink_spool_get_stats(const struct sink *base, struct sink_spool_stats *out);
/* Appends a gap entry to the target's stream (events lost before they
 * reached the spool: ring buffer full, spool full). */
int sink_spool_gap(struct sink *base, const char *container, uint64_t count, const char *why);
/* Ends the container's stream: an audit_stopped entry saying why auditing
 * stopped while the container still runs (identity id, as a target's),
 * and a cut of its batch outside sessions, so that the entry is in a
 * record now and the publisher raises the Warning Event AuditStopped. */
int sink_spool_stopped(struct sink *base, const char *container, const cJSON *id, const char *why);

#endif
