// SPDX-License-Identifier: Apache-2.0
/* The publisher, owned by the agent's main loop. */
#include "publish.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "escape.h"
#include "hmap.h"
#include "jsontext.h"
#include "log.h"
#include "metrics.h"
#include "parked.h"
#include "ratelimit.h"
#include "sign.h"
#include "record.h"
#include "timefmt.h"

#define PUBLISH_BACKOFF_MIN_MS 200
/* How often parked records are tried again. */
#ifndef PUBLISH_PARKED_RETRY_MS
#define PUBLISH_PARKED_RETRY_MS 30000
#endif
#define PUBLISH_BACKOFF_MAX_MS 10000
/* An Event not delivered (no answer from the API server) is tried again
 * this often, at most this many times in all, then skipped: client-go's
 * recorder's 12 tries 10 s apart, which a restarting API server outlasts
 * rarely. Meanwhile the Events behind it wait; the records do not. */
#define PUBLISH_EVENT_RETRY_MS 10000
#define PUBLISH_EVENT_TRIES 12
/* publish_event: its Event is queued (publish_event_queue). */
#define PUBLISH_QUEUED 1
/* publish_event, beside a record's request (publish_events_beside): its
 * Event takes more than queueing; it waits for the step. */
#define PUBLISH_LATER 2
/* publish_events_take: until one answer is taken, until all are, or only
 * those already there. */
enum publish_take { PUBLISH_TAKE_SOME, PUBLISH_TAKE_ALL, PUBLISH_TAKE_READY };
/* The longest one wait for the window's answers lasts (each request has
 * its own timeout besides). */
#define PUBLISH_EVENT_WAIT_MS 1000
/* Refused Events are logged once per namespace, Event reason and answer;
 * past this many kinds remembered, the memory starts again. */
#define PUBLISH_REFUSED_LOGGED_MAX 256

struct publish_limit {
	struct tokens tokens;	/* ratePerMinute, burst of one minute's */
	uint64_t suppressed;	/* not yet reported in a summary Event */
};

struct publisher {
	struct kube_client *c;
	struct events *ev;
	struct spool *s;
	struct metric *m_event_latency, *m_record_latency; /* or NULL */
	/* A record's request waits for its answer: the Events go on beside
	 * it (publish_events_beside), which is running while beside is. */
	bool record_waits, beside;
	struct hmap limits;	/* "ns/pod" -> struct publish_limit */
	/* Backoff of the whole node: the API server did not answer a record
	 * (or a chain's start could not be looked up). */
	long retry_at_ms;
	struct backoff backoff;
	/* Backoff of one chain: the API server answered with an error for
	 * its record (a webhook of its namespace failing, 429, 5xx): the
	 * other chains go on. cid -> struct publish_chain, while it backs off. */
	struct hmap chains;
	long pass_ms;	/* when the pass over the spool began */
	long last_code; /* the last record's HTTP status, 0: no answer */
	bool last_sent; /* the last record's request reached the API server */
	int last_retry_after; /* its answer's Retry-After (s), 0: none */
	struct publish_stats stats;
	publish_record_fn on_record;
	void *on_record_arg;
	publish_hint_fn hint;
	void *hint_arg;
	publish_hold_fn hold;
	void *hold_arg;
	struct parked *parked; /* records refused for this object, or NULL */
	long parked_retry_ms;  /* when parked records are tried next */
	/* The Event at the head of the stream that was not delivered: its
	 * position + 1 (0: none), its tries, and when it is tried next (a
	 * time, never a sleep; the records go on meanwhile). */
	uint64_t event_failed_pos;
	int event_tries, event_tries_max;
	long event_retry_at_ms, event_retry_ms;
	struct hmap refused_logged; /* "ns|reason|code api-reason" (a set) */
	/* The Events of the stream queued to go out together (events_batch_*),
	 * in the stream's order: where each is, and whom and what it is of,
	 * for its failure's handling. */
	struct publish_queued {
		uint64_t pos;
		char ns[64], pod[254];
		char at[40]; /* the entry's time, "" when it has none */
		const char *reason;
	} queued[EVENTS_BATCH_MAX];
};

static void publish_events_beside(void *arg);

int publish_new(struct kube_client *c, struct events *ev, struct spool *s, struct publisher **out)
{
	struct publisher *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->c = c;
	p->ev = ev;
	p->s = s;
	hmap_init_free(&p->limits, free);
	hmap_init_free(&p->chains, free);
	hmap_init(&p->refused_logged);
	p->event_tries_max = PUBLISH_EVENT_TRIES;
	p->event_retry_ms = PUBLISH_EVENT_RETRY_MS;
	backoff_init(&p->backoff, PUBLISH_BACKOFF_MIN_MS, PUBLISH_BACKOFF_MAX_MS);
	kube_set_beside(c, publish_events_beside, p);
	*out = p;
	return 0;
}

void publish_free(struct publisher *p)
{
	if (!p)
		return;
	kube_set_beside(p->c, NULL, NULL);
	hmap_clear(&p->limits);
	hmap_clear(&p->chains);
	hmap_clear(&p->refused_logged);
	free(p);
}

void publish_on_record(struct publisher *p, publish_record_fn fn, void *arg)
{
	p->on_record = fn;
	p->on_record_arg = arg;
}

void publish_on_hint(struct publisher *p, publish_hint_fn fn, void *arg)
{
	p->hint = fn;
	p->hint_arg = arg;
}

void publish_set_event_retry(struct publisher *p, int tries, long every_ms)
{
	p->event_tries_max = tries > 0 ? tries : 1;
	p->event_retry_ms = every_ms > 0 ? every_ms : 0;
}

void publish_set_parked(struct publisher *p, struct parked *pk)
{
	p->parked = pk;
}

void publish_set_latency_metrics(struct publisher *p, struct metric *events, struct metric *records)
{
	p->m_event_latency = events;
	p->m_record_latency = records;
}

void publish_on_hold(struct publisher *p, publish_hold_fn fn, void *arg)
{
	p->hold = fn;
	p->hold_arg = arg;
}

void publish_get_stats(const struct publisher *p, struct publish_stats *out)
{
	*out = p->stats;
	out->events_in_flight = (uint64_t)events_batch_size(p->ev);
}

/* Seconds from the RFC 3339 time `at` to now, or -1 when at is none. */
static double publish_since_s(const char *at)
{
	struct timespec t, now;

	if (!at || timefmt_parse(at, &t) < 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &now);
	return (double)(now.tv_sec - t.tv_sec) + (double)(now.tv_nsec - t.tv_nsec) / 1e9;
}

long publish_backoff_ms(const struct publisher *p)
{
	long d = p->retry_at_ms - clock_now_ms();

	return d > 0 ? d : 0;
}

static void publish_failed(struct publisher *p)
{
	p->stats.failures++;
	p->retry_at_ms = clock_now_ms() + backoff_next_ms(&p->backoff);
}

struct publish_chain {
	long retry_at_ms;
	struct backoff backoff;
};

/* The API server refused a record of chain cid for now: that chain backs
 * off alone. */
