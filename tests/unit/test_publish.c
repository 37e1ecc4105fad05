// SPDX-License-Identifier: Apache-2.0
/* publish against a small in-process API server: a record refused for
 * itself (403) that parked cannot take never holds the spool, whose
 * window and space every chain shares; it is a counted loss instead. A 404
 * parks a record only when its namespace is gone; a namespace whose
 * requests get no answer in time holds up no other; 429 backs its chain
 * off for as long as the API server asks. An entry that comes while a
 * record's request waits goes out as an Event beside it; a step past its
 * deadline sends one record. The Events in flight and their latency are
 * counted. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "events.h"
#include "kube.h"
#include "metrics.h"
#include "parked.h"
#include "publish.h"
#include "spool.h"
#include "unit.h"
#include "util.h"

static char base[64];

/* How the fake answers a request. */
enum fake_mode {
	FAKE_TERMINATING,	   /* 403, as a namespace being deleted gives */
	FAKE_NO_RESOURCE,	   /* 404 of the resource (the CRD not served) */
	FAKE_NO_NAMESPACE,	   /* 404 of the namespace */
	FAKE_THROTTLE,		   /* 429 with Retry-After: 3 */
	FAKE_HANG_A,		   /* no answer in namespace a; 201 elsewhere */
	FAKE_HANG_AC,		   /* no answer in namespaces a and c; 201 elsewhere */
	FAKE_RECORD_AWAITS_EVENTS, /* 201; a record's answer waits for the
				      await_events-th Event (10 s at most) */
	FAKE_CREATED,		   /* 201 */
};

/* Answers every request, on any number of keep-alive connections, as its
 * mode says. */
struct fake {
	int lfd;
	enum fake_mode mode;
	atomic_int stop;
	atomic_long posts, created_b;
	/* FAKE_RECORD_AWAITS_EVENTS: the Event a record's answer waits for
	 * (0: none), whether such a request came, and whether its answer
	 * came after that Event (not after 10 s); the Events. */
	atomic_long await_events;
	atomic_int record_seen, released_by_event;
	atomic_long event_posts;
};

/* The answer to request req (its head and body) into out: its length, 0
 * for none. */
static int fake_answer(struct fake *f, const char *req, size_t len, char *out, size_t cap)
{
	static const char term[] =
		"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
		"\"auditrecords is forbidden: unable to create new content in namespace n "
		"because it is being terminated\",\"reason\":\"Forbidden\",\"details\":{\"causes\":"
		"[{\"reason\":\"NamespaceTerminating\",\"message\":\"namespace n is being "
		"terminated\",\"field\":\"metadata.namespace\"}]},\"code\":403}";
	static const char nores[] =
		"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
		"\"the server could not find the requested resource\",\"reason\":\"NotFound\","
		"\"details\":{},\"code\":404}";
	static const char nons[] =
		"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
		"\"namespaces \\\"n\\\" not found\",\"reason\":\"NotFound\",\"details\":{\"name\":"
		"\"n\",\"kind\":\"namespaces\"},\"code\":404}";
	static const char busy[] =
		"{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
		"\"Too many requests, please try again later.\",\"reason\":\"TooManyRequests\","
		"\"code\":429}";
	const char *status = "403 Forbidden", *body = term, *extra = "";

	switch (f->mode) {
	case FAKE_TERMINATING: break;
	case FAKE_NO_RESOURCE:
		status = "404 Not Found";
		body = nores;
		break;
	case FAKE_NO_NAMESPACE:
		status = "404 Not Found";
		body = nons;
		break;
	case FAKE_THROTTLE:
		status = "429 Too Many Requests";
		body = busy;
		extra = "Retry-After: 3\r\n";
		break;
	case FAKE_CREATED:
	case FAKE_HANG_A:
	case FAKE_HANG_AC:
		if (f->mode != FAKE_CREATED && memmem(req, len, "/namespaces/a/", 14))
			return 0;
		if (f->mode == FAKE_HANG_AC && memmem(req, len, "/namespaces/c/", 14))
			return 0;
		status = "201 Created";
		body = "{}";
		f->created_b++;
		break;
	case FAKE_RECORD_AWAITS_EVENTS:
		status = "201 Created";
		body = "{}";
		if (memmem(req, len, "/events", 7)) {
			f->event_posts++;
		} else if (memmem(req, len, "/auditrecords", 13) && f->await_events) {
			long until = clock_now_ms() + 10000;

			f->record_seen = 1;
			while (f->event_posts < f->await_events && clock_now_ms() < until)
				usleep(2000);
			f->released_by_event = f->event_posts >= f->await_events;
		}
		break;
	}
	return snprintf(out, cap,
			"HTTP/1.1 %s\r\nContent-Type: application/json\r\n%sContent-Length: "
			"%zu\r\n\r\n%s",
			status, extra, strlen(body), body);
}

