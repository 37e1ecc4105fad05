/* SPDX-License-Identifier: Apache-2.0 */
/* events.k8s.io/v1 Events, rate-limited on the client, with identical
 * events aggregated into a series instead of flooding the API server. */
#ifndef SHELLAUDIT_EVENTS_H
#define SHELLAUDIT_EVENTS_H

#include "kube.h"

/* The API's limit on reportingInstance. */
#define EVENTS_INSTANCE_MAX 128

struct event_regarding {
	const char *api_version;	/* "v1" */
	const char *kind;		/* "Pod" */
	const char *ns;
	const char *name;
	const char *uid;
};

struct events_opts {
	const char *controller;	/* reportingController, e.g. "shellaudit.io/agent" */
	/* reportingInstance, e.g. "shellaudit-agent-node1"; past
	 * EVENTS_INSTANCE_MAX characters, its start and a digest of it. */
	const char *instance;
	double qps;		/* sustained Events created per second [5] */
	int burst;		/* [25] */
	long series_window_s;	/* identical events within this window form a series [360];
				 * negative: never aggregate (one Event per call) */
};

struct events_stats {
	long created;		/* Events created */
	long aggregated;	/* repeats folded into a series */
	long series_updates;	/* series patches written */
	long rate_limited;	/* dropped by the client-side limit */
	long failed;		/* refused by the API server or not delivered */
};

struct events;

/* c must outlive the recorder (opts' strings are copied). Caller frees *out
 * with events_free(). */
int events_new(struct kube_client *c, const struct events_opts *opts, struct events **out);
void events_free(struct events *e);

/* Records one event. note is untrusted bytes (e.g. a typed line): shown as
 * it is when escape_needed() lets it (text already escaped included: never
 * escaped twice), else escaped; bounded to the API's 1 kB. Returns 0 when an Event was
 * created, 1 when folded into an existing series, -EAGAIN when the
 * client-side limit dropped it, another negative errno when the API
 * server refused it. */
int events_emit(struct events *e, const struct event_regarding *reg, const char *type,
		 const char *reason, const char *action, const char *note);
/* Creates one Event under a name the caller derives from what it reports,
 * so that a replay meets AlreadyExists (returned as 1) instead of writing a
 * duplicate, with metadata.annotations (an object of strings, or NULL). No
 * aggregation and no client-side limit: the caller limits. */
int events_emit_named(struct events *e, const char *name, const struct event_regarding *reg,
		      const char *type, const char *reason, const char *action, const char *note,
		      const cJSON *annotations);
/*
 * events_emit_named for several Events at once, as a window (at most
 * EVENTS_BATCH_MAX): events_batch_add starts one as a request beside those
 * added before (kube_call_start), or queues it in the window while the
 * client runs KUBE_MANY_MAX requests (it starts, in order, as they end),
 * and returns its slot (-ENOSPC when the window is full, -ENOMEM). The
 * oldest is the head (events_batch_head: its slot, -ENOENT when the
 * window is empty); events_batch_wait starts what it can and runs the
 * requests until one is answered or timeout_ms pass; events_batch_result
 * is what events_emit_named would have returned for a slot (-EINPROGRESS
 * while it waits or runs; events_last_* say why it failed);
 * events_batch_pop drops the head (cancelled if it still runs);
 * events_batch_clear drops them all. Taking each head's result in turn
 * keeps the order they were added in. The window holds several times
 * KUBE_MANY_MAX: an Event answered before an older one keeps its answer
 * there and frees its request for the next, so that one slow answer
 * holds up the taking of the others, not their sending.
 */
#define EVENTS_BATCH_MAX (4 * KUBE_MANY_MAX)
int events_batch_add(struct events *e, const char *name, const struct event_regarding *reg,
		     const char *type, const char *reason, const char *action, const char *note,
		     const cJSON *annotations);
size_t events_batch_size(const struct events *e);
int events_batch_head(const struct events *e);
int events_batch_wait(struct events *e, int timeout_ms);
int events_batch_result(struct events *e, size_t i);
void events_batch_pop(struct events *e);
void events_batch_clear(struct events *e);
/* Writes pending series counts; call periodically and before exit. */
int events_flush(struct events *e);
void events_get_stats(const struct events *e, struct events_stats *out);
/* Why the last call that failed did (the API server's message): this
 * module logs nothing, its caller does, with the object. */
const char *events_last_error(const struct events *e);

/* What the last failed call asks of its caller, by client-go's rule for
 * Events: EVENTS_REFUSED when an answer came with an error status (a
 * metav1.Status error, or a proxy's 4xx/5xx): the same Event sent again
 * would meet the same answer, so it is not retried; EVENTS_RETRY when no
 * answer came (no connection, a timeout, out of memory), or one that asks
 * to be sent again (429, or a 5xx with Retry-After, which client-go's REST
 * client retries before its recorder sees them): worth a few more tries,
 * after Retry-After when it says; EVENTS_LIMITED when events_emit's
 * client-side limit dropped it (-EAGAIN): nothing was sent. */
enum events_failure { EVENTS_LIMITED, EVENTS_RETRY, EVENTS_REFUSED };
enum events_failure events_last_failure(const struct events *e);
/* The last failed call's HTTP status (0: no answer), metav1.Status
 * reason ("" when none) and Retry-After (seconds, 0 when none): for a
 * caller's log, counters and next try. */
long events_last_code(const struct events *e);
int events_last_retry_after(const struct events *e);
const char *events_last_reason(const struct events *e);

#endif
