// SPDX-License-Identifier: Apache-2.0
/*
 * Drives node-agent's spool and publisher against a real kube-apiserver,
 * for test_spool.sh:
 *   spool_publish write DIR FROM TO [CRASH_AT]   entries FROM..TO-1, then drain;
 *                                                 SIGKILL itself after CRASH_AT
 *   spool_publish verify N DIR                   every entry once, chain intact,
 *                                                 every record signed by DIR.key
 *   spool_publish collide DIR                    a record whose name another
 *                                                 record took first is published
 *                                                 under its longer name, not lost
 *   spool_publish full DIR                       a full spool: each chain that
 *                                                 lost entries gets a gap entry
 *                                                 with its own count
 *   spool_publish events DIR                     Events by client-go's rule: with
 *                                                 no answer they wait (tried again)
 *                                                 and the records go on, then are
 *                                                 skipped; answered 404 they are
 *                                                 refused at once, not retried
 *   spool_publish corrupt DIR                    a corrupt entry in a middle
 *                                                 segment is a gap entry in its
 *                                                 session, a corrupt record is
 *                                                 formed again; the chain verifies
 * Entries alternate between two sessions of one container, so batches of
 * both are open when the crash comes. Records are signed with the key in
 * DIR.key, made on the first write. The spool resumes chains as the
 * agent's does: a spool that lost its files goes on after the API
 * server's newest record.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../arg.h"
#include "events.h"
#include "hmap.h"
#include "jsontext.h"
#include "kube.h"
#include "kubeconfig.h"
#include "log.h"
#include "publish.h"
#include "record.h"
#include "sign.h"
#include "sink_spool.h"
#include "spool.h"
#include "timefmt.h"
#include "verify.h"

#define NS "spool-test"
#define CID "containerd://5p001e57"

static cJSON *identity(void)
{
	return cJSON_Parse("{\"ns\":\"" NS
			   "\",\"pod\":\"web\",\"podUID\":\"uid-web\",\"container\":\"main\","
			   "\"containerID\":\"" CID "\",\"node\":\"node-1\",\"policies\":[\"p\"],"
			   "\"retention\":\"1h\",\"events\":{\"enabled\":true,\"execEvents\":false,"
			   "\"ratePerMinute\":6000}}");
}

static int drain(struct spool *s, struct publisher *p, int timeout_s)
{
	time_t end = time(NULL) + timeout_s;
	struct timespec step = { 0, 50 * 1000000L };

	while (time(NULL) < end) {
		spool_tick(s);
		publish_step(p, 200, 0);
		if (spool_idle(s))
			return 0;
		nanosleep(&step, NULL);
	}
	return -ETIMEDOUT;
}

/* The key of the spool in dir: DIR.key, made once. */
static struct sign_key *load_key(const char *dir)
{
	struct sign_key *k = NULL;
	char path[512], err[256];

	snprintf(path, sizeof(path), "%s.key", dir);
	if (sign_key_load_or_create(path, &k, NULL, err, sizeof(err)) < 0)
		fprintf(stderr, "%s: %s\n", path, err);
	return k;
}

static int write_phase(struct kube_client *c, const char *dir, long from, long to, long crash_at)
{
	struct sign_key *key = load_key(dir);
	struct spool_opts so = { .dir = dir, .batch_entries = 7, .batch_age_ms = 300,
				 .checkpoint_ms = 100, .key = key, .resume = true };
	struct events_opts eo = { .controller = "shellaudit.io/agent", .instance = "spool-test",
				  .qps = 1000, .burst = 1000 };
	struct spool *s;
	struct events *ev;
	struct publisher *p;
	cJSON *id = identity(), *sess[2], *e;
	char text[64], ts[40];
	struct timespec now;
	long i;
	int ret;

	sess[0] = cJSON_Parse("{\"id\":\"100\",\"pid\":100,\"start\":\"2026-11-25T00:00:00Z\"}");
	sess[1] = cJSON_Parse("{\"id\":\"200\",\"pid\":200,\"start\":\"2026-11-25T00:00:01Z\"}");
	if ((ret = spool_open(&so, &s)) < 0) {
		fprintf(stderr, "spool_open: %s\n", strerror(-ret));
		return 1;
	}
	events_new(c, &eo, &ev);
	publish_new(c, ev, s, &p);
	for (i = from; i < to; i++) {
		clock_gettime(CLOCK_REALTIME, &now);
		timefmt_micro(&now, ts, sizeof(ts));
		snprintf(text, sizeof(text), "cmd-%05ld", i);
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "time", ts);
		cJSON_AddStringToObject(e, "kind", "line");
		cJSON_AddStringToObject(e, "text", text);
		cJSON_AddNumberToObject(e, "pid", i % 2 ? 200 : 100);
		ret = spool_add(s, CID, i % 2 ? "200" : "100", id, sess[i % 2], e);
		cJSON_Delete(e);
		if (ret < 0) {
			fprintf(stderr, "spool_add %ld: %s\n", i, strerror(-ret));
			return 1;
		}
		if (i % 10 == 9) {
			spool_tick(s);
			publish_step(p, 5, 0);
		}
		if (i == crash_at)
			raise(SIGKILL); /* no cleanup, no flush: what kill -9 does */
	}
	spool_end_session(s, CID, "100");
	spool_end_session(s, CID, "200");
	ret = drain(s, p, 180);
	if (ret < 0)
		fprintf(stderr, "spool did not drain\n");
	{
		struct publish_stats ps;

		publish_get_stats(p, &ps);
		printf("records=%llu replayed=%llu collisions=%llu\n",
		       (unsigned long long)ps.records, (unsigned long long)ps.records_replayed,
		       (unsigned long long)ps.collisions);
	}
	publish_free(p);
	events_free(ev);
	spool_close(s);
	sign_key_free(key);
	cJSON_Delete(id);
	cJSON_Delete(sess[0]);
	cJSON_Delete(sess[1]);
	return ret < 0 ? 1 : 0;
}

