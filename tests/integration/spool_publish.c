// SPDX-License-Identifier: Apache-2.0
/*
 * Drives node-agent's spool and publisher against a real kube-apiserver,
 * for test_spool.sh:
 *   spool_publish write DIR FROM TO [CRASH_AT]   entries FROM..TO-1, then drain;
 *                                                 SIGKILL itself after CRASH_AT
 *   spool_publish verify N                       every entry once, chain intact
 * Entries alternate between two sessions of one container, so batches of
 * both are open when the crash comes.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "hmap.h"
#include "kube.h"
#include "kubeconfig.h"
#include "log.h"
#include "publish.h"
#include "record.h"
#include "spool.h"
#include "timefmt.h"
#include "verify.h"

#define NS "spool-test"
#define CID "containerd://5p001e57"

static cJSON *identity(void)
{
	return cJSON_Parse("{\"ns\":\"" NS "\",\"pod\":\"web\",\"podUID\":\"uid-web\",\"container\":\"main\","
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
		publish_step(p, 200);
		if (spool_idle(s))
			return 0;
		nanosleep(&step, NULL);
	}
	return -ETIMEDOUT;
}

static int write_phase(struct kube_client *c, const char *dir, long from, long to, long crash_at)
{
	struct spool_opts so = { .dir = dir, .batch_entries = 7, .batch_age_ms = 300,
				 .checkpoint_ms = 100 };
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
			publish_step(p, 5);
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
		printf("records=%llu replayed=%llu collisions=%llu\n", (unsigned long long)ps.records,
		       (unsigned long long)ps.records_replayed, (unsigned long long)ps.collisions);
	}
	publish_free(p);
	events_free(ev);
	spool_close(s);
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

	if (reason && note && !strcmp(reason, "ShellCommand"))
		hmap_put(m, note, (void *)((long)hmap_get(m, note) + 1), NULL);
	return 0;
}

static int verify_phase(struct kube_client *c, long n)
{
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
		 "/apis/shellaudit.io/v1alpha1/namespaces/" NS "/auditrecords?labelSelector=shellaudit.io%%2Fcontainer-id%%3D%s",
		 label);
	if (kube_list(c, path, 100, collect_record, &col, NULL, NULL) < 0) {
		printf("  FAIL list AuditRecords\n0 passed, 1 failed\n");
		return 1;
	}
	intact = verify_chain(col.recs, col.n, stdout, &res) == 0;
	hmap_init(&texts);
	for (r = 0; r < col.n; r++)
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(cJSON_GetObjectItem(col.recs[r], "spec"), "entries")) {
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
	kube_list(c, "/apis/events.k8s.io/v1/namespaces/" NS "/events", 500, count_event, &events, NULL, NULL);
	for (i = 0; i < n; i++) {
		snprintf(text, sizeof(text), "cmd-%05ld", i);
		ev_once += (long)hmap_get(&events, text) == 1;
	}
	printf("  %s every entry is in the AuditRecords exactly once (%ld of %ld, %ld duplicated, %zu records)\n",
	       once == n && texts.size == (size_t)n ? "ok  " : "FAIL", once, n, dup, col.n);
	printf("  %s the chain verifies\n", intact && res.first_sequence == 0 ? "ok  " : "FAIL");
	printf("  %s every entry has exactly one ShellCommand Event (%ld of %ld)\n",
	       ev_once == n ? "ok  " : "FAIL", ev_once, n);
	i = (once == n && texts.size == (size_t)n) + (intact && res.first_sequence == 0) + (ev_once == n);
	printf("%ld passed, %ld failed\n", i, 3 - i);
	for (r = 0; r < col.n; r++)
		cJSON_Delete(col.recs[r]);
	free(col.recs);
	hmap_clear(&texts);
	hmap_clear(&events);
	return i == 3 ? 0 : 1;
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
		ret = write_phase(c, argv[2], atol(argv[3]), atol(argv[4]), argc > 5 ? atol(argv[5]) : -1);
	else if (argc == 3 && !strcmp(argv[1], "verify"))
		ret = verify_phase(c, atol(argv[2]));
	kube_client_free(c);
	kubeconfig_free(cfg);
	return ret;
}
