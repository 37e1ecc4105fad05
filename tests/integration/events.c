// SPDX-License-Identifier: Apache-2.0
/* lib/events against a real kube-apiserver: Events are created with the
 * fields kubectl shows, identical ones fold into a series, the client-side
 * limit drops and counts, hostile notes are escaped and bounded, and a note
 * that can be shown as typed (or that is escaped already) is, never
 * escaped again; a failure says what client-go's rule makes of it: an
 * answer with an error status is refused (not retried), no answer is worth
 * a retry, the client-side limit sent nothing. A window (events_batch_*)
 * of more Events than the client's requests at once sends them all, and
 * gives their answers back in the order they were added. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"
#include "events.h"
#include "kube.h"
#include "kubeconfig.h"
#include "check.h"
#include "log.h"

struct found {
	int n;
	long series;
	char note[2048];
	char escaped[16];	/* the annotation shellaudit.io/escaped */
	const char *want_reason;
};

static int find_events(const cJSON *item, void *arg)
{
	struct found *f = arg;
	const char *reason = cJSON_GetStringValue(cJSON_GetObjectItem(item, "reason"));
	const cJSON *series = cJSON_GetObjectItem(item, "series");

	if (!item) { /* the list starts over */
		f->n = 0;
		return 0;
	}
	if (!reason || strcmp(reason, f->want_reason))
		return 0;
	f->n++;
	snprintf(f->note, sizeof(f->note), "%s",
		 cJSON_GetStringValue(cJSON_GetObjectItem(item, "note")));
	if (series)
		f->series = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(series, "count"));
	snprintf(f->escaped, sizeof(f->escaped), "%s",
		 cJSON_GetStringValue(cJSON_GetObjectItem(
			 cJSON_GetObjectItem(cJSON_GetObjectItem(item, "metadata"), "annotations"),
			 "shellaudit.io/escaped")) ?: "");
	return 0;
}

static struct found list(struct kube_client *c, const char *reason)
{
	struct found f = { .want_reason = reason };

	kube_list(c, "/apis/events.k8s.io/v1/namespaces/default/events", 500, find_events, &f, NULL,
		  NULL);
	return f;
}