struct collect {
	cJSON **recs;
	size_t n, cap;
};

static int collect_record(const cJSON *item, void *arg)
{
	struct collect *c = arg;

	if (!item) { /* the list starts over */
		while (c->n)
			cJSON_Delete(c->recs[--c->n]);
		return 0;
	}
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->recs = realloc(c->recs, c->cap * sizeof(*c->recs));
	}
	c->recs[c->n++] = cJSON_Duplicate(item, 1);
	return 0;
}

static int count_event(const cJSON *item, void *arg)
{
	struct hmap *m = arg;
	const char *reason = cJSON_GetStringValue(cJSON_GetObjectItem(item, "reason"));
	const char *note = cJSON_GetStringValue(cJSON_GetObjectItem(item, "note"));

	if (!item) /* the list starts over */
		hmap_clear(m);
	if (reason && note && !strcmp(reason, "ShellCommand"))
		hmap_put(m, note, (void *)((long)hmap_get(m, note) + 1), NULL);
	return 0;
}

static int verify_phase(struct kube_client *c, long n, const char *dir)
{
	struct sign_key *key = load_key(dir);
	long signed_ok = 0;
	const char *why;
	struct collect col = { 0 };
	struct verify_result res;
	struct hmap texts, events;
	char label[20], path[256], text[32];
	const cJSON *e;
	long i, once = 0, dup = 0, ev_once = 0;
	size_t r;
	int intact;

	record_container_label(CID, label);
	snprintf(path, sizeof(path),
		 "/apis/shellaudit.io/v1alpha1/namespaces/" NS
		 "/auditrecords?labelSelector=shellaudit.io%%2Fcontainer-id%%3D%s",
		 label);
	if (kube_list(c, path, 100, collect_record, &col, NULL, NULL) < 0) {
		printf("  FAIL list AuditRecords\n0 passed, 1 failed\n");
		return 1;
	}
	intact = verify_chain(col.recs, col.n, stdout, &res) == 0;
	for (r = 0; key && r < col.n; r++)
		signed_ok +=
			record_check_signature(cJSON_GetObjectItem(col.recs[r], "spec"),
					       sign_key_id(key), sign_key_public(key), &why) == 0;
	hmap_init(&texts);
	for (r = 0; r < col.n; r++)
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(cJSON_GetObjectItem(col.recs[r], "spec"),
							  "entries")) {
			const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(e, "text"));

			if (t)
				hmap_put(&texts, t, (void *)((long)hmap_get(&texts, t) + 1), NULL);
		}
	for (i = 0; i < n; i++) {
		long k;

		snprintf(text, sizeof(text), "cmd-%05ld", i);
		k = (long)hmap_get(&texts, text);
		once += k == 1;
		dup += k > 1;
	}
	hmap_init(&events);
	kube_list(c, "/apis/events.k8s.io/v1/namespaces/" NS "/events", 500, count_event, &events,
		  NULL, NULL);
	for (i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "cmd-%05ld", i);
		ev_once += (long)hmap_get(&events, text) == 1;
	}
	printf("  %s every entry is in the AuditRecords exactly once (%ld of %ld, %ld duplicated, "
	       "%zu records)\n",
	       once == n && texts.size == (size_t)n ? "ok  " : "FAIL", once, n, dup, col.n);
	printf("  %s the chain verifies\n", intact && res.first_sequence == 0 ? "ok  " : "FAIL");
	printf("  %s every entry has exactly one ShellCommand Event (%ld of %ld)\n",
	       ev_once == n ? "ok  " : "FAIL", ev_once, n);
	printf("  %s every record is signed by the spool's key, replays included (%ld of %zu)\n",
	       col.n && signed_ok == (long)col.n ? "ok  " : "FAIL", signed_ok, col.n);
	i = (once == n && texts.size == (size_t)n) + (intact && res.first_sequence == 0) +
	    (ev_once == n) + (col.n && signed_ok == (long)col.n);
	printf("%ld passed, %ld failed\n", i, 4 - i);
	sign_key_free(key);
	for (r = 0; r < col.n; r++)
		cJSON_Delete(col.recs[r]);
	free(col.recs);
	hmap_clear(&texts);
	hmap_clear(&events);
	return i == 4 ? 0 : 1;
}

static const char *text_of(const cJSON *rec)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(
		cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "spec"), "entries"),
				   0),
		"text"));
}

