/* SPDX-License-Identifier: Apache-2.0 */
/* Publishing the spool: AuditRecords and Events to the API server,
 * acknowledged only once accepted, so an API server outage delays but
 * loses nothing. Records go out per chain (container), each in its own
 * order with its own backoff: a chain whose record the API server answers
 * with an error that may clear (a failing webhook of its namespace, 5xx,
 * a 404 of the resource, 429 or 503: at least as long as its Retry-After
 * asks) or takes and does not answer in time backs off alone, and one a
 * storage budget holds waits alone, while the others and the Events go
 * on; no answer at all (the API server away, or a second request of the
 * pass without one: both chains then wait past the node's backoff) backs
 * the whole node off. A record refused for itself is parked
 * (publish_set_parked).
 * Events follow client-go's rule: one the API server answers with an error
 * status is not sent again (counted in events_refused, logged once per
 * namespace and reason); one that got no answer is tried again a few
 * times, seconds apart, and the records never wait for it: the
 * AuditRecords hold the data. Events go out as a window of requests
 * running at once (events_batch_*), refilled as the oldest are answered,
 * each answer taken in the stream's order: one not delivered is tried
 * again with those after it. The window goes on while a record's request
 * waits for its answer (kube_set_beside). */
#ifndef SHELLAUDIT_PUBLISH_H
#define SHELLAUDIT_PUBLISH_H

#include <stdint.h>

#include "events.h"
#include "kube.h"
#include "spool.h"

struct publish_stats {
	uint64_t records, records_replayed;	/* created; already there (a replay) */
	uint64_t events, events_replayed;
	uint64_t events_suppressed;		/* over a pod's ratePerMinute */
	uint64_t failures;			/* API errors (retried) */
	uint64_t collisions;			/* a different record had the name
						 * (published under a longer one) */
	double last_latency_s;			/* entry capture to record accepted */
	uint64_t events_in_flight;		/* Events in the window (events_batch_size) */
	bool held;				/* the next record waits for a hold to end */
	uint64_t records_parked;		/* refused for the record itself: parked */
	uint64_t parked_published;		/* parked, then accepted */
	uint64_t parked_expired;		/* parked past their retention: removed */
	uint64_t parked_lost;			/* refused, parked full (or its namespace's
						 * share): a gap in its chain */
	uint64_t events_refused;		/* answered with an error status: skipped */
	uint64_t events_undelivered;		/* no answer after the last try: skipped */
};

struct publisher;

/* c, ev and s must outlive the publisher. Caller frees with publish_free(). */
int publish_new(struct kube_client *c, struct events *ev, struct spool *s, struct publisher **out);
void publish_free(struct publisher *p);

/* Publishes what waits, at most `budget` API calls for records and as
 * many Events (an answer is one), and once clock_now_ms() passes until_ms
 * (0: no bound) no further record (one goes in any case) nor any wait for
 * an Event's answer: it then returns within one request's time (and a
 * chain's start below or the parked records' retry, at most `budget`, if
 * they were due). Returns how many calls it made, 0 when
 * nothing waits or while backing off after a failure. Events may still be
 * on their way when it returns (then it returns more than 0; spool_idle
 * is false until they are answered in a later step): call it again soon.
 * When the spool waits for a chain's start (spool_wanted_chain), that
 * comes first: the chain's newest record this node signed is looked up in
 * the API server (from the hint by sequence, a few requests:
 * spec.containerID and spec.sequence are selectable fields; without one,
 * every record of the container read, a request per 20), and the chain
 * goes on after it. */
int publish_step(struct publisher *p, int budget, long until_ms);
/* The start of the note of a 32-bit program's ProgramExecuted Event, a
 * Warning made whatever execEvents says (the entry's "ia32"). */
#define PUBLISH_IA32 "32-bit program: "
/* Whether an entry of the container of identity id (as journaled) may
 * become an Event: its policy's Events on and a typed line, or an exec
 * with execEvents or of a 32-bit program, or the end of auditing
 * (always). Cheap: the spool
 * marks the entries it answers no for at once (spool_opts.event_wanted),
 * and the Events' reader passes them unread. */
bool publish_event_wanted(const cJSON *id, const cJSON *entry);
/* Milliseconds until publish_step has something to do after a failure. */
long publish_backoff_ms(const struct publisher *p);
void publish_get_stats(const struct publisher *p, struct publish_stats *out);

/* A hint of where the chain of container cid ends: 1 with the sequence of
 * its newest record (as the node's ShellAuditNode status published it), 0
 * when there is none. */
typedef int (*publish_hint_fn)(const char *cid, void *arg, uint64_t *seq);
void publish_on_hint(struct publisher *p, publish_hint_fn fn, void *arg);

/* Called with each record the API server accepted or already had (a
 * replay), in publication order; the record is the publisher's. */
typedef void (*publish_record_fn)(const cJSON *record, void *arg);
void publish_on_record(struct publisher *p, publish_record_fn fn, void *arg);

/* How an Event that gets no answer is tried again: tries in all, every_ms
 * apart (the default: 12 tries, 10 s apart, as client-go's recorder); for
 * tests. */
void publish_set_event_retry(struct publisher *p, int tries, long every_ms);

/* Where records the API server refuses for this object (400, 403, 404,
 * 413, 422) go instead of blocking the queue or being dropped (parked.h);
 * they are tried again every PUBLISH_PARKED_RETRY_MS, and removed once past
 * their retention. NULL (the default): such a record is dropped (400, 404,
 * 422, a namespace being deleted) or retried (the rest). pk must outlive
 * the publisher. */
struct parked;
void publish_set_parked(struct publisher *p, struct parked *pk);

/* Histograms (metrics.h) of the seconds from an entry's capture to its
 * Event accepted, and from a record's first entry's to the record
 * accepted (not a replay's, nor a parked record's); NULL: none. They must
 * outlive the publisher. */
struct metric;
void publish_set_latency_metrics(struct publisher *p, struct metric *events,
				 struct metric *records);

/* Whether the records of container cid are held (a storage budget): they
 * stay in the spool, in order, while those of other containers go out
 * (spool.h: at most SPOOL_AHEAD_MAX records past the first one waiting);
 * Events go on. */
typedef bool (*publish_hold_fn)(const char *cid, void *arg);
void publish_on_hold(struct publisher *p, publish_hold_fn fn, void *arg);

#endif
