/* SPDX-License-Identifier: Apache-2.0 */
/* The pending sessions of this node: the ShellAuditSessions the controller's
 * webhook wrote for pods of the node (field selector spec.node), each
 * stamped with the node's monotonic clock when the agent received it, so
 * that match.c compares it with the kernel's times and no other clock.
 * Owned by the agent's loop (the informer's reflector thread aside). */
#ifndef SHELLAUDIT_PENDING_H
#define SHELLAUDIT_PENDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "kube.h"
#include "match.h"

#define PENDING_MAX 4096

struct pending_set;

/* Watches the sessions of node. Caller frees with pending_stop(). */
int pending_start(const struct kubeconfig *cfg, const struct kube_client_opts *copts,
		  const char *node, struct pending_set **out);
void pending_stop(struct pending_set *ps);
int pending_fd(const struct pending_set *ps);
/* Applies what the watch brought (new sessions stamped now); returns how
 * many events it applied. */
int pending_process(struct pending_set *ps);
bool pending_synced(const struct pending_set *ps);

/* The sessions, as match_decide() takes them, in an array that stays valid
 * (and keeps their consumed flags) until the next pending_process() or
 * pending_expire(). */
struct match_pending *pending_all(struct pending_set *ps, size_t *n);
/* The object of session i (spec.user, spec.admittedAt, status.audit...). */
const cJSON *pending_object(const struct pending_set *ps, size_t i);
/* The index of the session named name, or -1. */
long pending_find(const struct pending_set *ps, const char *name);

/* Forgets what can no longer match at `now`: an exec received more than
 * keep_ns ago; a kubectl debug session once the API server deleted it. */
void pending_expire(struct pending_set *ps, uint64_t now, uint64_t keep_ns);

/* For tests: one object as a watch event would bring it, received at
 * received_ns; a NULL set is made. */
int pending_add_object(struct pending_set **ps, const cJSON *obj, uint64_t received_ns);

#endif