/* Another record takes the name of one of ours before we publish it (the
 * admission policy makes that impossible for other nodes; a lost spool or
 * a cluster admin may still): ours goes under its longer name, the other
 * stays as it is, and a replay finds ours again. */
static int collide_phase(struct kube_client *c, const char *dir)
{
	struct sign_key *key = load_key(dir);
	struct spool_opts so = { .dir = dir, .batch_entries = 1, .key = key };
	struct events_opts eo = { .controller = "shellaudit.io/agent", .instance = "spool-test" };
	cJSON *id = identity(), *e, *rec = NULL, *squat, *got = NULL, *ours = NULL;
	const char *digest;
	char name[320], longer[320], path[700], d[DIGEST_STR_LEN];
	struct publish_stats ps;
	struct publisher *p;
	struct events *ev;
	struct spool *s;
	uint64_t pos;
	int ok = 0, checks = 0, i;

	cJSON_ReplaceItemInObject(id, "containerID", cJSON_CreateString("containerd://c0111de"));
	if (spool_open(&so, &s) < 0)
		return 1;
	events_new(c, &eo, &ev);
	publish_new(c, ev, s, &p);
	e = cJSON_Parse(
		"{\"time\":\"2026-11-25T00:00:00Z\",\"kind\":\"line\",\"text\":\"collide-me\"}");
	spool_add(s, "containerd://c0111de", "", id, NULL, e);
	cJSON_Delete(e);
	spool_tick(s);
	if (spool_next_record(s, &rec, &pos) < 0)
		return 1;
	snprintf(name, sizeof(name), "%s",
		 cJSON_GetStringValue(
			 cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "metadata"), "name")));
	digest = cJSON_GetStringValue(
		cJSON_GetObjectItem(cJSON_GetObjectItem(rec, "spec"), "digest"));
	record_name_taken(name, digest, longer, sizeof(longer));
	/* the squatter: same name, other content */
	squat = cJSON_Duplicate(rec, 1);
	cJSON_ReplaceItemInObject(
		cJSON_GetArrayItem(
			cJSON_GetObjectItem(cJSON_GetObjectItem(squat, "spec"), "entries"), 0),
		"text", cJSON_CreateString("squatter"));
	record_digest(cJSON_GetObjectItem(squat, "spec"), d);
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(squat, "spec"), "digest",
				  cJSON_CreateString(d));
	kube_create(c, "/apis/shellaudit.io/v1alpha1/namespaces/" NS "/auditrecords", squat, NULL,
		    NULL);
	cJSON_Delete(squat);
	for (i = 0; i < 100 && !spool_idle(s); i++) {
		spool_tick(s);
		publish_step(p, 10, 0);
	}
	publish_get_stats(p, &ps);
	snprintf(path, sizeof(path),
		 "/apis/shellaudit.io/v1alpha1/namespaces/" NS "/auditrecords/%s", name);
	kube_get(c, path, &got, NULL);
	snprintf(path, sizeof(path),
		 "/apis/shellaudit.io/v1alpha1/namespaces/" NS "/auditrecords/%s", longer);
	kube_get(c, path, &ours, NULL);
	checks++;
	ok += spool_idle(s) && ps.collisions == 1 && ps.records == 1;
	printf("  %s a record whose name was taken is published, not dropped (%llu collisions, "
	       "%llu created)\n",
	       spool_idle(s) && ps.collisions == 1 && ps.records == 1 ? "ok  " : "FAIL",
	       (unsigned long long)ps.collisions, (unsigned long long)ps.records);
	checks++;
	ok += ours && text_of(ours) && !strcmp(text_of(ours), "collide-me");
	printf("  %s under its longer name %s\n",
	       ours && text_of(ours) && !strcmp(text_of(ours), "collide-me") ? "ok  " : "FAIL",
	       longer);
	checks++;
	ok += got && text_of(got) && !strcmp(text_of(got), "squatter");
	printf("  %s the record that took the name is left as it is\n",
	       got && text_of(got) && !strcmp(text_of(got), "squatter") ? "ok  " : "FAIL");
	/* A replay of ours (another spool forming the same record) meets the
	 * squatter, then its own record under the longer name: done, once. */
	publish_free(p);
	spool_close(s);
	checks++;
	{
		char replay_dir[512];
		struct spool_opts so2 = { .dir = replay_dir, .batch_entries = 1, .key = key };
		struct spool *s2;

		snprintf(replay_dir, sizeof(replay_dir), "%s-replay", dir);
		if (spool_open(&so2, &s2) < 0)
			return 1;
		publish_new(c, ev, s2, &p);
		e = cJSON_Parse("{\"time\":\"2026-11-25T00:00:00Z\",\"kind\":\"line\","
				"\"text\":\"collide-me\"}");
		spool_add(s2, "containerd://c0111de", "", id, NULL, e);
		cJSON_Delete(e);
		for (i = 0; i < 100 && !spool_idle(s2); i++) {
			spool_tick(s2);
			publish_step(p, 10, 0);
		}
		publish_get_stats(p, &ps);
		ok += spool_idle(s2) && ps.records == 0 && ps.records_replayed == 1;
		printf("  %s a replay of it finds it under the longer name (%llu created, %llu "
		       "replayed)\n",
		       spool_idle(s2) && ps.records == 0 && ps.records_replayed == 1 ? "ok  " :
										       "FAIL",
		       (unsigned long long)ps.records, (unsigned long long)ps.records_replayed);
		spool_close(s2);
	}
	printf("%d passed, %d failed\n", ok, checks - ok);
	publish_free(p);
	events_free(ev);
	cJSON_Delete(rec);
	cJSON_Delete(got);
	cJSON_Delete(ours);
	cJSON_Delete(id);
	sign_key_free(key);
	return ok == checks ? 0 : 1;
}


