/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AuditRecord storage budget's accounting: the bytes of the records
 * the controller knows, cluster-wide, per namespace and per policy, from
 * each record's namespace and metadata (the annotations
 * shellaudit.io/bytes and shellaudit.io/policies the agent writes), and
 * whose new records must be held, with hysteresis: held past
 * BUDGET_HIGH_PCT of a budget, released below BUDGET_LOW_PCT. O(1) per
 * record event (a record names at most 32 policies). Owned by the
 * controller's loop thread; knows nothing of the API (storage.c tells the
 * nodes and the policies).
 *
 * The cluster's budget (--storage-budget) is shared by namespaces, the
 * tenant boundary, so that one tenant's flood cannot hold every other
 * tenant's records. While the cluster's total is past its mark (held past
 * BUDGET_HIGH_PCT of the budget, until below BUDGET_LOW_PCT), only the
 * namespaces over their fair share are held:
 *
 *   - The fair share is the max-min fair share of the low-water mark
 *     (BUDGET_LOW_PCT of the budget, the level the cluster must come back
 *     below) among the namespaces holding records: the level s such that
 *     the sum over them of min(bytes, s) is that mark. A namespace that
 *     uses less than an equal split leaves the rest to the others. Computed
 *     in integers over the namespaces sorted by bytes (then name), so the
 *     same counts always give the same share.
 *   - A namespace is held once its bytes pass the share, and released once
 *     they are below BUDGET_LOW_PCT/BUDGET_HIGH_PCT of the share then in
 *     effect, or when the cluster's hold ends.
 *   - Whatever the shares, past BUDGET_HIGH_PCT of BUDGET_CEILING_X times
 *     the budget (until below BUDGET_LOW_PCT of it) every namespace holding
 *     records is held (the share is 0): the last line for etcd. One
 *     namespace cannot get there: once held it stops growing, at about
 *     the high mark at most, and the namespaces not held stay within
 *     their shares, the low mark together.
 *
 * A flood in one namespace therefore holds that namespace's records only;
 * the quiet ones go on. The records already stored are never deleted to
 * make room, so the total can pass the budget while the others fill their
 * shares (with one namespace held, to the high mark plus the low mark at
 * most, below the ceiling). A tenant with many namespaces has as many
 * shares.
 */
#ifndef SHELLAUDIT_BUDGET_H
#define SHELLAUDIT_BUDGET_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

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
/* Past BUDGET_HIGH_PCT of this many times the cluster's budget, every
 * namespace is held. */
#define BUDGET_CEILING_X 2
/* No fair share in effect (the cluster's budget is not held, or every
 * namespace fits in it). */
#define BUDGET_SHARE_NONE LLONG_MAX

/* One list of policy names as records carry it, shared by the records
 * naming it (reference-counted). */
struct budget_list;

/* The records of one namespace. */
struct budget_ns {
	long long bytes;    /* of the records in the namespace */
	bool held;	    /* over its fair share while the cluster's budget is held */
	long long at_bytes; /* bytes and share at the last transition */
	long long at_share;
	char name[254];
};

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
	bool held;	      /* the cluster's budget is past its mark: shares apply */
	bool full;	      /* past the ceiling: every namespace held */
	long long at_total;   /* total at the last cluster transition */
	long long share;      /* the fair share in effect, or BUDGET_SHARE_NONE */
	size_t nsharing;      /* namespaces holding records when it was computed */
	size_t nheld;	      /* namespaces held */
	bool dirty_all;	      /* evaluate every policy next time */
	bool changed;	      /* counts moved since the last evaluation */
	struct hmap lists;    /* "a,b" -> struct budget_list (owned) */
	struct hmap policies; /* name -> struct budget_policy (owned) */
	struct hmap namespaces; /* name -> struct budget_ns (owned; those holding
				 * records or held) */
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

/* Adds bytes (negative: removes them) of a record in namespace ns (NULL:
 * counted in the total only) naming list. */
void budget_count(struct budget *b, struct budget_list *l, const char *ns, long long bytes);

/* Bytes of the records naming policy (0 when none). */
long long budget_policy_bytes(const struct budget *b, const char *policy);
/* Whether the policy's own budget holds its records (not the cluster's). */
bool budget_policy_held(const struct budget *b, const char *policy);
/* Bytes of the records in namespace ns (0 when none). */
long long budget_ns_bytes(const struct budget *b, const char *ns);
/* Whether the cluster's budget holds the records of namespace ns (over its
 * fair share, or past the ceiling); NULL when not, else its figures at
 * the transition. */
const struct budget_ns *budget_ns_held(const struct budget *b, const char *ns);

/* The budget of a policy of its own (spec.storageBudget), 0 for none. */
typedef long long (*budget_limit_fn)(const char *policy, void *arg);
/* What a hold is about. */
enum budget_scope {
	BUDGET_CLUSTER,	  /* the cluster's total past its mark (name NULL) */
	BUDGET_NAMESPACE, /* a namespace over its fair share (name: it) */
	BUDGET_POLICY,	  /* a policy past its own budget (name: it) */
};
/* A hold began (held) or ended. */
typedef void (*budget_changed_fn)(enum budget_scope scope, const char *name, bool held, void *arg);

/* Every policy is evaluated next time (their budgets may have changed). */
void budget_mark_all(struct budget *b);
/*
 * Evaluates the cluster's budget, the namespaces' fair shares of it (see
 * above) and the budgets of the policies whose counts moved: a hold begins
 * past BUDGET_HIGH_PCT of the budget and ends below BUDGET_LOW_PCT. A
 * policy's budget is the smaller of its own and the cluster's (a policy
 * cannot raise the cluster's). Calls changed for each transition: the
 * cluster's first, then the namespaces' (by bytes, then name), then the
 * policies'.
 */
void budget_evaluate(struct budget *b, budget_limit_fn limit, budget_changed_fn changed, void *arg);

#endif
