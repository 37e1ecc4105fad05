/* SPDX-License-Identifier: Apache-2.0 */
/* From policies, namespaces and pods to what each node must audit. */
#ifndef SHELLAUDIT_RESOLVE_H
#define SHELLAUDIT_RESOLVE_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "hmap.h"
#include "policy.h"

struct resolve_policy_result {
	long matched_pods;	/* pods selected by namespace and pod selectors */
	struct hmap nodes;	/* nodes with targets of this policy (values unused) */
};

struct resolution {
	struct hmap nodes;	/* node -> cJSON array of targets, sorted by containerID */
	struct hmap policies;	/* policy name -> struct resolve_policy_result */
};

/* Labels of a namespace (a JSON object), or NULL when it is unknown. */
typedef const cJSON *(*resolve_ns_labels_fn)(const char *ns, void *arg);

/*
 * Computes which containers each node audits. A container is a target when
 * its pod is on a node, its namespace's labels match the policy's
 * namespaceSelector, the pod's labels its podSelector, its name is in the
 * policy's containers (or that list is empty), and it runs with a known
 * container ID (regular, init and ephemeral containers alike). Several
 * policies on one container merge: capture and events are the union, the
 * rate limit the strictest, the retention the longest, redact rules all of
 * them. Caller frees out with resolve_clear().
 */
int resolve_compute(struct policy *const *pols, size_t npols, const cJSON *const *pods,
		    size_t npods, resolve_ns_labels_fn ns_labels, void *arg, struct resolution *out);
void resolve_clear(struct resolution *r);

/* The spec of the node's ShellAuditNode ({targetCount, targets}); a new
 * object the caller frees with cJSON_Delete(). */
cJSON *resolve_node_spec(const struct resolution *r, const char *node);

/* Whether spec (a ShellAuditNode's) is exactly the resolution for node;
 * compares in place, without building the spec. */
bool resolve_node_spec_equal(const struct resolution *r, const char *node, const cJSON *spec);

/* A pod reduced to what resolution needs (for the informer's transform):
 * a new object the caller owns. */
cJSON *resolve_trim_pod(const cJSON *pod);

#endif