/* --- faults ---------------------------------------------------------------------- */

static int checks, passed;

static void check(bool ok, const char *what, const char *detail)
{
	checks++;
	passed += ok;
	printf("  %s %s%s%s\n", ok ? "ok  " : "FAIL", what, detail ? ": " : "",
	       detail ? detail : "");
}

static cJSON *pod_identity(const char *pod, const char *cid)
{
	cJSON *id = identity();

	cJSON_ReplaceItemInObject(id, "pod", cJSON_CreateString(pod));
	cJSON_ReplaceItemInObject(id, "podUID", cJSON_CreateString(pod));
	cJSON_ReplaceItemInObject(id, "containerID", cJSON_CreateString(cid));
	return id;
}

/* Every record of container cid in NS (by spec). */
static int list_chain(struct kube_client *c, const char *cid, struct collect *col)
{
	struct collect all = { 0 };
	size_t i;
	int ret = kube_list(c, "/apis/shellaudit.io/v1alpha1/namespaces/" NS "/auditrecords", 100,
			    collect_record, &all, NULL, NULL);

	for (i = 0; i < all.n; i++) {
		const char *id = cJSON_GetStringValue(cJSON_GetObjectItem(
			cJSON_GetObjectItem(all.recs[i], "spec"), "containerID"));

		if (id && !strcmp(id, cid))
			collect_record(all.recs[i], col);
		cJSON_Delete(all.recs[i]);
	}
	free(all.recs);
	return ret;
}

static void free_chain(struct collect *col)
{
	size_t i;

	for (i = 0; i < col->n; i++)
		cJSON_Delete(col->recs[i]);
	free(col->recs);
	memset(col, 0, sizeof(*col));
}

/* The counts of the chain's gap entries, added; *texts (a map the caller
 * clears) gets how many entries hold each text. */
static uint64_t chain_gaps(const struct collect *col, const char *session, struct hmap *texts)
{
	const cJSON *e;
	uint64_t n = 0;
	size_t r;

	for (r = 0; r < col->n; r++) {
		const cJSON *spec = cJSON_GetObjectItem(col->recs[r], "spec");
		const char *sid = cJSON_GetStringValue(
			cJSON_GetObjectItem(cJSON_GetObjectItem(spec, "session"), "id"));

		cJSON_ArrayForEach(e, cJSON_GetObjectItem(spec, "entries")) {
			const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(e, "kind"));
			const char *t = cJSON_GetStringValue(cJSON_GetObjectItem(e, "text"));

			if (kind && !strcmp(kind, "gap") &&
			    (!session || (sid && !strcmp(sid, session))))
				n += (uint64_t)cJSON_GetNumberValue(
					cJSON_GetObjectItem(e, "count"));
			else if (t && texts)
				hmap_put(texts, t, (void *)((long)hmap_get(texts, t) + 1), NULL);
		}
	}
	return n;
}

static bool chain_intact(struct collect *col)
{
	struct verify_result res;

	return col->n && verify_chain(col->recs, col->n, stdout, &res) == 0 &&
	       res.first_sequence == 0;
}

static struct sink_spool_target full_targets[2];

static const struct sink_spool_target *full_lookup(const char *container, void *arg)
{
	(void)arg;
	if (!strcmp(container, "containerd://a77ac4e2"))
		return &full_targets[0];
	return strcmp(container, "containerd://51c71e") ? NULL : &full_targets[1];
}

/* Publishes, with the sink's gaps, until the spool is idle. */
static int drain_sink(struct spool *s, struct publisher *p, struct sink *sink, int timeout_s)
{
	time_t end = time(NULL) + timeout_s;
	struct timespec step = { 0, 20 * 1000000L };
	struct sink_spool_stats st;

	while (time(NULL) < end) {
		sink_flush(sink);
		spool_tick(s);
		publish_step(p, 200, 0);
		sink_spool_get_stats(sink, &st);
		if (spool_idle(s) && !st.pending)
			return 0;
		nanosleep(&step, NULL);
	}
	return -ETIMEDOUT;
}

/* The security review's M1: the gap of a full spool went into the next
 * writer's chain; the victim's chain verified with its lines missing. */