int main(void)
{
	struct event_regarding pod = { "v1", "Pod", "default", "demo-pod",
				       "0b3f6f62-0000-4000-8000-000000000001" };
	struct events_opts o = { .controller = "shellaudit.io/agent", .instance = "agent-test",
				 .qps = 0.001, .burst = 10 };
	struct kubeconfig *cfg;
	struct kube_client *c;
	struct events *e;
	struct events_stats st;
	struct found f;
	char err[512], note[64], back[1100], *big, *cut;
	int i, ok = 1, r;

	log_set_level(LOG_ERROR);
	if (kubeconfig_load(getenv("KUBECONFIG"), NULL, &cfg, err, sizeof(err)) < 0) {
		printf("  FAIL kubeconfig: %s\n0 passed, 1 failed\n", err);
		return 1;
	}
	kube_client_new(cfg, NULL, &c);
	events_new(c, &o, &e);

	for (i = 0; i < 3; i++) {
		snprintf(note, sizeof(note), "command %d", i);
		if (events_emit(e, &pod, "Normal", "Distinct", "Typed", note) != 0)
			ok = 0;
	}
	f = list(c, "Distinct");
	CHECK("distinct events are created", ok && f.n == 3);

	r = events_emit(e, &pod, "Normal", "Repeated", "Typed", "ls");
	for (i = 0; i < 49; i++)
		if (events_emit(e, &pod, "Normal", "Repeated", "Typed", "ls") != 1)
			ok = 0;
	CHECK("identical events fold into a series", r == 0 && ok);
	CHECK("flush writes the series", events_flush(e) == 0);
	f = list(c, "Repeated");
	CHECK("one Event with series.count 50", f.n == 1 && f.series == 50);

	r = events_emit(e, &pod, "Normal", "Hostile", "Typed", "echo \x1b[2J\xff\xfe \"quoted\"\n");
	f = list(c, "Hostile");
	CHECK("hostile note is escaped",
	      r == 0 && f.n == 1 && !strcmp(f.note, "echo \\e[2J\\xff\\xfe \"quoted\"\\n"));
	big = malloc(100000);
	memset(big, 'y', 99999);
	big[99999] = '\0';
	r = events_emit(e, &pod, "Normal", "Huge", "Typed", big);
	f = list(c, "Huge");
	CHECK("a huge note is bounded and marked", r == 0 && f.n == 1 && strlen(f.note) <= 1024 &&
	      strstr(f.note, "[truncated]"));
	/* A long line shown escaped already (a ShellCommand Event of an
	 * escaped entry): cut between two escapes, never inside one. */
	memset(big, 'e', 1000);
	for (i = 0; i < 20; i++)
		memcpy(big + 1000 + i * 8, "\\u{202e}", 8);
	big[1160] = '\0';
	r = events_emit(e, &pod, "Normal", "HugeEscaped", "Typed", big);
	f = list(c, "HugeEscaped");
	cut = f.n == 1 ? strstr(f.note, " [truncated]") : NULL;
	if (cut)
		*cut = '\0';
	CHECK("a huge escaped note is cut between escapes",
	      r == 0 && cut && (strlen(f.note) - 1000) % 8 == 0 &&
		      escape_unescape(back, sizeof(back), f.note) >= 0);
	free(big);

	/* 7 created so far out of a burst of 10, with almost no refill. */
	ok = 0;
	for (i = 0; i < 10; i++) {
		snprintf(note, sizeof(note), "flood %d", i);
		if (events_emit(e, &pod, "Normal", "Flood", "Typed", note) == -EAGAIN)
			ok++;
	}
	events_get_stats(e, &st);
	f = list(c, "Flood");
	CHECK("the client-side limit drops past the burst and counts it",
	      ok == 7 && f.n == 3 && st.rate_limited == 7);
	CHECK("stats add up", st.created == 10 && st.aggregated == 49 && st.series_updates == 1 &&
	      st.failed == 0);
	CHECK("  a drop by the limit is no refusal: nothing was sent",
	      events_last_failure(e) == EVENTS_LIMITED);

	/* An answer with an error status (here 404: no such namespace) is a
	 * refusal, not retried; the answer's code and reason are kept. */
	{
		struct event_regarding gone = { "v1", "Pod", "no-such-namespace", "demo-pod",
						NULL };

		r = events_emit_named(e, "demo-pod.gone", &gone, "Normal", "Gone", "Typed", "ls",
				      NULL);
		CHECK("an Event the API server answers with an error status is refused",
		      r == -ENOENT && events_last_failure(e) == EVENTS_REFUSED &&
			      events_last_code(e) == 404 &&
			      !strcmp(events_last_reason(e), "NotFound"));
	}

	/* Shown as typed: a backslash stays one; text the agent escaped
	 * already is not escaped a second time; annotations go on the Event. */
	r = events_emit_named(e, "demo-pod.typed", &pod, "Normal", "AsTyped", "Typed",
			      "sed 's/\\t/ /g' a.tsv", NULL);
	f = list(c, "AsTyped");
	CHECK("a note that can be shown as typed is, one backslash",
	      r == 0 && f.n == 1 && !strcmp(f.note, "sed 's/\\t/ /g' a.tsv") && !f.escaped[0]);
	{
		cJSON *ann = cJSON_CreateObject();

		cJSON_AddStringToObject(ann, "shellaudit.io/escaped", "true");
		r = events_emit_named(e, "demo-pod.escaped", &pod, "Normal", "Escaped", "Typed",
				      "echo \\e[2J\\xff", ann);
		cJSON_Delete(ann);
	}
	f = list(c, "Escaped");
	CHECK("an escaped note is not escaped again, and says so in its annotation",
	      r == 0 && f.n == 1 && !strcmp(f.note, "echo \\e[2J\\xff") &&
		      !strcmp(f.escaped, "true"));
	r = events_emit_named(e, "demo-pod.hidden", &pod, "Normal", "Hidden", "Typed",
			      "r\xe2\x80\x8bm -rf /", NULL);
	f = list(c, "Hidden");
	CHECK("a zero-width space in a note is escaped", r == 0 && f.n == 1 &&
	      !strcmp(f.note, "r\\u{200b}m -rf /"));

	/* A window three times the client's requests at once: the ones past
	 * KUBE_MANY_MAX wait in it and go as the first are answered. */
	{
		int slots[3 * KUBE_MANY_MAX], n = 3 * KUBE_MANY_MAX, added = 0, in_order = 1,
					      created = 0;
		char name[64];

		for (i = 0; i < n; i++) {
			snprintf(name, sizeof(name), "demo-pod.window-%d", i);
			snprintf(note, sizeof(note), "window %d", i);
			slots[i] = events_batch_add(e, name, &pod, "Normal", "Window", "Typed",
						    note, NULL);
			added += slots[i] >= 0;
		}
		CHECK("a window of 3 x KUBE_MANY_MAX Events takes them all",
		      added == n && events_batch_size(e) == (size_t)n);
		for (i = 0; i < n && events_batch_size(e); i++) {
			int h = events_batch_head(e);

			while ((r = events_batch_result(e, (size_t)h)) == -EINPROGRESS)
				events_batch_wait(e, 1000);
			in_order &= h == slots[i];
			created += r == 0;
			events_batch_pop(e);
		}
		f = list(c, "Window");
		CHECK("  each is answered, taken in the order added, and created",
		      i == n && in_order && created == n && f.n == n);
		for (i = 0; i < EVENTS_BATCH_MAX; i++) {
			snprintf(name, sizeof(name), "demo-pod.full-%d", i);
			if (events_batch_add(e, name, &pod, "Normal", "Full", "Typed", "x", NULL) <
			    0)
				break;
		}
		CHECK("  the window holds EVENTS_BATCH_MAX, then says it is full",
		      i == EVENTS_BATCH_MAX &&
			      events_batch_add(e, "demo-pod.full-x", &pod, "Normal", "Full",
					       "Typed", "x", NULL) == -ENOSPC);
		events_batch_clear(e);
	}

	events_free(e);

	/* A node name of 240 characters: reportingInstance past the API's 128
	 * would make every Event a 422 (k8s.md L5). */
	{
		char instance[300];

		memset(instance, 'n', sizeof(instance));
		memcpy(instance, "shellaudit-agent-", 17);
		instance[257] = '\0';
		o.instance = instance;
		o.qps = 10;
		events_new(c, &o, &e);
		r = events_emit(e, &pod, "Normal", "LongNode", "Typed", "ls");
		f = list(c, "LongNode");
		CHECK("a 257-character instance still makes Events", r == 0 && f.n == 1);
		events_free(e);
	}
	/* No answer at all (nothing listens on port 1): worth a retry. */
	{
		struct kube_client_opts quick = { .timeout_ms = 3000, .connect_timeout_ms = 2000 };
		struct kube_client *down;
		char *server = cfg->server, closed[] = "https://127.0.0.1:1";

		cfg->server = closed;
		o.instance = "agent-test"; /* the block above's is gone */
		if (kube_client_new(cfg, &quick, &down) == 0 && events_new(down, &o, &e) == 0) {
			r = events_emit_named(e, "demo-pod.down", &pod, "Normal", "Down", "Typed",
					      "ls", NULL);
			CHECK("an Event that gets no answer is worth a retry",
			      r < 0 && events_last_failure(e) == EVENTS_RETRY &&
				      events_last_code(e) == 0);
			events_free(e);
			kube_client_free(down);
		} else {
			CHECK("a client of a closed port", false);
		}
		cfg->server = server;
	}
	kube_client_free(c);
	kubeconfig_free(cfg);
	return check_summary();
}
