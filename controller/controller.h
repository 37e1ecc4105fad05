/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's state, owned by its loop thread (controller.c) and
 * handed to the reconcilers (nodes.c, status.c, retention.c). Other
 * threads: the informers' reflectors, the lease (lib/lease.c), the HTTP
 * server (lib/httpd.c), the writers (writer.c), and the session webhook
 * and audit receiver (sessiond.c); each says what it owns. */
#ifndef SHELLAUDIT_CONTROLLER_H
#define SHELLAUDIT_CONTROLLER_H

#include <stdbool.h>

#include "budget.h"
#include "httpd.h"
#include "informer.h"
#include "kube.h"
#include "kubeconfig.h"
#include "lease.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "ratelimit.h"
#include "resolve.h"
#include "sessiond.h"
#include "workqueue.h"
#include "writer.h"

#define SHELLAUDIT_GROUP_PATH "/apis/shellaudit.io/v1alpha1"
/* The annotation the agent puts on each AuditRecord: when it expires. */
#define CTL_EXPIRES_ANNOTATION "shellaudit.io/expires-at"
/* And its size as sent, and its policies joined by ',' (the budget). */
#define CTL_BYTES_ANNOTATION "shellaudit.io/bytes"
#define CTL_POLICIES_ANNOTATION "shellaudit.io/policies"

/* --storage-budget at least (a record can be 3 MiB, but a test wants a small one). */
#define CTL_STORAGE_BUDGET_MIN (64LL << 10)
/* 1024 TiB: the budget's arithmetic (percentages of twice it) stays far
 * within 64 bits. */
#define CTL_STORAGE_BUDGET_MAX (1LL << 50)

struct controller_config {
	const char *kubeconfig;		/* NULL: in-cluster */
	const char *namespace;		/* of the leader-election Lease */
	const char *identity;		/* this replica in the Lease */
	const char *http_addr;		/* bind address of health and metrics; NULL: all */
	int port;			/* health and metrics */
	long writes_per_second;		/* bound on ShellAuditNode/status writes [50] */
	long write_burst;		/* writes at once after a quiet time [2 * the rate] */
	long writers;			/* writes in flight at once [4] */
	long retention_period_s;	/* how often expired AuditRecords are looked for [10] */
	long retention_batch;		/* deletions per pass at most [100] */
	long lease_duration_s;		/* [15] */
	long long storage_budget;	/* AuditRecord bytes cluster-wide [512 MiB] */
	bool websocket;			/* watch transport */
	struct sessiond_config sessions; /* the session webhook, the audit receiver */
};

enum controller_informer {
	CTL_POLICIES,
	CTL_PODS,
	CTL_NAMESPACES,
	CTL_NODES,
	CTL_RECORDS,
	CTL_NINFORMERS,
};

struct records;

struct controller {
	struct controller_config cfg;
	struct kubeconfig *kcfg;
	struct loop *loop;
	struct informer *inf[CTL_NINFORMERS];
	struct lease *lease;
	struct sessiond *sessiond; /* its own threads (sessiond.h); NULL: off */
	struct httpd *http;
	struct writer *writer;
	struct workqueue queue;
	struct hmap inflight;		/* key -> HMAP_PRESENT, or &ctl_again: queue once done */
	struct hmap written;		/* node -> struct nodes_written */
	struct metrics metrics;
	struct metric *m_reconciles, *m_errors, *m_depth, *m_restarts, *m_leader, *m_writes,
		*m_deleted, *m_resolves, *m_conflicts, *m_throttled, *m_pod_resolves, *m_busiest,
		*m_records, *m_record_bytes, *m_record_budget, *m_budget_exceeded,
		*m_namespaces_held;
	bool leader;			/* as the lease last said */
	bool stop;

	/* resolution */
	struct resolver res;
	struct policy **policies;	/* parsed, sorted by name */
	size_t npolicies;
	struct hmap invalid;		/* policy name -> malloc'd InvalidSpec message */
	bool policies_dirty;		/* parse the policies and feed every pod again */
	struct hmap dirty_pods;		/* pod keys to re-resolve */
	struct hmap dirty_ns;		/* namespaces whose pods to re-resolve */
	bool resolved;			/* a first full resolution was made */

	struct tokens writes;		/* --writes-per-second, --write-burst */
	struct tokens status_writes;	/* a quarter of those at most for policy status */
	struct records *records;	/* expiries of AuditRecords (retention.c) */
	struct budget budget;		/* their bytes against the storage budget */
	long next_retention_ms;
	long long clock_offset_s;	/* the API server's clock minus ours, from a Date */
	long clock_at_ms;		/* clock_now_ms() when it was taken; 0: never */
};