static void publish_chain_failed(struct publisher *p, const char *cid)
{
	struct publish_chain *c = hmap_get(&p->chains, cid);

	p->stats.failures++;
	if (!c) {
		if (!(c = calloc(1, sizeof(*c))))
			goto whole; /* cannot tell it apart: the node backs off */
		backoff_init(&c->backoff, PUBLISH_BACKOFF_MIN_MS, PUBLISH_BACKOFF_MAX_MS);
		if (hmap_put(&p->chains, cid, c, NULL) < 0) {
			free(c);
			goto whole;
		}
	}
	c->retry_at_ms = clock_now_ms() + backoff_next_ms(&c->backoff);
	return;
whole:
	p->retry_at_ms = clock_now_ms() + backoff_next_ms(&p->backoff);
}

/* Chain cid's backoff, if it has one, begins when the node's ends. */
static void publish_chain_after_node(struct publisher *p, const char *cid)
{
	struct publish_chain *c = hmap_get(&p->chains, cid);
	long now = clock_now_ms();

	if (c && p->retry_at_ms > now)
		c->retry_at_ms += p->retry_at_ms - now;
}

/* Chain cid (backing off) waits ms from now at least. */
static void publish_chain_wait(struct publisher *p, const char *cid, long ms)
{
	struct publish_chain *c = hmap_get(&p->chains, cid);

	if (c && c->retry_at_ms < clock_now_ms() + ms)
		c->retry_at_ms = clock_now_ms() + ms;
}

/* spool_wait_fn: the chain's records wait while a storage budget holds
 * them or while it backs off. Against the time the pass began: a backoff
 * that ends during the pass must not let a later record of the chain go
 * before the one it passed over. */
static bool publish_chain_waits(const char *cid, void *arg)
{
	struct publisher *p = arg;
	const struct publish_chain *c = hmap_get(&p->chains, cid);

	if (p->hold && p->hold(cid, p->hold_arg)) {
		p->stats.held = true;
		return true;
	}
	return c && c->retry_at_ms > p->pass_ms;
}

static const char *publish_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static const char *publish_digest(const cJSON *rec)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "spec"), "digest"));
}

/* Whether the record already under rec's name is rec (a replay): 1 yes, 0
 * another record, <0 cannot tell now. */
static int publish_is_replay(struct publisher *p, const char *path, const cJSON *rec)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "metadata"), "name"));
	const char *ours = publish_digest(rec), *theirs;
	cJSON *existing = NULL;
	char one[640];
	int ret;

	snprintf(one, sizeof(one), "%s/%s", path, name);
	if ((ret = kube_get(p->c, one, &existing, NULL)) < 0)
		return ret;
	theirs = publish_digest(existing);
	ret = ours && theirs && !strcmp(ours, theirs);
	cJSON_Delete(existing);
	return ret;
}

/* Whether the API server refused the record for this object, so that
 * sending it again as it is cannot help until something else changes: 400
 * and 422 (the schema, an admission policy that says Invalid), 403 (an
 * admission policy that forbids it, a namespace being deleted, RBAC), 404
 * for its namespace gone (`namespaces "x" not found`; not a 404 of the
 * resource itself, the CRD not served for a moment during an upgrade,
 * which clears by itself), 413 (too large). Not 401: a token refreshes. */
static bool publish_refused_for_good(int ret, const struct kube_response *resp)
{
	if (ret >= 0)
		return false;
	if (resp->code == 404)
		return !strncmp(resp->message, "namespaces \"", 12) &&
		       strstr(resp->message, "\" not found");
	return resp->code == 400 || resp->code == 403 || resp->code == 413 || resp->code == 422;
}

/* An Event the API server refused: counted, and logged the first time its
 * namespace, Event reason and answer come together (a namespace being
 * deleted refuses every Event of its pods: one line, not one a line). */
static void publish_event_refused(struct publisher *p, const struct event_regarding *reg,
				  const char *reason)
{
	char key[400];

	p->stats.events_refused++;
	snprintf(key, sizeof(key), "%.63s|%.64s|%ld %.63s", reg->ns, reason,
		 events_last_code(p->ev), events_last_reason(p->ev));
	if (p->refused_logged.size >= PUBLISH_REFUSED_LOGGED_MAX)
		hmap_clear(&p->refused_logged);
	if (hmap_add(&p->refused_logged, key) == 0)
		return; /* said already */
	log_with(LOG_WARN,
		 LOG_KV("ns", reg->ns, "pod", reg->name, "reason", reason, "code_reason",
			events_last_reason(p->ev)),
		 "Event refused by the API server (%ld): %s; not retried (client-go's rule), "
		 "counted in shellaudit_agent_events_refused_total: the AuditRecords hold the "
		 "data. Said once for this namespace, reason and answer",
		 events_last_code(p->ev), events_last_error(p->ev));
}

/*
 * What follows a failed Event (ret < 0), by client-go's rule. Refused (an
 * answer with an error status): counted, logged once, skipped: 0. Not
 * delivered (no answer, or a 429: EVENTS_RETRY): when stream (an Event of
 * the spool's stream at pos), tried again event_retry_ms later (or after
 * the answer's Retry-After), event_tries_max times in all,
 * then counted and skipped; -EAGAIN meanwhile, with the time of
 * the next try in event_retry_at_ms (never a sleep: the records go on).
 * A one-off Event (not stream) is not tried again: 0. Dropped by the
 * client-side limit: 0.
 */
static int publish_event_failed(struct publisher *p, const struct event_regarding *reg,
				const char *reason, bool stream, uint64_t pos)
{
	switch (events_last_failure(p->ev)) {
	case EVENTS_LIMITED: return 0;
	case EVENTS_REFUSED: publish_event_refused(p, reg, reason); return 0;
	case EVENTS_RETRY: break;
	}
	p->stats.failures++;
	if (!stream) {
		log_with(LOG_WARN, LOG_KV("ns", reg->ns, "pod", reg->name, "reason", reason),
			 "cannot deliver Event: %s", events_last_error(p->ev));
		return 0;
	}
	if (p->event_failed_pos != pos + 1) {
		p->event_failed_pos = pos + 1;
		p->event_tries = 0;
	}
	if (++p->event_tries < p->event_tries_max) {
		/* The API server's Retry-After (a 429) when it says one. */
		long wait = events_last_retry_after(p->ev) > 0 ?
				    events_last_retry_after(p->ev) * 1000L :
				    p->event_retry_ms;

		log_with(LOG_WARN, LOG_KV("ns", reg->ns, "pod", reg->name, "reason", reason),
			 "cannot deliver Event (try %d of %d): %s; tried again in %ld ms",
			 p->event_tries, p->event_tries_max, events_last_error(p->ev), wait);
		p->event_retry_at_ms = clock_now_ms() + wait;
		return -EAGAIN;
	}
	p->stats.events_undelivered++;
	log_with(LOG_ERROR, LOG_KV("ns", reg->ns, "pod", reg->name, "reason", reason),
		 "Event not delivered after %d tries: %s; skipped (the AuditRecords hold the data)",
		 p->event_tries_max, events_last_error(p->ev));
	p->event_failed_pos = 0;
	p->event_tries = 0;
	return 0;
}