static int full_phase(struct kube_client *c, const char *dir)
{
	struct sign_key *key = load_key(dir);
	struct spool_opts so = { .dir = dir,
				 .max_bytes = 64 << 10,
				 .batch_entries = 20,
				 .batch_age_ms = 200,
				 .checkpoint_ms = 50,
				 .key = key,
				 .resume = true };
	struct events_opts eo = { .controller = "shellaudit.io/agent", .instance = "spool-test",
				  .qps = 1000, .burst = 1000 };
	cJSON *ida = pod_identity("attacker", "containerd://a77ac4e2");
	char *ida_text = jsontext_print(ida, NULL);
	cJSON *idv = pod_identity("victim", "containerd://51c71e");
	struct sink_entry a = { .kind = SINK_LINE,
				.container = "containerd://a77ac4e2",
				.session = 300,
				.pid = 300,
				.tid = 300 };
	struct sink_entry v = { .kind = SINK_LINE,
				.container = "containerd://51c71e",
				.session = 400,
				.pid = 400,
				.tid = 400 };
	struct collect ca = { 0 }, cv = { 0 };
	struct sink_spool_stats st;
	struct hmap texts;
	struct publisher *p;
	struct events *ev;
	struct spool *s;
	struct sink *sink;
	uint64_t lost_a, lost_v, ts = 1;
	char text[64], detail[160];
	int i;

	/* The attacker's identity printed once, as the agent's targets have it
	 * (nodecfg); the victim's printed per entry: both publish alike. */
	full_targets[0] =
		(struct sink_spool_target){ ida, NULL, true, true, true, false, ida_text };
	full_targets[1] = (struct sink_spool_target){ idv, NULL, true, true, true, false, NULL };
	if (spool_open(&so, &s) < 0 || sink_spool_open(s, full_lookup, NULL, &sink) < 0)
		return 1;
	events_new(c, &eo, &ev);
	publish_new(c, ev, s, &p);
	v.text = text;
	for (i = 0; i < 3; i++) {
		v.ts = ts++;
		v.text_len = (size_t)snprintf(text, sizeof(text), "victim-before-%d", i);
		sink_write(sink, &v);
	}
	/* The attacker floods while nothing is published (an outage). */
	a.text = text;
	for (i = 0; i < 3000; i++) {
		a.ts = ts++;
		a.text_len = (size_t)snprintf(text, sizeof(text), "attacker-flood-%04d", i);
		sink_write(sink, &a);
	}
	/* The attacker took its share (SINK_SPOOL_SHARE_PCT), not the spool:
	 * the victim's next lines go in. */
	sink_spool_get_stats(sink, &st);
	lost_a = st.dropped_full;
	for (i = 0; i < 5; i++) {
		v.ts = ts++;
		v.text_len = (size_t)snprintf(text, sizeof(text), "victim-kept-%d", i);
		sink_write(sink, &v);
	}
	sink_spool_get_stats(sink, &st);
	snprintf(detail, sizeof(detail), "%llu of the attacker's, %llu of the victim's",
		 (unsigned long long)lost_a, (unsigned long long)(st.dropped_full - lost_a));
	check(lost_a > 0 && st.dropped_full == lost_a && st.pending == 1,
	      "a flood takes its share of the spool, the others' lines still go in", detail);
	/* Then the victim fills the rest, and loses too. */
	for (i = 0; i < 3000; i++) {
		v.ts = ts++;
		v.text_len = (size_t)snprintf(text, sizeof(text), "victim-lost-%04d", i);
		sink_write(sink, &v);
	}
	sink_spool_get_stats(sink, &st);
	lost_v = st.dropped_full - lost_a;
	snprintf(detail, sizeof(detail), "%llu of the attacker's, %llu of the victim's",
		 (unsigned long long)lost_a, (unsigned long long)lost_v);
	check(lost_v > 0 && st.pending == 2, "the full spool refused entries of both", detail);
	check(drain_sink(s, p, sink, 180) == 0, "publishing makes room and the gaps go in", NULL);
	for (i = 0; i < 2; i++) {
		v.ts = ts++;
		v.text_len = (size_t)snprintf(text, sizeof(text), "victim-after-%d", i);
		sink_write(sink, &v);
	}
	spool_end_session(s, "containerd://a77ac4e2", "300");
	spool_end_session(s, "containerd://51c71e", "400");
	drain_sink(s, p, sink, 180);
	list_chain(c, "containerd://51c71e", &cv);
	list_chain(c, "containerd://a77ac4e2", &ca);
	hmap_init(&texts);
	snprintf(detail, sizeof(detail), "%llu",
		 (unsigned long long)chain_gaps(&cv, "400", &texts));
	check(chain_gaps(&cv, "400", NULL) == lost_v,
	      "the victim's chain says how many of its entries were lost", detail);
	check(hmap_get(&texts, "victim-before-2") && hmap_get(&texts, "victim-kept-4") &&
		      hmap_get(&texts, "victim-after-1") && !hmap_get(&texts, "victim-lost-2999"),
	      "and holds what it kept", NULL);
	hmap_clear(&texts);
	snprintf(detail, sizeof(detail), "%llu of %llu",
		 (unsigned long long)chain_gaps(&ca, NULL, NULL), (unsigned long long)lost_a);
	check(chain_gaps(&ca, NULL, NULL) == lost_a,
	      "the attacker's chain says how many of its own", detail);
	check(chain_intact(&cv) && chain_intact(&ca), "both chains verify", NULL);
	free_chain(&ca);
	free_chain(&cv);
	sink_close(sink);
	publish_free(p);
	events_free(ev);
	spool_close(s);
	cJSON_Delete(ida);
	free(ida_text);
	cJSON_Delete(idv);
	sign_key_free(key);
	printf("%d passed, %d failed\n", passed, checks - passed);
	return passed == checks ? 0 : 1;
}