static void *fake_conn(void *arg)
{
	struct fake *f = ((void **)arg)[0];
	int fd = (int)(long)((void **)arg)[1];
	char buf[1 << 16], head[1024];
	size_t got = 0;
	ssize_t n;

	free(arg);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char *end, *cl;
		size_t hlen, blen;

		end = got ? memmem(buf, got, "\r\n\r\n", 4) : NULL;
		if (end) {
			hlen = (size_t)(end - buf) + 4;
			cl = memmem(buf, hlen, "Content-Length:", 15);
			if (!cl)
				cl = memmem(buf, hlen, "content-length:", 15);
			blen = cl ? strtoul(cl + 15, NULL, 10) : 0;
			if (got >= hlen + blen) {
				int k = fake_answer(f, buf, hlen + blen, head, sizeof(head));

				if (!strncmp(buf, "POST", 4))
					f->posts++;
				/* One write: no wait for a delayed ACK. */
				if (k > 0 && write(fd, head, (size_t)k) < 0)
					break;
				memmove(buf, buf + hlen + blen, got - hlen - blen);
				got -= hlen + blen;
				continue;
			}
		}
		if (f->stop || got == sizeof(buf) || poll(&p, 1, 200) < 0)
			break;
		if (!(p.revents & POLLIN))
			continue;
		if ((n = read(fd, buf + got, sizeof(buf) - got)) <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return NULL;
}

static void *fake_run(void *arg)
{
	struct fake *f = arg;

	while (!f->stop) {
		struct pollfd p = { .fd = f->lfd, .events = POLLIN };
		void **a;
		pthread_t t;
		int fd;

		if (poll(&p, 1, 100) != 1 || (fd = accept(f->lfd, NULL, NULL)) < 0)
			continue;
		if (!(a = malloc(2 * sizeof(*a)))) {
			close(fd);
			continue;
		}
		a[0] = f;
		a[1] = (void *)(long)fd;
		if (pthread_create(&t, NULL, fake_conn, a)) {
			free(a);
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

static cJSON *line_entry(int i)
{
	cJSON *e = cJSON_CreateObject();
	char text[32];

	snprintf(text, sizeof(text), "cmd-%d", i);
	cJSON_AddStringToObject(e, "time", "2026-11-25T00:00:00.000001Z");
	cJSON_AddStringToObject(e, "kind", "line");
	cJSON_AddStringToObject(e, "text", text);
	return e;
}

/* The agent's turn lock, for FAKE_RECORD_AWAITS_EVENTS: the test holds it
 * around publish_step, which gives it up while a request waits. */
static pthread_mutex_t turn = PTHREAD_MUTEX_INITIALIZER;

static void turn_leave(void *arg)
{
	(void)arg;
	pthread_mutex_unlock(&turn);
}

static void turn_enter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&turn);
}

/* A publisher with its spool, parked records and events against a fake
 * in mode `mode`, whose requests time out after timeout_ms. */
struct env {
	struct fake f;
	pthread_t t;
	char server[64];
	struct kubeconfig cfg;
	struct kube_client *c;
	struct events *ev;
	struct spool *s;
	struct publisher *p;
	struct parked *pk;
};

static void env_open(struct env *e, enum fake_mode mode, long timeout_ms, const char *name)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct kube_client_opts ko = { .timeout_ms = timeout_ms };

	/* As the agent's turn lock: given up while a request waits. */
	if (mode == FAKE_RECORD_AWAITS_EVENTS) {
		ko.io_leave = turn_leave;
		ko.io_enter = turn_enter;
	}
	struct events_opts eo = {
		.controller = "shellaudit.io/agent", .instance = "t", .qps = 1000, .burst = 1000
	};
	struct spool_opts so = { .batch_entries = 1, .batch_age_ms = 3600000 };
	char sdir[128], pdir[160];

	memset(e, 0, sizeof(*e));
	e->f.mode = mode;
	e->f.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	UNIT_CHECK(e->f.lfd >= 0 && bind(e->f.lfd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		   listen(e->f.lfd, 16) == 0 &&
		   getsockname(e->f.lfd, (struct sockaddr *)&a, &alen) == 0);
	snprintf(e->server, sizeof(e->server), "http://127.0.0.1:%d", ntohs(a.sin_port));
	e->cfg.server = e->server;
	e->cfg.namespace = "default";
	UNIT_CHECK(pthread_create(&e->t, NULL, fake_run, &e->f) == 0);
	snprintf(sdir, sizeof(sdir), "%s/%s", base, name);
	snprintf(pdir, sizeof(pdir), "%s/parked", sdir);
	so.dir = sdir;
	UNIT_CHECK(kube_client_new(&e->cfg, &ko, &e->c) == 0);
	UNIT_CHECK(events_new(e->c, &eo, &e->ev) == 0);
	UNIT_CHECK(spool_open(&so, &e->s) == 0);
	UNIT_CHECK(publish_new(e->c, e->ev, e->s, &e->p) == 0);
	UNIT_CHECK(parked_open(pdir, &e->pk) == 0);
	publish_set_parked(e->p, e->pk);
}

static void env_close(struct env *e)
{
	e->f.stop = 1;
	pthread_join(e->t, NULL);
	publish_free(e->p);
	parked_free(e->pk);
	spool_close(e->s);
	events_free(e->ev);
	kube_client_free(e->c);
	close(e->f.lfd);
}

/* The identity of container cid in namespace ns. Caller deletes. */
static cJSON *identity(const char *ns, const char *cid)
{
	char text[400];

	snprintf(text, sizeof(text),
		 "{\"ns\":\"%s\",\"pod\":\"p\",\"podUID\":\"u-%s\",\"container\":\"c\","
		 "\"containerID\":\"%s\",\"node\":\"x\",\"retention\":\"1h\"}",
		 ns, ns, cid);
	return cJSON_Parse(text);
}

/* Adds n records of container cid in namespace ns. */
static void add_records(struct env *e, const char *ns, const char *cid, int n)
{
	cJSON *id = identity(ns, cid);
	int i;

	for (i = 0; i < n; i++) {
		cJSON *en = line_entry(i);

		UNIT_CHECK(spool_add(e->s, cid, "", id, NULL, en) == 0);
		cJSON_Delete(en);
	}
	cJSON_Delete(id);
}

/* A namespace stuck Terminating refuses every record of a flood: parked
 * takes its share, and the records past it do not stay at the head of the
 * spool, where they would hold every other chain (past SPOOL_AHEAD_MAX
 * records) and then the spool's space; each is counted lost. */
static void test_publish_a_refused_flood_past_parked_never_holds_the_spool(void)
{
	const int total = PARKED_MAX_FILES + 10;
	struct publish_stats ps;
	struct spool_stats ss;
	struct env e;
	long deadline;

	env_open(&e, FAKE_TERMINATING, 5000, "flood");
	add_records(&e, "n", "containerd://c1", total);
	deadline = clock_now_ms() + 20000;
	do {
		spool_tick(e.s);
		publish_step(e.p, 256, 0);
		spool_get_stats(e.s, &ss);
	} while ((ss.records < (uint64_t)total || ss.records_waiting) &&
		 clock_now_ms() < deadline);
	publish_get_stats(e.p, &ps);
	fprintf(stderr, "    records %llu waiting %llu parked %zu lost %llu posts %ld\n",
		(unsigned long long)ss.records, (unsigned long long)ss.records_waiting,
		parked_count(e.pk), (unsigned long long)ps.parked_lost, (long)e.f.posts);
	UNIT_CHECK(ss.records == (uint64_t)total);
	UNIT_CHECK(ss.records_waiting == 0);
	UNIT_CHECK(parked_count(e.pk) > 0);
	UNIT_CHECK(ps.parked_lost > 0);
	/* Parked records past their retention (1h after 2026-11-25) go. */
	UNIT_CHECK(parked_count(e.pk) + ps.parked_lost + ps.parked_expired == (uint64_t)total);
	env_close(&e);
}

/* Steps the publisher for about ms. */
static void run_for(struct env *e, long ms)
{
	long deadline = clock_now_ms() + ms;

	while (clock_now_ms() < deadline) {
		spool_tick(e->s);
		publish_step(e->p, 256, 0);
		usleep(20000);
	}
}

/* A 404 of the resource itself (the CRD not served for a moment, during
 * an upgrade) clears by itself: the record waits in its chain, it is not
 * parked. A 404 of its namespace parks it. */
static void test_publish_a_404_parks_only_for_a_namespace_gone(void)
{
	struct publish_stats ps;
	struct spool_stats ss;
	struct env e;

	env_open(&e, FAKE_NO_RESOURCE, 5000, "nores");
	add_records(&e, "n", "containerd://c1", 3);
	run_for(&e, 500);
	spool_get_stats(e.s, &ss);
	publish_get_stats(e.p, &ps);
	UNIT_CHECK(parked_count(e.pk) == 0);
	UNIT_CHECK(ss.records_waiting == 3);
	UNIT_CHECK(ps.failures > 0);
	env_close(&e);

	env_open(&e, FAKE_NO_NAMESPACE, 5000, "nons");
	add_records(&e, "n", "containerd://c1", 3);
	run_for(&e, 500);
	spool_get_stats(e.s, &ss);
	publish_get_stats(e.p, &ps);
	UNIT_CHECK(ps.records_parked == 3);
	UNIT_CHECK(ss.records_waiting == 0);
	env_close(&e);
}

/* Namespace a's requests reach the API server and get no answer in time
 * (a webhook that hangs for it, say): a's chain backs off alone, and b's
 * records, behind a's in the spool, go out. */
static void test_publish_a_namespace_without_answers_holds_up_no_other(void)
{
	struct spool_stats ss;
	struct env e;

	env_open(&e, FAKE_HANG_A, 300, "hang");
	add_records(&e, "a", "containerd://ca", 3);
	add_records(&e, "b", "containerd://cb", 3);
	run_for(&e, 3000);
	spool_get_stats(e.s, &ss);
	fprintf(stderr, "    created in b %ld, waiting %llu\n", (long)e.f.created_b,
		(unsigned long long)ss.records_waiting);
	UNIT_CHECK(e.f.created_b == 3);
	UNIT_CHECK(ss.records_waiting == 3); /* a's */
	env_close(&e);
}

/* Two namespaces, a and c, whose requests reach the API server and get no
 * answer in time (one webhook that hangs for both, say): each backs off
 * alone, and b's records, behind theirs in the spool, go out. The second
 * such of a pass must not back off the node and leave both chains first in
 * the spool's order for the next pass, every pass. */
static void test_publish_two_namespaces_without_answers_hold_up_no_other(void)
{
	struct spool_stats ss;
	struct env e;
	long deadline;

	/* Against the backoff's first steps (200 ms on), as the agent's 5 s
	 * are against its 10 s at most. */
	env_open(&e, FAKE_HANG_AC, 1500, "hang2");
	add_records(&e, "a", "containerd://ca", 3);
	add_records(&e, "c", "containerd://cc", 3);
	add_records(&e, "b", "containerd://cb", 20);
	deadline = clock_now_ms() + 8000;
	while (e.f.created_b < 20 && clock_now_ms() < deadline) {
		spool_tick(e.s);
		publish_step(e.p, 256, 0);
		usleep(20000);
	}
	spool_get_stats(e.s, &ss);
	fprintf(stderr, "    created in b %ld, waiting %llu\n", (long)e.f.created_b,
		(unsigned long long)ss.records_waiting);
	UNIT_CHECK(e.f.created_b == 20);
	UNIT_CHECK(ss.records_waiting == 6); /* a's and c's */
	env_close(&e);
}

/* While the API server gives no answer, the parked records are not each
 * tried for the request's whole timeout (a step would take minutes, a
 * drain at SIGTERM far past its time): the first without an answer backs
 * the node off, and the others wait. */
static void test_publish_parked_retry_stops_at_the_first_without_answer(void)
{
	struct parked_why why = { .code = 403, .reason = "Forbidden", .message = "denied" };
	struct env e;
	char text[300];
	int i;

	env_open(&e, FAKE_HANG_A, 300, "parked-hang");
	for (i = 0; i < 5; i++) {
		cJSON *rec;

		snprintf(text, sizeof(text),
			 "{\"apiVersion\":\"shellaudit.io/v1alpha1\",\"kind\":\"AuditRecord\","
			 "\"metadata\":{\"name\":\"p-c-0000000%d-aa\",\"namespace\":\"a\"},"
			 "\"spec\":{\"containerID\":\"containerd://ca\",\"sequence\":%d}}",
			 i, i);
		rec = cJSON_Parse(text);
		UNIT_CHECK(rec && parked_add(e.pk, rec, &why) == 0);
		cJSON_Delete(rec);
	}
	UNIT_CHECK(parked_count(e.pk) == 5);
	publish_step(e.p, 256, 0);
	UNIT_CHECK(e.f.posts == 1);
	UNIT_CHECK(publish_backoff_ms(e.p) > 0);
	UNIT_CHECK(parked_count(e.pk) == 5);
	env_close(&e);
}

/* 429 is the API server's flow control: a chain it answers so waits at
 * least its Retry-After (3 s), not its backoff's first 200 ms; the node
 * does not (its Events go on). */
static void test_publish_429_backs_the_chain_off_as_asked(void)
{
	struct env e;

	env_open(&e, FAKE_THROTTLE, 5000, "throttle");
	add_records(&e, "a", "containerd://ca", 1);
	add_records(&e, "b", "containerd://cb", 1);
	spool_tick(e.s);
	publish_step(e.p, 256, 0);
	UNIT_CHECK(e.f.posts == 2);
	UNIT_CHECK(publish_backoff_ms(e.p) == 0);
	run_for(&e, 1000);
	UNIT_CHECK(e.f.posts == 2);
	env_close(&e);
}

/* One line entry of container containerd://c1 in namespace ns, whose
 * policy wants Events of its lines. */
static void add_event_line(struct env *e, const char *ns, int i)
{
	cJSON *id = identity(ns, "containerd://c1"), *en = line_entry(i);
	cJSON *ev = cJSON_AddObjectToObject(id, "events");

	cJSON_AddTrueToObject(ev, "enabled");
	cJSON_AddNumberToObject(ev, "ratePerMinute", 1000);

	UNIT_CHECK(spool_add(e->s, "containerd://c1", "", id, NULL, en) == 0);
	cJSON_Delete(en);
	cJSON_Delete(id);
}

/* The capture thread's part: an entry once the record's request came. */
static void *add_during_the_record(void *arg)
{
	struct env *e = arg;
	long until = clock_now_ms() + 10000;

	while (!e->f.record_seen && clock_now_ms() < until)
		usleep(1000);
	pthread_mutex_lock(&turn);
	add_event_line(e, "n", 3);
	pthread_mutex_unlock(&turn);
	return NULL;
}

/* An entry appended while a record's request waits for its answer (the
 * capture thread appends meanwhile, the turn lock given up) is synced and
 * goes out as an Event beside that request, not after the next
 * spool_tick: under a flood each record's request takes hundreds of
 * milliseconds, and the Events stood still that long. The first step
 * publishes entry 1 (its Event starts the client's window, beside which
 * a record's request runs); the fake answers the record of entry 2 once
 * the Event of entry 3 came (or after 10 s). */
static void test_publish_an_entry_during_a_record_goes_out_beside_it(void)
{
	struct env e;
	pthread_t t;

	env_open(&e, FAKE_RECORD_AWAITS_EVENTS, 20000, "beside");
	pthread_mutex_lock(&turn);
	add_event_line(&e, "n", 1);
	spool_tick(e.s);
	publish_step(e.p, 256, 0);
	UNIT_CHECK(e.f.event_posts == 1);
	add_event_line(&e, "n", 2);
	spool_tick(e.s);
	e.f.await_events = 3;
	UNIT_CHECK(pthread_create(&t, NULL, add_during_the_record, &e) == 0);
	publish_step(e.p, 256, 0);
	pthread_mutex_unlock(&turn);
	pthread_join(t, NULL);
	UNIT_CHECK(e.f.record_seen);
	UNIT_CHECK(e.f.released_by_event);
	UNIT_CHECK(e.f.event_posts == 3);
	env_close(&e);
}

/* The metrics that tell the API server's pace from the agent's: the
 * Events whose answers are awaited, and the histograms of the Events' and
 * records' latency from capture (the entries here were captured days
 * ago: past the last bound). */
static void test_publish_events_in_flight_and_their_latency(void)
{
	static const double bounds[] = { 0.2, 2 };
	struct metrics ms = { 0 };
	struct metric *ev = metrics_add_histogram(&ms, "ev", "Events", bounds, 2);
	struct metric *rec = metrics_add_histogram(&ms, "rec", "Records", bounds, 2);
	struct publish_stats ps;
	struct env e;
	char text[1024];

	/* An Event in namespace a, which gets no answer: in flight after a
	 * step past its deadline (which waits for no answer). */
	env_open(&e, FAKE_HANG_A, 1000, "inflight");
	publish_set_latency_metrics(e.p, ev, rec);
	add_event_line(&e, "a", 1);
	spool_tick(e.s);
	publish_step(e.p, 4, 1);
	publish_get_stats(e.p, &ps);
	UNIT_CHECK(ps.events_in_flight == 1);
	UNIT_CHECK(ps.events == 0 && ev->counts[2] == 0 && rec->counts[2] == 0);
	env_close(&e);

	env_open(&e, FAKE_CREATED, 5000, "latency");
	publish_set_latency_metrics(e.p, ev, rec);
	add_event_line(&e, "b", 1);
	spool_tick(e.s);
	publish_step(e.p, 256, 0);
	publish_get_stats(e.p, &ps);
	UNIT_CHECK(ps.events == 1 && ps.events_in_flight == 0);
	UNIT_CHECK(ev->counts[0] == 0 && ev->counts[1] == 0 && ev->counts[2] == 1);
	UNIT_CHECK(ev->value > 86400);
	UNIT_CHECK(rec->counts[2] == 1 && rec->value > 86400);
	metrics_render(&ms, text, sizeof(text));
	UNIT_CHECK(strstr(text, "# TYPE ev histogram\nev_bucket{le=\"0.2\"} 0\n"
				"ev_bucket{le=\"2\"} 0\nev_bucket{le=\"+Inf\"} 1\nev_sum ") &&
		   strstr(text, "ev_count 1\n"));
	env_close(&e);
}

/* Past its deadline a step sends one record, not its budget's: under a
 * flood each takes hundreds of milliseconds, and the agent's loop, whose
 * other work waits for the step, turned in seconds rather than 100 ms.
 * Before it, the budget is the bound. */
static void test_publish_a_step_past_its_deadline_sends_one_record(void)
{
	static const char *const ns[] = { "a", "b", "c", "d", "e", "f" };
	char cid[32];
	struct env e;
	size_t i;

	env_open(&e, FAKE_CREATED, 5000, "deadline");
	for (i = 0; i < ARRAY_SIZE(ns); i++) {
		snprintf(cid, sizeof(cid), "containerd://c%s", ns[i]);
		add_records(&e, ns[i], cid, 1);
	}
	spool_tick(e.s);
	publish_step(e.p, 4, 1);
	UNIT_CHECK(e.f.created_b == 1);
	publish_step(e.p, 4, 1);
	UNIT_CHECK(e.f.created_b == 2);
	publish_step(e.p, 3, clock_now_ms() + 60000);
	UNIT_CHECK(e.f.created_b == 5);
	publish_step(e.p, 4, 0);
	UNIT_CHECK(e.f.created_b == 6);
	env_close(&e);
}

int main(void)
{
	static const struct unit_test tests[] = {
		UNIT_TEST(test_publish_a_refused_flood_past_parked_never_holds_the_spool),
		UNIT_TEST(test_publish_a_404_parks_only_for_a_namespace_gone),
		UNIT_TEST(test_publish_a_namespace_without_answers_holds_up_no_other),
		UNIT_TEST(test_publish_429_backs_the_chain_off_as_asked),
		UNIT_TEST(test_publish_parked_retry_stops_at_the_first_without_answer),
		UNIT_TEST(test_publish_two_namespaces_without_answers_hold_up_no_other),
		UNIT_TEST(test_publish_an_entry_during_a_record_goes_out_beside_it),
		UNIT_TEST(test_publish_a_step_past_its_deadline_sends_one_record),
		UNIT_TEST(test_publish_events_in_flight_and_their_latency),
	};
	char cmd[160];
	int ret;

	snprintf(base, sizeof(base), "/tmp/test_publish.%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", base, base);
	if (system(cmd) != 0)
		return 1;
	ret = unit_main(tests, ARRAY_SIZE(tests));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", base);
	return ret;
}