/* kube_create, keeping what the API server said of a refusal in why (its
 * code, reason, message and details.causes: a parked record keeps them). */
static int publish_create(struct publisher *p, const char *path, const cJSON *rec,
			  struct kube_response *resp, struct parked_why *why)
{
	char *body = jsontext_print(rec, NULL);
	int ret;

	memset(why, 0, sizeof(*why));
	if (!body) {
		memset(resp, 0, sizeof(*resp));
		snprintf(resp->message, sizeof(resp->message), "out of memory");
		return -ENOMEM;
	}
	ret = kube_request(p->c, "POST", path, "application/json", body, resp);
	free(body);
	if (ret == 0)
		ret = kube_response_errno(resp);
	if (ret < 0 && resp->code >= 400)
		parked_why_from_status(why, resp->code, resp->reason, resp->message, resp->body,
				       resp->len);
	kube_response_clear(resp);
	return ret;
}

/* The first cause of a refusal as " (field: message)", or "". */
static void publish_why_cause(const struct parked_why *why, char *buf, size_t cap)
{
	const struct parked_cause *c = &why->causes[0];

	buf[0] = '\0';
	if (why->ncauses > 0 && (*c->field || *c->message))
		snprintf(buf, cap, " (%s%s%s)", c->field, *c->field && *c->message ? ": " : "",
			 c->message);
}

/* What a person can do about a parked record, from the API's answer. */
static const char *publish_why_hint(const struct parked_why *why)
{
	bool terminating = strstr(why->message, "because it is being terminated") != NULL;
	int i;

	for (i = 0; i < why->ncauses; i++)
		terminating |= !strcmp(why->causes[i].reason, "NamespaceTerminating");
	if (terminating)
		return "its namespace is being deleted: the records go out if a namespace of "
		       "that name is created again, and are removed from the node past their "
		       "retention";
	switch (why->code) {
	case 404:
		return "its namespace is gone: the records go out once it is created again, and "
		       "are removed from the node past their retention";
	case 413:
		return "the record is larger than the API server takes: lower the agent's "
		       "--batch-bytes or raise the API server's request size limit";
	case 403:
		return "an admission webhook or policy, or the agent's RBAC, forbids it: the "
		       "records go out once it allows them";
	default:
		return "an admission policy or webhook, or the schema, refuses it: the records go "
		       "out once it accepts them";
	}
}

/* A Warning Event on the record's pod: it was refused and parked. (Often
 * refused too when the namespace is being deleted: the log and the
 * ShellAuditNode status say it as well.) */
static void publish_parked_event(struct publisher *p, const cJSON *rec,
				 const struct parked_why *why)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(rec, "metadata");
	const cJSON *pod = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "spec"), "pod");
	struct event_regarding reg = { "v1", "Pod", publish_str(md, "namespace"),
				       publish_str(pod, "name"), publish_str(pod, "uid") };
	char note[1024], cause[400];

	if (!p->ev || !reg.ns || !reg.name)
		return;
	publish_why_cause(why, cause, sizeof(cause));
	snprintf(note, sizeof(note),
		 "AuditRecord %s refused by the API server (%ld %s): %s%s; kept on the node and "
		 "tried again every %d s: %s",
		 publish_str(md, "name") ?: "?", why->code, why->reason, why->message, cause,
		 PUBLISH_PARKED_RETRY_MS / 1000, publish_why_hint(why));
	if (events_emit(p->ev, &reg, "Warning", "AuditRecordParked", "Publish", note) < 0)
		publish_event_failed(p, &reg, "AuditRecordParked", false, 0);
}

/* One record; 0 accepted or already there (or, when may_park, parked), <0
 * to retry later. */
static int publish_record_in(struct publisher *p, cJSON *rec, bool may_park)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(rec, "metadata");
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	const cJSON *entries = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "spec"), "entries");
	const char *first = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(entries, 0), "time"));
	struct kube_response resp;
	struct parked_why why;
	char path[512], other[320], cause[400];
	double since;
	int ret, tries;

	p->last_code = -1; /* no request made yet */
	p->last_sent = false;
	p->last_retry_after = 0;
	snprintf(path, sizeof(path), "/apis/shellaudit.io/v1alpha1/namespaces/%s/auditrecords", ns);
	for (tries = 0;; tries++) {
		/* Its size where the controller's metadata-only watch sees it
		 * (the storage budget); from the object itself, so a replay
		 * sends the same. */
		if (record_set_bytes(rec) < 0)
			return -ENOMEM;
		ret = publish_create(p, path, rec, &resp, &why);
		p->last_code = resp.code;
		p->last_sent = resp.sent;
		p->last_retry_after = resp.retry_after;
		if (ret != -EEXIST)
			break;
		/* A replay finds its own record. Another record under this
		 * name is said out loud and this one goes under the longer
		 * name record_name_taken() gives: kept, never dropped. */
		if ((ret = publish_is_replay(p, path, rec)) < 0) {
			log_with(LOG_WARN, LOG_KV("ns", ns, "auditrecord", name),
				 "cannot read the AuditRecord already under this name: %s",
				 strerror(-ret));
			return ret;
		}
		if (ret == 1) {
			p->stats.records_replayed++;
			if (p->on_record)
				p->on_record(rec, p->on_record_arg);
			return 0;
		}
		p->stats.collisions++;
		if (tries > 0 ||
		    record_name_taken(name, publish_digest(rec), other, sizeof(other)) < 0) {
			log_with(LOG_ERROR, LOG_KV("ns", ns, "auditrecord", name),
				 "another AuditRecord already has this name too; kept in the "
				 "spool and retried");
			return -EEXIST;
		}
		log_with(LOG_ERROR, LOG_KV("ns", ns, "auditrecord", name, "published_as", other),
			 "another AuditRecord already has this name and differs: this record "
			 "goes under a longer name");
		cJSON_ReplaceItemInObjectCaseSensitive(md, "name", cJSON_CreateString(other));
		name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	}
	if (publish_refused_for_good(ret, &resp) && !may_park)
		return ret; /* a parked record: it stays parked */
	if (publish_refused_for_good(ret, &resp) && p->parked) {
		/* Out of the node's queue, never dropped: kept beside the
		 * spool and tried again, since the cause may clear (the
		 * namespace recreated, the admission policy changed). */
		int pr = parked_add(p->parked, rec, &why);

		publish_why_cause(&why, cause, sizeof(cause));
		if (pr == -ENOSPC || pr == -EDQUOT) {
			/* Parked is full, or its namespace has its share: kept
			 * in the spool, this record would hold every chain's
			 * (the spool's window, then its space) for as long as
			 * the cause lasts, which one tenant decides (a namespace
			 * left Terminating). A gap instead, said out loud: its
			 * sequence is missing from the chain. */
			p->stats.parked_lost++;
			log_with(LOG_ERROR, LOG_KV("ns", ns, "auditrecord", name),
				 "AuditRecord refused (%ld %s: %s%s) and cannot be parked (%s): "
				 "lost, counted in the ShellAuditNode status (parkedLost); its "
				 "chain shows the missing sequence",
				 why.code, why.reason, why.message, cause,
				 pr == -EDQUOT ? "its namespace has its share of parked records" :
						 "parked records are at their bound");
			publish_parked_event(p, rec, &why);
			return 0;
		}
		if (pr < 0) {
			log_with(LOG_ERROR, LOG_KV("ns", ns, "auditrecord", name),
				 "AuditRecord refused (%ld %s: %s%s) and cannot be parked (%s): "
				 "kept in the spool and retried",
				 why.code, why.reason, why.message, cause, strerror(-pr));
			return ret;
		}
		p->stats.records_parked++;
		log_with(LOG_WARN,
			 LOG_KV("ns", ns, "auditrecord", name, "cause",
				why.ncauses ? why.causes[0].reason : ""),
			 "AuditRecord refused (%ld %s: %s%s): parked beside the spool, tried "
			 "again every %d s; %s",
			 why.code, why.reason, why.message, cause, PUBLISH_PARKED_RETRY_MS / 1000,
			 publish_why_hint(&why));
		publish_parked_event(p, rec, &why);
		return 0;
	}
	if (publish_refused_for_good(ret, &resp) &&
	    (ret == -EINVAL || ret == -ENOENT ||
	     (ret == -EACCES && strstr(resp.message, "because it is being terminated")))) {
		/* Refused for good (its namespace is gone, or being deleted:
		 * records hold such a namespace until they expire, and nothing
		 * new goes into it meanwhile): retrying cannot help, and
		 * holding the spool would stop every other record. */
		log_with(LOG_ERROR, LOG_KV("ns", ns, "auditrecord", name),
			 "AuditRecord refused, dropped: %s", resp.message);
		return 0;
	}
	if (ret < 0) {
		log_with(LOG_WARN, LOG_KV("ns", ns, "auditrecord", name),
			 "cannot create AuditRecord: %s", resp.message);
		return ret;
	}
	p->stats.records++;
	if (p->on_record)
		p->on_record(rec, p->on_record_arg);
	if (!may_park)
		return 0; /* a parked record: its latency says nothing of now */
	if ((since = publish_since_s(first)) >= 0) {
		p->stats.last_latency_s = since;
		metrics_observe(p->m_record_latency, since);
	}
	return 0;
}