/* Flips one byte of the first file under dir/sub (in name order, from the
 * index-th) holding needle: the byte delta into it. */
static int flip_in(const char *dir, const char *sub, const char *needle, int delta, int *seg)
{
	char path[1024], cmd[1200], file[1024] = "";
	FILE *ls;
	int i = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	snprintf(cmd, sizeof(cmd), "grep -l -F -- '%s' '%s'/*.seg 2>/dev/null | sort | head -1",
		 needle, path);
	if (!(ls = popen(cmd, "r")) || !fgets(file, sizeof(file), ls)) {
		if (ls)
			pclose(ls);
		return -1;
	}
	pclose(ls);
	file[strcspn(file, "\n")] = '\0';
	snprintf(cmd, sizeof(cmd), "ls '%s' | sort", path);
	if ((ls = popen(cmd, "r"))) {
		char name[256];

		while (fgets(name, sizeof(name), ls)) {
			name[strcspn(name, "\n")] = '\0';
			if (strstr(file, name))
				*seg = i;
			i += strstr(name, ".seg") != NULL;
		}
		pclose(ls);
	}
	{
		FILE *f = fopen(file, "r+b");
		char *buf = malloc(1 << 20), *at;
		size_t n;

		if (!f || !buf) {
			free(buf);
			if (f)
				fclose(f);
			return -1;
		}
		n = fread(buf, 1, 1 << 20, f);
		at = memmem(buf, n, needle, strlen(needle));
		if (at) {
			at[delta] ^= 0x02;
			fseek(f, at - buf + delta, SEEK_SET);
			fputc(at[delta], f);
		}
		fclose(f);
		free(buf);
		return at ? 0 : -1;
	}
}

/* The security review's M7: one flipped byte in a middle segment cut the
 * valid entries after it and stopped the spool for good. */
static int corrupt_phase(struct kube_client *c, const char *dir)
{
	struct sign_key *key = load_key(dir);
	struct spool_opts so = { .dir = dir,
				 .segment_bytes = 16 << 10,
				 .batch_entries = 10,
				 .batch_age_ms = 200,
				 .checkpoint_ms = 50,
				 .key = key,
				 .resume = true };
	struct events_opts eo = { .controller = "shellaudit.io/agent", .instance = "spool-test",
				  .qps = 1000, .burst = 1000 };
	cJSON *id = pod_identity("corrupt", "containerd://c0bbe57"), *sess[2], *e;
	struct collect col = { 0 };
	struct hmap texts, events;
	struct publisher *p;
	struct events *ev;
	struct spool *s;
	struct spool_stats st;
	char text[64], detail[200];
	long i, once = 0, ev_once = 0;
	int seg = -1;

	sess[0] = cJSON_Parse("{\"id\":\"100\",\"pid\":100}");
	sess[1] = cJSON_Parse("{\"id\":\"200\",\"pid\":200}");
	if (spool_open(&so, &s) < 0)
		return 1;
	for (i = 0; i < 300; i++) {
		e = cJSON_CreateObject();
		snprintf(text, sizeof(text), "corrupt-%04ld", i);
		cJSON_AddStringToObject(e, "time", "2026-11-25T00:00:00.000001Z");
		cJSON_AddStringToObject(e, "kind", "line");
		cJSON_AddStringToObject(e, "text", text);
		spool_add(s, "containerd://c0bbe57", i % 2 ? "200" : "100", id, sess[i % 2], e);
		cJSON_Delete(e);
	}
	spool_close(s); /* the agent stops before its batcher read them; the disk rots */
	check(flip_in(dir, "entries", "corrupt-0050", 10, &seg) == 0 && seg > 0,
	      "a byte of an entry in a middle segment flipped", NULL);
	if (spool_open(&so, &s) < 0)
		return 1;
	spool_get_stats(s, &st);
	check(st.ej.torn_bytes == 0, "reopening cuts nothing", NULL);
	/* The chain's start from the API server (none: a new container), then
	 * the records are formed and journaled: flip one before it is
	 * published. */
	events_new(c, &eo, &ev);
	publish_new(c, ev, s, &p);
	spool_tick(s);
	publish_step(p, 1, 0);
	spool_tick(s);
	check(flip_in(dir, "records", "corrupt-0123", 10, &seg) == 0,
	      "a byte of a formed record flipped", NULL);
	for (i = 300; i < 310; i++) {
		e = cJSON_CreateObject();
		snprintf(text, sizeof(text), "corrupt-%04ld", i);
		cJSON_AddStringToObject(e, "time", "2026-11-25T00:00:01.000001Z");
		cJSON_AddStringToObject(e, "kind", "line");
		cJSON_AddStringToObject(e, "text", text);
		spool_add(s, "containerd://c0bbe57", i % 2 ? "200" : "100", id, sess[i % 2], e);
		cJSON_Delete(e);
	}
	spool_end_session(s, "containerd://c0bbe57", "100");
	spool_end_session(s, "containerd://c0bbe57", "200");
	check(drain(s, p, 180) == 0, "the spool goes on and drains", NULL);
	spool_get_stats(s, &st);
	snprintf(detail, sizeof(detail),
		 "corrupt %llu, gaps %llu, records formed again %llu, lost %llu",
		 (unsigned long long)st.corrupt, (unsigned long long)st.corrupt_gaps,
		 (unsigned long long)st.records_regenerated, (unsigned long long)st.records_lost);
	check(st.records_regenerated >= 1 && st.records_lost == 0,
	      "the corrupt record was formed again", detail);
	list_chain(c, "containerd://c0bbe57", &col);
	hmap_init(&texts);
	snprintf(detail, sizeof(detail), "%llu",
		 (unsigned long long)chain_gaps(&col, "100", &texts));
	check(chain_gaps(&col, "100", NULL) == 1 && chain_gaps(&col, NULL, NULL) == 1,
	      "the corrupt entry is one gap entry, in its session's chain", detail);
	for (i = 0; i < 310; i++) {
		snprintf(text, sizeof(text), "corrupt-%04ld", i);
		once += (long)hmap_get(&texts, text) == (i != 50);
	}
	snprintf(detail, sizeof(detail), "%ld of 310", once);
	check(once == 310, "every other entry is in the records exactly once", detail);
	hmap_init(&events);
	kube_list(c, "/apis/events.k8s.io/v1/namespaces/" NS "/events", 500, count_event, &events,
		  NULL, NULL);
	for (i = 0; i < 310; i++) {
		snprintf(text, sizeof(text), "corrupt-%04ld", i);
		ev_once += (long)hmap_get(&events, text) == (i != 50);
	}
	snprintf(detail, sizeof(detail), "%ld of 310", ev_once);
	check(ev_once == 310, "and has exactly one Event", detail);
	check(chain_intact(&col), "the chain verifies", NULL);
	hmap_clear(&texts);
	hmap_clear(&events);
	free_chain(&col);
	publish_free(p);
	events_free(ev);
	spool_close(s);
	cJSON_Delete(id);
	cJSON_Delete(sess[0]);
	cJSON_Delete(sess[1]);
	sign_key_free(key);
	printf("%d passed, %d failed\n", passed, checks - passed);
	return passed == checks ? 0 : 1;
}