/* informers.c: the informers, their callbacks and the resolution. */
int controller_start_informers(struct controller *c);
void controller_init_resolver(struct controller *c);
/* Re-resolves what changed since the last call (once the caches synced). */
void controller_resolve(struct controller *c);
/* The informers that nodes and status need have synced (not AuditRecords). */
bool controller_synced(const struct controller *c);
/* Queues "kind/name" after delay_ms. */
void controller_enqueue(struct controller *c, const char *kind, const char *name, long delay_ms);
void controller_enqueue_policies(struct controller *c);
void controller_free_policies(struct policy **pols, size_t n);
/* Policy status waits this long after a change it follows, so that a burst
 * of events makes one computation. */
#define CTL_STATUS_DELAY_MS 300

/* Takes a write token (bounded write rate); false when none is left. */
bool controller_take_write(struct controller *c);
/* The same for a policy status write, which may also use at most a quarter
 * of the rate: pods that churn (matchedPods) must not starve the nodes. */
bool controller_take_status_write(struct controller *c);
/* Hands a job to the writers; the key is in flight until its result. */
void controller_submit(struct controller *c, struct write_job *j);

/* Brings the ShellAuditNode of node in line with the resolution: 1 a
 * write was submitted, 0 nothing to write, -EAGAIN no write token. */
int nodes_sync(struct controller *c, const char *node);
/* Every node with a ShellAuditNode or with targets. */
void nodes_enqueue_all(struct controller *c);
/* A write's result; returns what the work queue should do (see
 * controller_result). */
int nodes_done(struct controller *c, const char *node, struct write_job *j);
/* The ShellAuditNode informer's transform: metadata, observedGeneration
 * and the digest of the spec (specHash). */
cJSON *nodes_trim(const cJSON *san);
/* A ShellAuditNode event: forgets our write once the cache has it. */
void nodes_seen(struct controller *c, const cJSON *san);

/* Writes the status of one policy when it changed (as nodes_sync). */
int status_sync(struct controller *c, const char *name);
int status_done(struct controller *c, const char *name, struct write_job *j);

/* AuditRecord expiries, from metadata only (a min-heap, no JSON kept). */
int records_new(struct records **out);
void records_free(struct records *r);
size_t records_count(const struct records *r);
/* Counts each record's size against b (kept by the caller) from now on. */
void records_set_budget(struct records *r, struct budget *b);
/* The records informer's callbacks (metadata-only objects). */
void records_seen(const cJSON *obj, void *arg);
void records_gone(const cJSON *obj, void *arg);
/* Submits, for the records due by the API server's clock, at most a batch
 * per call: a read of those whose exact expiry is not known yet, the
 * deletion of those past it (then the removal of their finalizer). Asks
 * for the server's clock first when no answer told it recently. */
void retention_pass(struct controller *c);
/* A job about a record ("record/ns/name") came back: the next step. */
int retention_done(struct controller *c, const char *key, struct write_job *j);
/* The Date of an API answer (seconds, 0: none): the server's clock. */
void retention_clock(struct controller *c, long long date);
/* The clock request of retention_pass came back. */
void retention_clock_done(struct controller *c, struct write_job *j);

/* storage.c: the storage budget. Evaluates it (budget_evaluate) and acts
 * on each hold that begins or ends: the nodes with targets of the policy
 * (of the policies with targets in the namespace, for a namespace over its
 * share of the cluster's) get their specs again, with holdRecords; the
 * policies' status is queued and a Warning Event goes to each policy a
 * hold begins for. Call each loop turn. */
void storage_sync(struct controller *c);
/* Whether new records of policy's targets in namespace ns are held
 * (resolve_held_fn): the policy's own budget, or the namespace over its
 * share of the cluster's. */
bool storage_held(const char *ns, const char *policy, void *arg);
/* The StorageBudgetExceeded condition of policy: status, reason and a
 * message with the figures at its last transition. */
void storage_condition(struct controller *c, const char *policy, const char **status,
		       const char **reason, char *msg, size_t cap);
/* An Event's write came back. */
void storage_event_done(struct controller *c, struct write_job *j);

/* Runs until SIGTERM/SIGINT; returns 0 after a clean shutdown. */
int controller_run(const struct controller_config *cfg);

#endif