static int publish_record(struct publisher *p, cJSON *rec)
{
	int ret;

	p->record_waits = true;
	ret = publish_record_in(p, rec, true);
	p->record_waits = false;
	return ret;
}

/* parked_fn: a parked record tried again; one kept past its retention (as
 * long as the API server would have kept it) goes for good, said out loud. */
static int publish_parked_one(cJSON *rec, void *arg)
{
	struct publisher *p = arg;
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(rec, "metadata");
	char until[RECORD_TIME_LEN];
	struct timespec t, now;
	int ret;

	clock_gettime(CLOCK_REALTIME, &now);
	if (record_kept_until(cJSON_GetObjectItemCaseSensitive(rec, "spec"), until) == 0 &&
	    timefmt_parse(until, &t) == 0 && t.tv_sec < now.tv_sec) {
		log_with(LOG_ERROR,
			 LOG_KV("ns", publish_str(md, "namespace") ?: "?", "auditrecord",
				publish_str(md, "name") ?: "?"),
			 "a parked AuditRecord was refused until past its retention (%s): "
			 "removed from the node",
			 until);
		p->stats.parked_expired++;
		return 0;
	}
	ret = publish_record_in(p, rec, false);
	if (ret == 0)
		p->stats.parked_published++;
	/* No answer (the API server away, or slow): the node backs off, and
	 * the other parked records wait with the spool's, instead of each
	 * taking the request's whole timeout. */
	if (ret < 0 && !p->last_code) {
		publish_failed(p);
		return 1;
	}
	return ret;
}

/* Whether the pod may have one more Event now (its ratePerMinute). */
static bool publish_allow(struct publisher *p, const char *key, long rate,
			  struct publish_limit **out)
{
	struct publish_limit *l = hmap_get(&p->limits, key);
	long now = clock_now_ms();

	if (!l) {
		if (!(l = calloc(1, sizeof(*l))) || hmap_put(&p->limits, key, l, NULL) < 0) {
			free(l);
			return true;
		}
		tokens_init(&l->tokens, (double)rate / 60.0, (double)rate, now);
	}
	tokens_set_rate(&l->tokens, (double)rate / 60.0, (double)rate);
	*out = l;
	return tokens_take(&l->tokens, now);
}

/* Who an attribution names, for a person reading Events: "alice", "alice
 * or bob (ambiguous)", "(unattributed)"; "" for the container's own
 * processes (or no attribution). */
static void publish_who(const cJSON *attr, char *buf, size_t cap)
{
	const char *status = publish_str(attr, "status");
	const cJSON *c;
	size_t used = 0;

	buf[0] = '\0';
	if (!status)
		return;
	if (!strcmp(status, "Matched")) {
		snprintf(buf, cap, "%.256s",
			 publish_str(cJSON_GetObjectItemCaseSensitive(attr, "user"), "username") ?:
				 "?");
	} else if (!strcmp(status, "Ambiguous")) {
		cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(attr, "candidates")) {
			int n = snprintf(buf + used, cap - used, "%s%.128s", used ? " or " : "",
					 publish_str(c, "username") ?: "?");

			if (n < 0 || (size_t)n >= cap - used)
				break;
			used += (size_t)n;
		}
		snprintf(buf + used, cap - used, " (ambiguous)");
	} else if (!strcmp(status, "Unattributed")) {
		snprintf(buf, cap, "(unattributed)");
	}
	/* Escaped on its own: a name that must be would otherwise make the
	 * Event escape the whole note, the entry's text a second time. */
	if (escape_needed(buf, strlen(buf))) {
		char tmp[600];

		escape_text(tmp, cap < sizeof(tmp) ? cap : sizeof(tmp), buf, strlen(buf));
		snprintf(buf, cap, "%s", tmp);
	}
}

/*
 * Takes the answers of the window's Events (publish_event_queue) in the
 * stream's order, as publish_event would have one at a time: each created,
 * already there, refused or skipped. With all, until the window is empty;
 * else at least one, and then those answered already. Returns how many,
 * or -EAGAIN when one was not delivered and is tried again later
 * (publish_event_failed): the stream goes back to it and the window is
 * emptied; those after it go out again then (the ones created meet
 * AlreadyExists, counted as replays). Each wait is bounded by the
 * client's request timeout.
 */