/* --- Events by client-go's rule ---------------------------------------------------- */

/* The lines of container cid in the records (a map text -> count the
 * caller clears). */
static size_t chain_lines(struct kube_client *c, const char *cid, struct hmap *texts)
{
	struct collect col = { 0 };

	list_chain(c, cid, &col);
	chain_gaps(&col, NULL, texts);
	free_chain(&col);
	return texts->size;
}

/* Three lines of a new container through a publisher whose Events go to
 * events_server (a URL), with the records to the real API server; the
 * publisher, its recorder and client, the spool: the caller's. */
struct ev_rig {
	struct sign_key *key;
	struct kube_client *down;
	struct events *ev;
	struct spool *s;
	struct publisher *p;
};

static int ev_rig_open(struct ev_rig *r, struct kube_client *c, struct kubeconfig *cfg,
		       const char *server, const char *dir, const char *cid, const char *tag)
{
	struct kube_client_opts quick = { .timeout_ms = 3000, .connect_timeout_ms = 2000 };
	struct spool_opts so = {
		.dir = dir, .batch_entries = 7, .batch_age_ms = 100, .checkpoint_ms = 100
	};
	struct events_opts eo = { .controller = "shellaudit.io/agent",
				  .instance = "spool-test",
				  .qps = 1000,
				  .burst = 1000 };
	char *real = cfg->server, url[512], text[64];
	cJSON *id = pod_identity(tag, cid), *sess, *e;
	int i, ret;

	memset(r, 0, sizeof(*r));
	so.key = r->key = load_key(dir);
	snprintf(url, sizeof(url), "%s", server);
	cfg->server = url;
	ret = kube_client_new(cfg, &quick, &r->down);
	cfg->server = real;
	if (ret < 0 || events_new(r->down, &eo, &r->ev) < 0 || spool_open(&so, &r->s) < 0 ||
	    publish_new(c, r->ev, r->s, &r->p) < 0) {
		cJSON_Delete(id);
		return -1;
	}
	sess = cJSON_Parse("{\"id\":\"300\",\"pid\":300}");
	for (i = 0; i < 3; i++) {
		e = cJSON_CreateObject();
		snprintf(text, sizeof(text), "%s-%d", tag, i);
		cJSON_AddStringToObject(e, "time", "2026-11-25T00:00:00.000001Z");
		cJSON_AddStringToObject(e, "kind", "line");
		cJSON_AddStringToObject(e, "text", text);
		spool_add(r->s, cid, "300", id, sess, e);
		cJSON_Delete(e);
	}
	spool_end_session(r->s, cid, "300");
	cJSON_Delete(sess);
	cJSON_Delete(id);
	return 0;
}

static void ev_rig_close(struct ev_rig *r)
{
	publish_free(r->p);
	events_free(r->ev);
	spool_close(r->s);
	kube_client_free(r->down);
	sign_key_free(r->key);
}

