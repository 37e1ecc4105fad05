/* SPDX-License-Identifier: Apache-2.0 */
/* Leader election on a coordination.k8s.io/v1 Lease: either driven by a
 * caller calling lease_tick every retry period, or (lease_start) renewed
 * on its own thread, so that no other work of the daemon can make a
 * renewal late. Before each write, a leader asks lease_valid(): it is true
 * only until the renew deadline after the last renewal that succeeded, so
 * a replica that is not sure it still leads stops writing at once. */
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
/* Gives the lease up (on shutdown) so another replica need not wait; only
 * a lease this replica holds, and only if nobody wrote it since our last
 * renewal (the update carries that resourceVersion: a 409 leaves it). */
int lease_release(struct lease *l);

/* --- on its own thread ------------------------------------------------------ */

/* Starts a thread that renews every retry period (jittered) with its own
 * client, whose request timeout is half the renew deadline. cfg must
 * outlive the lease. Caller stops it with lease_stop(). */
int lease_start(const struct kubeconfig *cfg, const struct lease_opts *opts, struct lease **out);
/* Stops the thread, releases the lease if held, frees l. NULL-safe. */
void lease_stop(struct lease *l);
/* Any thread: true while this replica surely leads, i.e. until the renew
 * deadline after the start of the last successful renewal. */
bool lease_valid(const struct lease *l);
/* Readable (an eventfd: read it) when leadership was gained or lost. */
int lease_fd(const struct lease *l);

#endif