static int publish_events_take(struct publisher *p, enum publish_take mode)
{
	int taken = 0, h, r;
	double since;

	while ((h = events_batch_head(p->ev)) >= 0) {
		const struct publish_queued *q = &p->queued[h];
		struct event_regarding reg = { "v1", "Pod", q->ns, q->pod, NULL };

		if ((r = events_batch_result(p->ev, (size_t)h)) == -EINPROGRESS) {
			if (mode == PUBLISH_TAKE_READY || (taken && mode == PUBLISH_TAKE_SOME))
				break;
			events_batch_wait(p->ev, PUBLISH_EVENT_WAIT_MS);
			continue;
		}
		if (r < 0 && publish_event_failed(p, &reg, q->reason, true, q->pos) < 0) {
			spool_event_rewind(p->s, q->pos);
			events_batch_clear(p->ev);
			spool_event_release(p->s);
			return -EAGAIN;
		}
		p->stats.events += r == 0;
		p->stats.events_replayed += r == 1;
		if (r == 0 && (since = publish_since_s(q->at)) >= 0)
			metrics_observe(p->m_event_latency, since);
		p->event_failed_pos = 0;
		events_batch_pop(p->ev);
		taken++;
	}
	/* The spool keeps what is still on its way. */
	if ((h = events_batch_head(p->ev)) >= 0)
		spool_event_hold(p->s, p->queued[h].pos);
	else
		spool_event_release(p->s);
	return taken;
}

/* Takes every answer of the window (publish_events_take): 0, or -EAGAIN. */
static int publish_events_flush(struct publisher *p)
{
	int ret = publish_events_take(p, PUBLISH_TAKE_ALL);

	return ret < 0 ? ret : 0;
}

/* Starts the Event of the stream at pos in the window, beside the ones
 * before it (publish_events_take takes the answers): 1, or 0 when it
 * could not be (it is then sent alone). */
static int publish_event_queue(struct publisher *p, uint64_t pos, const char *at, const char *name,
			       const struct event_regarding *reg, const char *type,
			       const char *reason, const char *action, const char *note,
			       const cJSON *annotations)
{
	struct publish_queued *q;
	int i;

	if ((i = events_batch_add(p->ev, name, reg, type, reason, action, note, annotations)) < 0)
		return 0;
	if (events_batch_size(p->ev) == 1)
		spool_event_hold(p->s, pos);
	q = &p->queued[i];
	q->pos = pos;
	q->reason = reason; /* a literal */
	snprintf(q->ns, sizeof(q->ns), "%s", reg->ns);
	snprintf(q->pod, sizeof(q->pod), "%s", reg->name);
	snprintf(q->at, sizeof(q->at), "%s", at ? at : "");
	return 1;
}

/* The SessionOpened Event of a decided attribution: who opened what in
 * which container. 0 done, <0 retry later. */
static int publish_session_opened(struct publisher *p, const cJSON *item, uint64_t pos)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
	const cJSON *attr = cJSON_GetObjectItemCaseSensitive(item, "attr");
	const cJSON *root = cJSON_GetObjectItemCaseSensitive(attr, "root");
	const cJSON *evopt = cJSON_GetObjectItemCaseSensitive(id, "events");
	const char *cid = publish_str(item, "cid"), *status = publish_str(attr, "status");
	const char *method = publish_str(attr, "method"), *reason = publish_str(attr, "reason");
	struct event_regarding reg = { "v1", "Pod", publish_str(id, "ns"), publish_str(id, "pod"),
				       publish_str(id, "podUID") };
	char name[340], label[20], who[600], what[600], note[1024];
	const char *how = "";
	const cJSON *a;
	size_t used = 0;
	int ret;

	if (!reg.ns || !reg.name || !cid || !status || !strcmp(status, "Workload") ||
	    !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(evopt, "enabled")))
		return 0;
	what[0] = '\0';
	cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(root, "argv")) {
		int n = snprintf(what + used, sizeof(what) - used, "%s%s", used ? " " : "",
				 cJSON_GetStringValue(a) ?: "");

		if (n < 0 || (size_t)n >= sizeof(what) - used)
			break;
		used += (size_t)n;
	}
	publish_who(attr, who, sizeof(who));
	/* "alice opened `bash` (tty) in container shell (EphemeralContainer,
	 * session 3db8...)", or with the reason when no one is sure. Without
	 * a terminal, fed through a pipe (kubectl exec -i), a shell runs what
	 * it reads unseen by readline: its lines are recorded from the pipe
	 * (source stdin) while terminal capture is on; with it off its
	 * builtins leave no entry, only the programs it runs do. The Event
	 * says which. */
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "tty")))
		how = " (tty)";
	else if (!strcmp(publish_str(root, "stdin") ?: "", "pipe"))
		how = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stdinRecorded")) ?
			      " (stdin a pipe: recorded as read)" :
			      " (stdin a pipe: what it reads is not recorded)";
	snprintf(note, sizeof(note), "%s opened %s%s%s%s in container %s", who, used ? "`" : "",
		 used ? what : "a session", used ? "`" : "", how,
		 publish_str(id, "container") ?: "?");
	used = strlen(note);
	if (!strcmp(status, "Matched"))
		snprintf(note + used, sizeof(note) - used, " (%s, session %s)",
			 method ? method : "?", publish_str(attr, "sessionID") ?: "?");
	else if (reason)
		snprintf(note + used, sizeof(note) - used, ": %s", reason);
	record_container_label(cid, label);
	/* The spool's epoch: a wiped spool's positions start again. */
	snprintf(name, sizeof(name), "%.200s.sa%.12s%.8s%012llx", reg.name, label,
		 spool_epoch(p->s), (unsigned long long)pos);
	/* The Events before it go first. */
	if ((ret = publish_events_flush(p)) < 0)
		return ret;
	ret = events_emit_named(p->ev, name, &reg, strcmp(status, "Matched") ? "Warning" : "Normal",
				"SessionOpened", "Opened", note, NULL);
	if (ret < 0)
		return publish_event_failed(p, &reg, "SessionOpened", true, pos);
	p->stats.events += ret == 0;
	p->stats.events_replayed += ret == 1;
	return 0;
}

static const char *publish_base(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* Whether argv[0] names the executed file: a bare name is what the shell
 * looked up on PATH, the file's last component; one with a slash is a
 * path, and must be the file's own (`exec -a /usr/bin/ls /tmp/ls` shares
 * the last component). */
static bool publish_names_file(const char *argv0, const char *file)
{
	return !strcmp(argv0, strchr(argv0, '/') ? file : publish_base(file));
}

/*
 * The note of a ProgramExecuted Event: the command line, with the executed
 * file after argv[0] when argv[0] does not name it (publish_names_file), since argv[0]
 * is the caller's choice (`exec -a ls python3` runs python3 as "ls"):
 * "ls (/usr/bin/python3) -c ...". A file without a link (a memfd, a
 * deleted file) is always shown, with its own name:
 * "x (/dev/fd/3: memfd:x (deleted)) ...". A 32-bit program's begins with
 * PUBLISH_IA32. The entry's strings are all as typed or all escaped, so
 * they compare alike. Caller frees.
 */