static int events_phase(struct kube_client *c, struct kubeconfig *cfg, const char *dir)
{
	struct timespec step = { 0, 50 * 1000000L };
	struct publish_stats ps;
	struct ev_rig r;
	struct hmap texts, events;
	char sub[512], url[512], detail[160];
	time_t end;
	size_t n = 0;

	/* No answer: nothing listens on port 1. */
	snprintf(sub, sizeof(sub), "%s-down", dir);
	if (ev_rig_open(&r, c, cfg, "https://127.0.0.1:1", sub, "containerd://e7e17d0", "evdown") <
	    0)
		return 1;
	/* Tried again every 100 ms, and not given up within the test's
	 * minute: the records must go out while the Events wait. */
	publish_set_event_retry(r.p, 1000000, 100);
	hmap_init(&texts);
	for (end = time(NULL) + 60; time(NULL) < end && n < 3; nanosleep(&step, NULL)) {
		spool_tick(r.s);
		publish_step(r.p, 200, 0);
		hmap_clear(&texts);
		n = chain_lines(c, "containerd://e7e17d0", &texts);
	}
	publish_get_stats(r.p, &ps);
	snprintf(detail, sizeof(detail), "%zu lines in records, %llu Events, %llu failures", n,
		 (unsigned long long)ps.events, (unsigned long long)ps.failures);
	check(n == 3 && ps.events == 0 && ps.failures > 0 && !spool_idle(r.s),
	      "Events that get no answer wait for their next try; the records go on", detail);
	/* The wait is the Event's own: the publisher is not backing off, a
	 * record that comes goes out at the next step. */
	check(publish_backoff_ms(r.p) == 0, "  and the publisher does not back off for them", NULL);
	/* Now a few tries only: each is skipped after them, counted. */
	publish_set_event_retry(r.p, 2, 100);
	check(drain(r.s, r.p, 60) == 0, "  then, tries spent, they are skipped: the spool drains",
	      NULL);
	publish_get_stats(r.p, &ps);
	snprintf(detail, sizeof(detail), "undelivered %llu, refused %llu",
		 (unsigned long long)ps.events_undelivered, (unsigned long long)ps.events_refused);
	check(ps.events_undelivered == 3 && ps.events_refused == 0, "  and counted", detail);
	ev_rig_close(&r);

	/* Answered with an error status (404: a path no API serves). */
	snprintf(sub, sizeof(sub), "%s-refused", dir);
	snprintf(url, sizeof(url), "%s/no-such-prefix", cfg->server);
	if (ev_rig_open(&r, c, cfg, url, sub, "containerd://e7e17d1", "evrefused") < 0)
		return 1;
	check(drain(r.s, r.p, 60) == 0, "Events answered 404 do not hold the spool: it drains",
	      NULL);
	publish_get_stats(r.p, &ps);
	hmap_clear(&texts);
	n = chain_lines(c, "containerd://e7e17d1", &texts);
	snprintf(detail, sizeof(detail), "refused %llu, failures %llu, undelivered %llu, lines %zu",
		 (unsigned long long)ps.events_refused, (unsigned long long)ps.failures,
		 (unsigned long long)ps.events_undelivered, n);
	check(ps.events_refused == 3 && ps.failures == 0 && ps.events_undelivered == 0 && n == 3,
	      "  each is refused at once, counted, never tried again; the records hold the lines",
	      detail);
	ev_rig_close(&r);
	/* None of these Events is in the API server. */
	hmap_init(&events);
	kube_list(c, "/apis/events.k8s.io/v1/namespaces/" NS "/events", 500, count_event, &events,
		  NULL, NULL);
	check(!hmap_get(&events, "evdown-0") && !hmap_get(&events, "evrefused-0"),
	      "no Event of theirs was created", NULL);
	hmap_clear(&events);
	hmap_clear(&texts);
	printf("%d passed, %d failed\n", passed, checks - passed);
	return passed == checks ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct kubeconfig *cfg;
	struct kube_client *c;
	char err[512];
	int ret = 2;

	log_set_level(LOG_ERROR);
	if (kubeconfig_load(getenv("KUBECONFIG"), NULL, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	kube_client_new(cfg, NULL, &c);
	if (argc >= 5 && !strcmp(argv[1], "write"))
		ret = write_phase(c, argv[2], arg_long(argv[3], "FROM"), arg_long(argv[4], "TO"),
				  argc > 5 ? arg_long(argv[5], "CRASH_AT") : -1);
	else if (argc == 4 && !strcmp(argv[1], "verify"))
		ret = verify_phase(c, arg_long(argv[2], "N"), argv[3]);
	else if (argc == 3 && !strcmp(argv[1], "collide"))
		ret = collide_phase(c, argv[2]);
	else if (argc == 3 && !strcmp(argv[1], "full"))
		ret = full_phase(c, argv[2]);
	else if (argc == 3 && !strcmp(argv[1], "corrupt"))
		ret = corrupt_phase(c, argv[2]);
	else if (argc == 3 && !strcmp(argv[1], "events"))
		ret = events_phase(c, cfg, argv[2]);
	kube_client_free(c);
	kubeconfig_free(cfg);
	return ret;
}
