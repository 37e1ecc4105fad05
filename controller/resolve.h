/* SPDX-License-Identifier: Apache-2.0 */
/* From policies, namespaces and pods to what each node must audit,
 * incrementally: a pod's event re-resolves that pod only, and reports the
 * nodes and policies whose result changed; a new set of policies starts
 * over (every pod is fed again). Owned by the controller's loop thread. */
#ifndef SHELLAUDIT_RESOLVE_H
#define SHELLAUDIT_RESOLVE_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "digest.h"
#include "hmap.h"
#include "policy.h"

/* The ShellAuditNode schema's caps: policies and redact rules per target. */
#define RESOLVE_MAX_POLICIES 32
#define RESOLVE_MAX_REDACT 64

/* Labels of a namespace (a JSON object), or NULL when it is unknown. */
typedef const cJSON *(*resolve_ns_labels_fn)(const char *ns, void *arg);

enum resolve_kind { RESOLVE_NODE, RESOLVE_POLICY };
/* Whether new AuditRecords of a policy's targets in namespace ns are held
 * (its storage budget is exceeded, or the namespace is over its share of
 * the cluster's). */
typedef bool (*resolve_held_fn)(const char *ns, const char *policy, void *arg);
/* Called for each node or policy whose result may have changed. */
typedef void (*resolve_touch_fn)(enum resolve_kind kind, const char *name, void *arg);

/* What one policy selects. */
struct resolve_result {
	long matched_pods;	/* pods selected by namespace and pod selectors */
	struct hmap nodes;	/* node -> its number of targets of this policy (intptr_t) */
	struct hmap namespaces; /* namespace -> its number of targets of this policy (intptr_t) */
	long redact_dropped;	/* targets where some of its redact rules passed the cap */
};

struct resolver {
	struct policy *const *pols;	/* the caller's, sorted by name */
	size_t npols;
	struct hmap pods;	/* "ns/name" -> struct resolve_pod (what it contributes) */
	struct hmap nodes;	/* node -> struct resolve_node */
	struct hmap results;	/* policy name -> struct resolve_result */
	struct hmap profiles;	/* policy index list -> struct resolve_profile */
	resolve_ns_labels_fn ns_labels;
	resolve_touch_fn touch;
	void *arg;
	resolve_held_fn held; /* NULL: nothing is held */
	void *held_arg;
};

void resolver_init(struct resolver *r, resolve_ns_labels_fn ns_labels, resolve_touch_fn touch,
		   void *arg);
void resolver_clear(struct resolver *r);

/*
 * A new set of policies, sorted by name; they stay the caller's and must
 * live until the next call or resolver_clear(). Every pod's contribution
 * is dropped and every node and policy touched: the caller feeds every pod
 * again with resolver_pod().
 */
int resolver_set_policies(struct resolver *r, struct policy *const *pols, size_t n);

/*
 * Re-resolves one pod (trimmed by resolve_trim_pod; NULL: it is gone).
 * A container is a target when its pod is on a node and not finished, its
 * namespace's labels match the policy's namespaceSelector, the pod's
 * labels its podSelector, its name is in the policy's containers (or that
 * list is empty), and it runs with a known container ID (regular, init and
 * ephemeral containers alike). Several policies on one container merge:
 * capture and events are the union, the rate limit the strictest, the
 * retention the longest, redact rules all of them (the first 64 distinct,
 * in policy name order). Touches the nodes and policies it changes only.
 */
int resolver_pod(struct resolver *r, const char *key, const cJSON *pod);

/* Sets the hold predicate; targets it says are held get holdRecords. */
void resolver_set_held(struct resolver *r, resolve_held_fn held, void *arg);
/* The hold of policy changed (NULL: of every policy): touches the nodes
 * where it has targets, whose specs change. */
void resolver_hold_changed(struct resolver *r, const char *policy);
/* The hold of namespace ns changed: touches the nodes where the policies
 * with targets in ns have targets. */
void resolver_hold_changed_ns(struct resolver *r, const char *ns);

/* The spec of the node's ShellAuditNode ({targetCount, targets} sorted by
 * containerID): a new object the caller frees with cJSON_Delete(). */
cJSON *resolve_node_spec(struct resolver *r, const char *node);
/* Whether node has targets. */
bool resolve_node_has_targets(const struct resolver *r, const char *node);
/* digest_json() of resolve_node_spec(), kept until the node changes;
 * NULL on ENOMEM. */
const char *resolve_node_hash(struct resolver *r, const char *node);
/* Calls fn for every node with targets. */
void resolve_foreach_node(const struct resolver *r, void (*fn)(const char *node, void *arg),
			  void *arg);
/* The result of a policy of the current set, or NULL. */
const struct resolve_result *resolve_policy(const struct resolver *r, const char *name);

/* A pod reduced to what resolution needs (for the informer's transform):
 * a new object the caller owns. */
cJSON *resolve_trim_pod(const cJSON *pod);

#endif