static char *publish_exec_note(const cJSON *e, const char *text)
{
	const char *pre =
		cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "ia32")) ? PUBLISH_IA32 : "";
	const char *file = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "filename"));
	const char *gone = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "unlinked"));
	const char *argv0 = cJSON_GetStringValue(
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "argv"), 0));
	size_t n, cap;
	char *note;

	if (!file)
		file = "";
	if (!gone && (!*file || (argv0 && publish_names_file(argv0, file)))) {
		if (asprintf(&note, "%s%s", pre, text) < 0)
			return NULL;
		return note;
	}
	n = argv0 && !strncmp(text, argv0, strlen(argv0)) ? strlen(argv0) : 0;
	cap = strlen(pre) + strlen(text) + strlen(file) + (gone ? strlen(gone) + 12 : 0) + 4;
	if (!(note = malloc(cap)))
		return NULL;
	snprintf(note, cap, "%s%.*s%s(%s%s%s%s)%s", pre, (int)n, text, n ? " " : "", file,
		 gone ? ": " : "", gone ? gone : "", gone ? " (deleted)" : "", text + n);
	return note;
}

bool publish_event_wanted(const cJSON *id, const cJSON *entry)
{
	const cJSON *evopt = cJSON_GetObjectItemCaseSensitive(id, "events");
	const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(entry, "kind"));

	if (!kind)
		return false;
	/* Whatever the policy said of Events (publish_event). */
	if (!strcmp(kind, "audit_stopped"))
		return true;
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(evopt, "enabled")))
		return false;
	/* A 32-bit program is one whatever execEvents says: rare, and it
	 * moves the node's terminal capture (see capture.h). */
	return !strcmp(kind, "line") ||
	       (!strcmp(kind, "exec") &&
		(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(evopt, "execEvents")) ||
		 cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(entry, "ia32"))));
}

/* One entry's Event, if its target wants one; 0 done, <0 retry later. */
static int publish_event(struct publisher *p, const cJSON *item, uint64_t pos)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "id");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(item, "e");
	const cJSON *evopt = cJSON_GetObjectItemCaseSensitive(id, "events");
	const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "kind"));
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "text"));
	const char *cid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(item, "cid"));
	struct event_regarding reg = {
		"v1", "Pod", cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(id, "ns")),
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(id, "pod")),
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(id, "podUID"))
	};
	long rate = (long)cJSON_GetNumberValue(
		cJSON_GetObjectItemCaseSensitive(evopt, "ratePerMinute"));
	struct publish_limit *lim = NULL;
	char key[512], name[340], label[20], note[256], who[600], *msg = NULL;
	cJSON *annotations = NULL;
	char *exec_note;
	bool line;
	int ret;

	if (publish_str(item, "t") && !strcmp(publish_str(item, "t"), "a"))
		return p->beside ? PUBLISH_LATER : publish_session_opened(p, item, pos);
	if (!kind || !text || !reg.ns || !reg.name || !cid)
		return 0;
	if (!publish_event_wanted(id, e))
		return 0;
	record_container_label(cid, label);
	/* The spool's epoch: a wiped spool's positions start again. */
	snprintf(name, sizeof(name), "%.200s.sa%.12s%.8s%012llx", reg.name, label,
		 spool_epoch(p->s), (unsigned long long)pos);
	if (!strcmp(kind, "audit_stopped")) {
		/* Whatever the policy said of Events, and past any rate limit:
		 * the pod's owner and its auditors both see auditing end. */
		if (p->beside)
			return PUBLISH_LATER;
		if ((ret = publish_events_flush(p)) < 0)
			return ret;
		ret = events_emit_named(p->ev, name, &reg, "Warning", "AuditStopped", "Untargeted",
					text, NULL);
		if (ret < 0)
			return publish_event_failed(p, &reg, "AuditStopped", true, pos);
		p->stats.events += ret == 0;
		p->stats.events_replayed += ret == 1;
		return 0;
	}
	line = !strcmp(kind, "line");
	snprintf(key, sizeof(key), "%s/%s", reg.ns, reg.name);
	/* What was suppressed is said first, alone. */
	lim = hmap_get(&p->limits, key);
	if (p->beside && lim && lim->suppressed)
		return PUBLISH_LATER;
	if (!publish_allow(p, key, rate > 0 ? rate : 60, &lim)) {
		lim->suppressed++;
		p->stats.events_suppressed++;
		return 0;
	}
	if (lim && lim->suppressed) {
		snprintf(note, sizeof(note),
			 "%llu command lines were not shown as Events (at most %ld per minute); "
			 "the AuditRecords hold them all",
			 (unsigned long long)lim->suppressed, rate);
		if ((ret = publish_events_flush(p)) < 0)
			return ret;
		ret = events_emit(p->ev, &reg, "Normal", "ShellCommandsSuppressed", "RateLimited",
				  note);
		/* Said again with the next Event when not delivered (or
		 * limited); not when refused. */
		if (ret >= 0 || events_last_failure(p->ev) == EVENTS_REFUSED)
			lim->suppressed = 0;
		if (ret < 0)
			publish_event_failed(p, &reg, "ShellCommandsSuppressed", false, 0);
	}
	/* An escaped entry's note is its escaped text, shown as it is (an
	 * escaped and a typed line can read alike: the annotation tells). */
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "escaped"))) {
		annotations = cJSON_CreateObject();
		cJSON_AddStringToObject(annotations, "shellaudit.io/escaped", "true");
	}
	exec_note = line ? NULL : publish_exec_note(e, text);
	/* The message names who typed it: "alice: cd /var/log". */
	publish_who(cJSON_GetObjectItemCaseSensitive(item, "attr"), who, sizeof(who));
	if (who[0] && asprintf(&msg, "%s: %s", who, exec_note ? exec_note : text) < 0)
		msg = NULL;
	/* The name follows the container and the entry's place in the spool,
	 * so a replay of the spool meets AlreadyExists. It goes out with the
	 * next ones (publish_step). */
	ret = publish_event_queue(
		p, pos, publish_str(e, "time"), name, &reg,
		!line && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "ia32")) ? "Warning" :
										     "Normal",
		line ? "ShellCommand" : "ProgramExecuted", line ? "Typed" : "Executed",
		msg	  ? msg :
		exec_note ? exec_note :
			    text,
		annotations);
	if (ret == 1 || p->beside) {
		free(msg);
		free(exec_note);
		cJSON_Delete(annotations);
		return ret == 1 ? PUBLISH_QUEUED : PUBLISH_LATER;
	}
	/* Alone, after the ones before it. */
	if ((ret = publish_events_flush(p)) < 0) {
		free(msg);
		free(exec_note);
		cJSON_Delete(annotations);
		return ret;
	}
	ret = events_emit_named(p->ev, name, &reg, "Normal",
				line ? "ShellCommand" : "ProgramExecuted",
				line ? "Typed" : "Executed",
				msg	  ? msg :
				exec_note ? exec_note :
					    text,
				annotations);
	free(msg);
	free(exec_note);
	cJSON_Delete(annotations);
	if (ret < 0)
		return publish_event_failed(p, &reg, line ? "ShellCommand" : "ProgramExecuted",
					    true, pos);
	if (ret == 1)
		p->stats.events_replayed++;
	else
		p->stats.events++;
	return 0;
}

/* --- where a chain goes on ------------------------------------------------------- */

