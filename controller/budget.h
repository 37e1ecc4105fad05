/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AuditRecord storage budget's accounting: the bytes of the records
 * the controller knows, cluster-wide and per policy, from each record's
 * metadata (the annotations shellaudit.io/bytes and shellaudit.io/policies
 * the agent writes), and whether new records must be held, with
 * hysteresis: held past BUDGET_HIGH_PCT of a budget, released below
 * BUDGET_LOW_PCT. O(1) per record event (a record names at most 32
 * policies). Owned by the controller's loop thread; knows nothing of the
 * API (storage.c tells the nodes and the policies).
 */
#ifndef SHELLAUDIT_BUDGET_H
#define SHELLAUDIT_BUDGET_H

#include <stdbool.h>

#include "hmap.h"

#define BUDGET_HIGH_PCT 90
#define BUDGET_LOW_PCT 80
/* A record's size at most (the API server's request limit, which the
 * admission policy enforces too): a forged annotation counts no more. */
#define BUDGET_RECORD_MAX (3LL << 20)
/* What the API server adds to each record it stores (uid, resourceVersion,
 * creationTimestamp, generation, managedFields), counted on top of the
 * size the agent sent. */
#define BUDGET_RECORD_OVERHEAD 1024
/* A record without the annotation (an older agent's) counts this much. */
#define BUDGET_RECORD_UNKNOWN (16LL << 10)

/* One list of policy names as records carry it, shared by the records
 * naming it (reference-counted). */
struct budget_list;

struct budget_policy {
	long long bytes; /* of the records naming the policy */
	bool held;
	long long at_bytes; /* bytes and budget at the last transition */
	long long at_budget;
	char name[254];
};

struct budget {
	long long cluster;    /* --storage-budget */
	long long total;      /* of every record known */
	bool held;	      /* the cluster's budget: every target held */
	long long at_total;   /* total at the last cluster transition */
	bool dirty_all;	      /* evaluate every policy next time */
	bool changed;	      /* counts moved since the last evaluation */
	struct hmap lists;    /* "a,b" -> struct budget_list (owned) */
	struct hmap policies; /* name -> struct budget_policy (owned) */
	struct hmap dirty;    /* policy names whose counts moved */
};

void budget_init(struct budget *b, long long cluster);
void budget_clear(struct budget *b);

/* The shared list for an annotation's value ("" or NULL: no policy; at
 * most 32 names are counted), one more reference; NULL on ENOMEM. */
struct budget_list *budget_list_get(struct budget *b, const char *policies);
/* One reference less (NULL-safe). */
void budget_list_put(struct budget *b, struct budget_list *l);

/* A record's size from its annotation's value, bounded to
 * [0, BUDGET_RECORD_MAX] (BUDGET_RECORD_UNKNOWN when absent or not a
 * number), plus BUDGET_RECORD_OVERHEAD. */
long long budget_record_bytes(const char *annotation);

/* Adds bytes (negative: removes them) of a record naming list. */
void budget_count(struct budget *b, struct budget_list *l, long long bytes);

/* Bytes of the records naming policy (0 when none). */
long long budget_policy_bytes(const struct budget *b, const char *policy);
/* Whether the policy's own budget holds its records (not the cluster's). */
bool budget_policy_held(const struct budget *b, const char *policy);

/* The budget of a policy of its own (spec.storageBudget), 0 for none. */
typedef long long (*budget_limit_fn)(const char *policy, void *arg);
/* A hold began (held) or ended; policy NULL: the cluster's. */
typedef void (*budget_changed_fn)(const char *policy, bool held, void *arg);

/* Every policy is evaluated next time (their budgets may have changed). */
void budget_mark_all(struct budget *b);
/*
 * Evaluates the cluster's budget and those of the policies whose counts
 * moved: a hold begins past BUDGET_HIGH_PCT of the budget and ends below
 * BUDGET_LOW_PCT. A policy's budget is the smaller of its own and the
 * cluster's (a policy cannot raise the cluster's). Calls changed for each
 * transition, the cluster's first.
 */
void budget_evaluate(struct budget *b, budget_limit_fn limit, budget_changed_fn changed, void *arg);

#endif
