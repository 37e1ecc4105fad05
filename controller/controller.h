/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's state, owned by its main loop (controller.c) and
 * handed to the reconcilers (nodes.c, status.c, retention.c). */
#ifndef SHELLAUDIT_CONTROLLER_H
#define SHELLAUDIT_CONTROLLER_H

#include <stdbool.h>

#include "informer.h"
#include "kube.h"
#include "kubeconfig.h"
#include "lease.h"
#include "log.h"
#include "metrics.h"
#include "ratelimit.h"
#include "resolve.h"
#include "workqueue.h"

#define SHELLAUDIT_GROUP_PATH "/apis/shellaudit.io/v1alpha1"

struct controller_config {
	const char *kubeconfig;		/* NULL: in-cluster */
	const char *namespace;		/* of the leader-election Lease */
	const char *identity;		/* this replica in the Lease */
	int port;			/* health and metrics */
	long writes_per_second;		/* bound on ShellAuditNode/status writes [20] */
	long retention_period_s;	/* how often expired AuditRecords are looked for [10] */
	long retention_batch;		/* deletions per pass at most [100] */
	long lease_duration_s;		/* [15] */
	bool websocket;			/* watch transport */
};

enum controller_informer {
	CTL_POLICIES,
	CTL_PODS,
	CTL_NAMESPACES,
	CTL_NODES,
	CTL_RECORDS,
	CTL_NINFORMERS,
};

struct controller {
	struct controller_config cfg;
	struct kubeconfig *kcfg;
	struct kube_client *client;
	struct informer *inf[CTL_NINFORMERS];
	struct lease *lease;
	struct workqueue queue;
	struct metrics metrics;
	struct metric *m_reconciles, *m_errors, *m_depth, *m_restarts, *m_leader, *m_writes,
		*m_deleted, *m_resolves;
	bool leader;
	bool dirty;			/* something changed since the last resolution */
	bool have_resolution;
	struct resolution res;
	struct policy **policies;	/* parsed, sorted by name */
	size_t npolicies;
	struct hmap invalid;		/* policy name -> malloc'd InvalidSpec message */
	struct tokens writes;		/* --writes-per-second, burst of two seconds' */
	long next_retention_ms;
};

/* Takes a write token (bounded write rate); false when none is left. */
bool controller_take_write(struct controller *c);

/* Brings the ShellAuditNode of node in line with the resolution. */
int nodes_sync(struct controller *c, const char *node);
/* Every node with a ShellAuditNode or with targets. */
void nodes_enqueue_all(struct controller *c);

/* Writes the status of one policy when it changed. */
int status_sync(struct controller *c, const char *policy);

/* Deletes expired AuditRecords, at most a batch per call. */
int retention_pass(struct controller *c);
/* The AuditRecord informer's transform: metadata and spec.retention. */
cJSON *retention_trim(const cJSON *record);

/* Runs until SIGTERM/SIGINT; returns 0 after a clean shutdown. */
int controller_run(const struct controller_config *cfg);

#endif