struct publish_find {
	const char *cid, *node, *key_id, *public_key;
	long long seq;		/* -1: any */
	cJSON *found;		/* the record, ours */
	bool newest;		/* every record read: found is the newest */
};

/* Whether rec is one of this node's records of the chain: its spec says
 * so, its digest holds and, when the spool signs, its signature is ours. */
static bool publish_ours(const struct publish_find *f, const cJSON *rec)
{
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(rec, "spec");
	const cJSON *seq = cJSON_GetObjectItemCaseSensitive(spec, "sequence");
	const char *cid =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "containerID"));
	const char *node = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "node"));
	const char *stored = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "digest"));
	const char *why;
	char digest[DIGEST_STR_LEN];

	if (!cid || strcmp(cid, f->cid) || !node || strcmp(node, f->node) || !cJSON_IsNumber(seq) ||
	    seq->valuedouble < 0 || seq->valuedouble >= 9e15 ||
	    (f->seq >= 0 && (long long)seq->valuedouble != f->seq))
		return false;
	if (!stored || record_digest(spec, digest) < 0 || strcmp(digest, stored))
		return false;
	return !f->key_id || record_check_signature(spec, f->key_id, f->public_key, &why) == 0;
}

static long long publish_seq_of(const cJSON *rec)
{
	return (long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "spec"), "sequence"));
}

static int publish_find_cb(const cJSON *item, void *arg)
{
	struct publish_find *f = arg;

	if (!item) { /* the list is taken again from its start */
		cJSON_Delete(f->found);
		f->found = NULL;
		return 0;
	}
	if (!publish_ours(f, item) ||
	    (f->newest && f->found && publish_seq_of(item) <= publish_seq_of(f->found)))
		return 0;
	cJSON_Delete(f->found);
	if (!(f->found = cJSON_Duplicate(item, 1)))
		return -ENOMEM;
	return f->newest ? 0 : -ECANCELED; /* found: no more pages */
}

/* This node's record of the chain with sequence seq (-1: its oldest; with
 * f->newest, its newest, every record read), or NULL in *out. */
static int publish_find_record(struct publisher *p, struct publish_find *f, const char *ns,
			       long long seq, cJSON **out)
{
	char path[768], cid[400], sel[64];
	struct kube_response resp = { 0 };
	size_t i, o = 0;
	int ret;

	*out = NULL;
	for (i = 0; f->cid[i] && o + 4 < sizeof(cid); i++) {
		unsigned char c = (unsigned char)f->cid[i];

		if (((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_')
			cid[o++] = (char)c;
		else
			o += (size_t)snprintf(cid + o, sizeof(cid) - o, "%%%02X", c);
	}
	cid[o] = '\0';
	sel[0] = '\0';
	if (seq >= 0)
		snprintf(sel, sizeof(sel), ",spec.sequence%%3D%lld", seq);
	snprintf(path, sizeof(path),
		 "/apis/shellaudit.io/v1alpha1/namespaces/%s/auditrecords?fieldSelector="
		 "spec.containerID%%3D%s%s",
		 ns, cid, sel);
	f->seq = seq;
	f->found = NULL;
	ret = kube_list(p->c, path, seq >= 0 || f->newest ? 20 : 1, publish_find_cb, f, NULL,
			&resp);
	kube_response_clear(&resp);
	if (ret == -ECANCELED || ret == 0) {
		*out = f->found;
		return 0;
	}
	cJSON_Delete(f->found);
	f->found = NULL;
	return ret;
}

/* The newest record of the chain this node signed, or NULL when the API
 * server holds none. From the hint (the head this node last reported),
 * doubling the step while records are there, then halving it: the records
 * after it are there in order (none was removed that soon). Without a
 * hint, or when its record is gone, every record of the chain is read: a
 * search from the oldest would stop at a hole (a record refused and then
 * lost with a wiped spool, one a tenant removed) and the chain would go
 * on below its newest, under sequences already taken. */
static int publish_chain_head(struct publisher *p, const char *cid, const cJSON *id, cJSON **head)
{
	const struct sign_key *key = spool_signing_key(p->s);
	struct publish_find f = {
		.cid = cid,
		.node = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(id, "node")),
		.key_id = key ? sign_key_id(key) : NULL,
		.public_key = key ? sign_key_public(key) : NULL,
		.seq = -1,
	};
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(id, "ns"));
	long long lo, hi, step = 1, mid;
	uint64_t hint;
	cJSON *rec = NULL, *r;
	int ret;

	*head = NULL;
	if (!ns || !f.node)
		return -EINVAL;
	if (p->hint && p->hint(cid, p->hint_arg, &hint) == 1 && hint < (1ull << 50) &&
	    (ret = publish_find_record(p, &f, ns, (long long)hint, &rec)) < 0)
		return ret;
	if (!rec) {
		f.newest = true;
		ret = publish_find_record(p, &f, ns, -1, head);
		return ret < 0 ? ret : 0;
	}
	lo = publish_seq_of(rec);
	for (;; step *= 2) {
		if (step > (1ll << 40) || (ret = publish_find_record(p, &f, ns, lo + step, &r)) < 0)
			goto fail;
		if (!r)
			break;
		cJSON_Delete(rec);
		rec = r;
		lo += step;
	}
	for (hi = lo + step; hi - lo > 1;) {
		mid = lo + (hi - lo) / 2;
		if ((ret = publish_find_record(p, &f, ns, mid, &r)) < 0)
			goto fail;
		if (r) {
			cJSON_Delete(rec);
			rec = r;
			lo = mid;
		} else {
			hi = mid;
		}
	}
	*head = rec;
	return 0;
fail:
	cJSON_Delete(rec);
	return ret < 0 ? ret : -E2BIG;
}

/* The chain the spool waits for: 1 when it was looked up and the spool
 * goes on, 0 when none waits, <0 to retry later. */
static int publish_resume(struct publisher *p)
{
	struct spool_head h;
	const cJSON *wanted, *spec;
	const char *cid;
	char until[RECORD_TIME_LEN], c[400];
	cJSON *head = NULL, *id;
	int ret;

	if (spool_wanted_chain(p->s, &cid, &wanted) != 1)
		return 0;
	/* Copies: both are the spool's only until its next call, and the
	 * lookup's requests let the agent's capture thread append to it. */
	snprintf(c, sizeof(c), "%s", cid);
	if (!(id = cJSON_Duplicate(wanted, 1)))
		return -ENOMEM;
	ret = publish_chain_head(p, c, id, &head);
	cJSON_Delete(id);
	if (ret < 0) {
		log_with(LOG_WARN, LOG_KV("container", c),
			 "cannot look up where the container's chain of records ends: %s",
			 strerror(-ret));
		return ret;
	}
	spec = cJSON_GetObjectItemCaseSensitive(head, "spec");
	h.seq = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(spec, "sequence"));
	h.digest = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec, "digest"));
	h.kept_until = record_kept_until(spec, until) == 0 ? until : NULL;
	ret = spool_seed_chain(p->s, c, head ? &h : NULL);
	if (ret < 0)
		log_with(LOG_ERROR, LOG_KV("container", c), "cannot checkpoint a chain's start: %s",
			 strerror(-ret));
	else if (head)
		log_with(LOG_INFO,
			 LOG_KV("container", c, "record",
				cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
					cJSON_GetObjectItemCaseSensitive(head, "metadata"),
					"name"))),
			 "the container's chain goes on after its newest record in the API server");
	cJSON_Delete(head);
	return ret < 0 ? ret : 1;
}

