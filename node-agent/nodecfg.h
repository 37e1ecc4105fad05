/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's view of its own ShellAuditNode: the targets the controller
 * asks for (with their record identity, redaction and capture options),
 * and the status the agent reports back. */
#ifndef SHELLAUDIT_NODECFG_H
#define SHELLAUDIT_NODECFG_H

#include <stdbool.h>
#include <stddef.h>

#include "discover.h"
#include "informer.h"
#include "kube.h"
#include "sink_spool.h"

struct nodecfg_target {
	char *cid;			/* containerID as the kubelet reports it */
	cJSON *id;			/* record identity (see sink_spool.h) */
	char *id_text;			/* id printed (jsontext), or NULL */
	struct redact_set *redact;
	char *error;			/* why it cannot be audited, or NULL */
	bool hold;			/* holdRecords: keep its records in the spool */
	struct sink_spool_target sst;
};

#define NODECFG_REFUSED_MAX 16 /* refused files reported per target */

struct nodecfg_target_status {
	const char *cid;
	bool attached;
	const char *reason;		/* when not attached: e.g. NotRunningHere */
	const char *message;
	/* Files of the container not probed because the ELF checks refused
	 * them (the first NODECFG_REFUSED_MAX are reported). */
	const struct discover_refusal *refused;
	size_t nrefused;
};

struct nodecfg;

/* Watches the ShellAuditNode named node. Caller frees with nodecfg_stop(). */
int nodecfg_start(const struct kubeconfig *cfg, const struct kube_client_opts *copts,
		  const char *node, struct nodecfg **out);
void nodecfg_stop(struct nodecfg *nc);
int nodecfg_fd(const struct nodecfg *nc);
/* Applies watch events; 1 when the wanted targets changed. */
int nodecfg_process(struct nodecfg *nc);
bool nodecfg_synced(const struct nodecfg *nc);
/* metadata.generation of the ShellAuditNode (0 while there is none). */
long long nodecfg_generation(const struct nodecfg *nc);

size_t nodecfg_count(const struct nodecfg *nc);
const struct nodecfg_target *nodecfg_at(const struct nodecfg *nc, size_t i);
/* sink_spool_lookup_fn over the current targets (arg: the nodecfg). */
const struct sink_spool_target *nodecfg_lookup(const char *cid, void *arg);

/* Whether the controller holds the records of container cid (its
 * target's holdRecords; a container that is no longer a target is held
 * while any target of the node is: the node is under a storage budget's
 * hold). arg: the nodecfg. */
bool nodecfg_held(const char *cid, void *arg);

/* The target the last change of the spec removed, by container ID, or
 * NULL; valid until the next nodecfg_process() that returns 1. Its record
 * identity stays known to nodecfg_lookup() until then too. */
const struct nodecfg_target *nodecfg_removed(const struct nodecfg *nc, const char *cid);

/* status.heads as the object has it now (a previous agent's, at start), or
 * NULL. Hostile input: see heads_merge(). */
const cJSON *nodecfg_published_heads(const struct nodecfg *nc);

/* Writes the status when it differs from what the object has. The fields
 * of extra (an object, or NULL) are written too (signingKey, heads). ts
 * NULL (an agent leaving): the targets' state stays as the object has it. */
int nodecfg_report(struct nodecfg *nc, struct kube_client *c,
		   const struct nodecfg_target_status *ts, size_t n, long long drops,
		   const char *last_error, const cJSON *extra);

#endif
