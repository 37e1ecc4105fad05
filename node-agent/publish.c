// SPDX-License-Identifier: Apache-2.0
/* The publisher, owned by the agent's main loop. */
#include "publish.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "hmap.h"
#include "log.h"
#include "ratelimit.h"
#include "record.h"
#include "timefmt.h"

#define PUBLISH_BACKOFF_MIN_MS 200
#define PUBLISH_BACKOFF_MAX_MS 10000

struct publish_limit {
	struct tokens tokens;	/* ratePerMinute, burst of one minute's */
	uint64_t suppressed;	/* not yet reported in a summary Event */
};

struct publisher {
	struct kube_client *c;
	struct events *ev;
	struct spool *s;
	struct hmap limits;	/* "ns/pod" -> struct publish_limit */
	long retry_at_ms;
	struct backoff backoff;
	struct publish_stats stats;
	publish_record_fn on_record;
	void *on_record_arg;
};

int publish_new(struct kube_client *c, struct events *ev, struct spool *s, struct publisher **out)
{
	struct publisher *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->c = c;
	p->ev = ev;
	p->s = s;
	hmap_init_free(&p->limits, free);
	backoff_init(&p->backoff, PUBLISH_BACKOFF_MIN_MS, PUBLISH_BACKOFF_MAX_MS);
	*out = p;
	return 0;
}

void publish_free(struct publisher *p)
{
	if (!p)
		return;
	hmap_clear(&p->limits);
	free(p);
}

void publish_on_record(struct publisher *p, publish_record_fn fn, void *arg)
{
	p->on_record = fn;
	p->on_record_arg = arg;
}

void publish_get_stats(const struct publisher *p, struct publish_stats *out)
{
	*out = p->stats;
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

/* One record; 0 accepted or already there, <0 to retry later. */
static int publish_record(struct publisher *p, cJSON *rec)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(rec, "metadata");
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	const cJSON *entries = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(rec, "spec"), "entries");
	const char *first = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(entries, 0), "time"));
	struct kube_response resp;
	struct timespec t, now;
	char path[512], other[320];
	int ret, tries;

	snprintf(path, sizeof(path), "/apis/shellaudit.io/v1alpha1/namespaces/%s/auditrecords", ns);
	for (tries = 0;; tries++) {
		ret = kube_create(p->c, path, rec, NULL, &resp);
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
	if (ret == -EINVAL || ret == -ENOENT ||
	    (ret == -EACCES && strstr(resp.message, "because it is being terminated"))) {
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
	if (first && timefmt_parse(first, &t) == 0) {
		clock_gettime(CLOCK_REALTIME, &now);
		p->stats.last_latency_s =
			(double)(now.tv_sec - t.tv_sec) + (now.tv_nsec - t.tv_nsec) / 1e9;
	}
	return 0;
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
	char key[512], name[320], label[20], note[256];
	bool line;
	int ret;

	if (!kind || !text || !reg.ns || !reg.name || !cid)
		return 0;
	record_container_label(cid, label);
	snprintf(name, sizeof(name), "%.200s.sa%.12s%012llx", reg.name, label,
		 (unsigned long long)pos);
	if (!strcmp(kind, "audit_stopped")) {
		/* Whatever the policy said of Events, and past any rate limit:
		 * the pod's owner and its auditors both see auditing end. */
		ret = events_emit_named(p->ev, name, &reg, "Warning", "AuditStopped", "Untargeted",
					text);
		p->stats.events += ret == 0;
		p->stats.events_replayed += ret == 1;
		return ret == -EINVAL || ret == -ENOENT || ret == -EACCES || ret > 0 ? 0 : ret;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(evopt, "enabled")))
		return 0;
	line = !strcmp(kind, "line");
	if (!line && !(!strcmp(kind, "exec") &&
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(evopt, "execEvents"))))
		return 0;
	snprintf(key, sizeof(key), "%s/%s", reg.ns, reg.name);
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
		if (events_emit(p->ev, &reg, "Normal", "ShellCommandsSuppressed", "RateLimited",
				note) >= 0)
			lim->suppressed = 0;
	}
	/* The name follows the container and the entry's place in the spool,
	 * so a replay of the spool meets AlreadyExists. */
	ret = events_emit_named(p->ev, name, &reg, "Normal",
				line ? "ShellCommand" : "ProgramExecuted",
				line ? "Typed" : "Executed", text);
	if (ret == 1)
		p->stats.events_replayed++;
	else if (ret == 0)
		p->stats.events++;
	else if (ret == -EINVAL || ret == -ENOENT || ret == -EACCES)
		return 0; /* refused for good (a namespace being deleted, a policy):
			   * the AuditRecord still holds it */
	return ret < 0 ? ret : 0;
}

int publish_step(struct publisher *p, int budget)
{
	cJSON *item;
	uint64_t pos;
	int calls = 0, ret;

	if (publish_backoff_ms(p) > 0)
		return 0;
	while (calls < budget && spool_next_record(p->s, &item, &pos) == 0) {
		ret = publish_record(p, item);
		cJSON_Delete(item);
		calls++;
		if (ret < 0) {
			publish_failed(p);
			return calls;
		}
		spool_record_done(p->s, pos);
		backoff_reset(&p->backoff);
	}
	while (calls < budget && spool_next_event(p->s, &item, &pos) == 0) {
		ret = publish_event(p, item, pos);
		cJSON_Delete(item);
		calls++;
		if (ret < 0) {
			publish_failed(p);
			return calls;
		}
		spool_event_done(p->s, pos);
		backoff_reset(&p->backoff);
	}
	return calls;
}
