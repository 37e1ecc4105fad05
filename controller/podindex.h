/* SPDX-License-Identifier: Apache-2.0 */
/* Which pods are audited, and on which node, as the ShellAuditNodes say:
 * what the session webhook asks before it records a pending session (a pod
 * no policy selects gets none). One writer (the sessions thread, from its
 * ShellAuditNode informer), any number of readers (the webhook's
 * connection threads): a read-write lock inside. */
#ifndef SHELLAUDIT_PODINDEX_H
#define SHELLAUDIT_PODINDEX_H

#include <stdbool.h>

#include <cjson/cJSON.h>

struct podindex;

int podindex_new(struct podindex **out);
void podindex_free(struct podindex *x);

/* What a ShellAuditNode says now (NULL: it is gone): its pods replace the
 * ones it said before. */
void podindex_set_node(struct podindex *x, const char *node, const cJSON *san);

/* The ShellAuditNode informer's transform: the name and, of each target,
 * namespace, pod, podUID and container. */
cJSON *podindex_trim(const cJSON *san);

struct podindex_pod {
	char node[254];
	char uid[64];
	bool container_audited; /* the container asked about is a target (NULL: any is) */
};

/* Whether ns/pod is audited: 1 with *out filled, 0 not. */
int podindex_lookup(struct podindex *x, const char *ns, const char *pod, const char *container,
		    struct podindex_pod *out);
size_t podindex_count(struct podindex *x);

#endif