/*
 * kube_set_beside: while a record's request waits for its answer (tens of
 * milliseconds each, records of 100 entries, one after the other; hundreds
 * when the API server is short of CPU), the Events go on as publish_step
 * sends them: the answers already there are taken and the window refilled
 * from the spool, with what the capture thread appended meanwhile once its
 * sync is due (spool_sync_due: the next spool_tick is after the step);
 * nothing waits. An Event that takes more than queueing (a SessionOpened,
 * an AuditStopped, one after suppressed ones, one the window cannot take)
 * stays for the step.
 * Without this, Events stood still behind each record under a flood.
 */
static void publish_events_beside(void *arg)
{
	struct publisher *p = arg;
	cJSON *item;
	uint64_t pos;
	int ret;

	if (!p->record_waits || p->beside || publish_backoff_ms(p) > 0)
		return;
	p->beside = true;
	spool_sync_due(p->s);
	if (publish_events_take(p, PUBLISH_TAKE_READY) >= 0) {
		while (events_batch_size(p->ev) < EVENTS_BATCH_MAX &&
		       clock_now_ms() >= p->event_retry_at_ms &&
		       spool_next_event(p->s, &item, &pos) == 0) {
			ret = publish_event(p, item, pos);
			cJSON_Delete(item);
			if (ret < 0 || ret == PUBLISH_LATER)
				break;
			spool_event_done(p->s, pos);
			if (ret != PUBLISH_QUEUED)
				p->event_failed_pos = 0;
		}
	}
	p->beside = false;
}

/* Whether until_ms (0: none) is past. */
static bool publish_late(long until_ms)
{
	return until_ms && clock_now_ms() >= until_ms;
}

int publish_step(struct publisher *p, int budget, long until_ms)
{
	struct spool_pass pass;
	char timed_out[400] = ""; /* the chain of the pass's first timeout */
	cJSON *item;
	uint64_t pos;
	int calls = 0, evcalls = 0, records = 0, ret;
	bool late;

	/* Backing off: the window's answers are taken, nothing more goes. */
	if (publish_backoff_ms(p) > 0)
		return publish_events_take(p, PUBLISH_TAKE_ALL) > 0;
	if ((ret = publish_resume(p)) < 0) {
		publish_failed(p);
		return 1;
	}
	calls += ret;
	if (p->parked && parked_count(p->parked) && clock_now_ms() >= p->parked_retry_ms) {
		p->parked_retry_ms = clock_now_ms() + PUBLISH_PARKED_RETRY_MS;
		calls += parked_retry(p->parked, publish_parked_one, p, budget);
		if (publish_backoff_ms(p) > 0)
			return calls;
	}
	/* Each chain in its own order; one held or backing off keeps its
	 * records in the spool and holds up no other chain. */
	p->stats.held = false;
	p->pass_ms = clock_now_ms();
	spool_pass_begin(p->s, &pass);
	/* A record's request takes hundreds of milliseconds when the API
	 * server is short of CPU: past until_ms, no second one goes. */
	while (calls < budget && (!records || !publish_late(until_ms)) &&
	       spool_pass_next(p->s, &pass, publish_chain_waits, p, &item, &pos) == 0) {
		const char *c =
			publish_str(cJSON_GetObjectItemCaseSensitive(item, "spec"), "containerID");
		char cid[400];

		snprintf(cid, sizeof(cid), "%s", c ? c : "");
		ret = publish_record(p, item);
		cJSON_Delete(item);
		calls++;
		records++;
		/* The API server took the request and gave no answer in time:
		 * something slow for this record (its namespace's admission
		 * webhook, say): its chain backs off alone. A second in the
		 * pass says the API server itself is slow: the node backs off,
		 * as when no request gets through. */
		if (ret == -ETIMEDOUT && !p->last_code && p->last_sent) {
			publish_chain_failed(p, cid);
			if (!*timed_out) {
				snprintf(timed_out, sizeof(timed_out), "%s", cid);
				continue;
			}
			/* Both chains wait past the node's backoff: else
			 * the next pass met them first again (the oldest
			 * records), and every pass ended there. */
			publish_failed(p);
			publish_chain_after_node(p, timed_out);
			publish_chain_after_node(p, cid);
			return calls;
		}
		if (ret < 0 && !p->last_code) {
			publish_failed(p); /* no answer: none would get one */
			return calls;
		}
		/* Flow control (429, or 503 with Retry-After): the chain
		 * waits at least as asked. Not the node: its Events (a flow of
		 * their own, with their own retries) go on. */
		if (ret < 0) {
			publish_chain_failed(p, cid);
			if (p->last_code == 429 || (p->last_code == 503 && p->last_retry_after))
				publish_chain_wait(p, cid, p->last_retry_after * 1000L);
			continue;
		}
		spool_record_done(p->s, pos);
		hmap_remove(&p->chains, cid);
		backoff_reset(&p->backoff);
	}
	/* An Event not delivered waits for its next try (a time): the
	 * records above went on meanwhile, and never wait for an Event; nor
	 * do the Events wait for a backlog of records: they have a budget
	 * of their own. They go out as a window of EVENTS_BATCH_MAX, up to
	 * KUBE_MANY_MAX of them requests at once, refilled as the oldest are
	 * answered (each answer one call of the budget): the API server
	 * creates several times as many a second as when they come one by
	 * one, and a slow answer holds up the taking of the later ones, not
	 * their sending. The window stays open between steps (the
	 * spool holds its Events): the step returns more than 0 while it is. */
	while (evcalls < budget) {
		/* What came while the records' requests waited. */
		spool_sync_due(p->s);
		while (evcalls < budget && events_batch_size(p->ev) < EVENTS_BATCH_MAX &&
		       clock_now_ms() >= p->event_retry_at_ms &&
		       spool_next_event(p->s, &item, &pos) == 0) {
			ret = publish_event(p, item, pos);
			cJSON_Delete(item);
			if (ret < 0)
				return calls + evcalls + 1;
			spool_event_done(p->s, pos);
			if (ret != PUBLISH_QUEUED) {
				evcalls++;
				p->event_failed_pos = 0;
			}
		}
		if (!events_batch_size(p->ev))
			break;
		/* Past until_ms, only the answers already there. */
		late = publish_late(until_ms);
		if ((ret = publish_events_take(p, late ? PUBLISH_TAKE_READY : PUBLISH_TAKE_SOME)) <
		    0)
			return calls + evcalls + 1;
		evcalls += ret;
		if (late)
			break;
	}
	return calls + evcalls + (events_batch_size(p->ev) > 0);
}
