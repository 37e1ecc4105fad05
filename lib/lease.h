/* SPDX-License-Identifier: Apache-2.0 */
/* Leader election on a coordination.k8s.io/v1 Lease, driven by the
 * daemon's main loop calling lease_tick every retry period. */
#ifndef SHELLAUDIT_LEASE_H
#define SHELLAUDIT_LEASE_H

#include <stdbool.h>

#include "kube.h"

struct lease_opts {
	const char *ns;
	const char *name;
	const char *identity;	/* unique per replica, e.g. the pod name */
	long duration_s;	/* how long a lease holds without renewal [15] */
	long renew_deadline_s;	/* a leader that cannot renew this long steps down [10] */
	long retry_period_s;	/* how often to call lease_tick [2] */
};

struct lease;

/* c must outlive the lease. Caller frees *out with lease_free(). */
int lease_new(struct kube_client *c, const struct lease_opts *opts, struct lease **out);
void lease_free(struct lease *l);

/* Tries to acquire or renew. Returns 1 while this replica leads, 0 when
 * another does or leadership was lost, never an error: failures are
 * logged and count against the renew deadline. */
int lease_tick(struct lease *l);
bool lease_is_leader(const struct lease *l);
/* Gives the lease up (on shutdown) so another replica need not wait. */
int lease_release(struct lease *l);

#endif
