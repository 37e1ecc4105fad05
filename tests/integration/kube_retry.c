// SPDX-License-Identifier: Apache-2.0
/*
 * How lib/kube, lib/watch and the informer retry, against the real API
 * server and the peers test_kube_retry.sh puts in front of it:
 *   kube_retry informer KUBECONFIG SECONDS [websocket]
 *       runs an informer on the test's configmaps for SECONDS and prints
 *       "synced=0|1 size=N lists=N relists=N watch_restarts=N": the script
 *       checks them with the requests its proxy logged;
 *   kube_retry ws429 KUBECONFIG
 *       a websocket watch refused with 429: -EAGAIN with the Retry-After;
 *   kube_retry events KUBECONFIG
 *       Events answered 429, 500 and 503 with Retry-After: which are worth
 *       another try (lib/events, client-go's rule);
 *   kube_retry continue KUBECONFIG COMPACT
 *       a paged list whose continue token expires between two pages (the
 *       COMPACT command compacts etcd): the list is taken again whole;
 *   kube_retry deadpeer KUBECONFIG DROP
 *       watches over both transports whose peer stops answering (DROP
 *       makes the kernel drop its packets) end well before their timeout.
 * Prints one line per check and "N passed, N failed" last (informer: its
 * counts).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../arg.h"
#include "check.h"
#include "clock.h"
#include "events.h"
#include "informer.h"
#include "kube.h"
#include "kubeconfig.h"
#include "log.h"
#include "watch.h"

#define NS "retry-test"
#define CM "/api/v1/namespaces/" NS "/configmaps"

static struct kubeconfig *load(const char *kc)
{
	struct kubeconfig *cfg = NULL;
	char err[512];

	if (kubeconfig_load(kc, NULL, &cfg, err, sizeof(err)) < 0)
		fprintf(stderr, "kubeconfig: %s\n", err);
	return cfg;
}

static int informer_run(const char *kc, long seconds, int websocket)
{
	struct kube_client_opts copts = {.websocket = websocket};
	struct informer_opts o = {.path = CM, .page_size = 50, .watch_timeout_s = 30};
	struct kubeconfig *cfg = load(kc);
	struct informer_stats st;
	struct informer *inf = NULL;
	long end = clock_now_ms() + seconds * 1000;

	if (!cfg || informer_start(cfg, &copts, &o, &inf) < 0)
		return 1;
	while (clock_now_ms() < end) {
		struct pollfd p = {informer_fd(inf), POLLIN, 0};

		if (poll(&p, 1, 200) > 0)
			informer_process(inf);
	}
	informer_stats(inf, &st);
	printf("synced=%d size=%zu lists=%ld relists=%ld watch_restarts=%ld\n",
	       informer_synced(inf), informer_size(inf), st.lists, st.relists, st.watch_restarts);
	informer_stop(inf);
	kubeconfig_free(cfg);
	return 0;
}

static int ignore(const char *type, const cJSON *obj, void *arg)
{
	(void)type;
	(void)obj;
	(void)arg;
	return 0;
}

static int ws429(const char *kc)
{
	struct kube_client_opts ws = {.websocket = true};
	struct kubeconfig *cfg = load(kc);
	struct kube_client *c = NULL;
	struct kube_response resp;
	char *rv = NULL;
	int r;

	if (!cfg)
		return 1;
	kube_client_new(cfg, &ws, &c);
	r = watch_stream(c, CM, &rv, 5, ignore, NULL, &resp);
	CHECK("websocket: a watch refused with 429 is -EAGAIN", r == -EAGAIN && resp.code == 429);
	CHECK("websocket: with the Retry-After of the refusal", resp.retry_after == 2);
	if (r != -EAGAIN || resp.retry_after != 2)
		printf("       %d (%ld, retry after %d): %s\n", r, resp.code, resp.retry_after,
		       resp.message);
	kube_client_free(c);
	free(rv);
	kubeconfig_free(cfg);
	return check_summary();
}

struct pages {
	long items, restarts;
	const char *compact;
	int compacted;
};

static int count_page_item(const cJSON *item, void *arg)
{
	struct pages *p = arg;

	if (!item) {
		p->restarts++;
		p->items = 0;
		return 0;
	}
	/* Once the first page is read, etcd moves on and compacts: the
	 * continue token of the next page is then too old. */
	if (++p->items == 10 && !p->compacted) {
		p->compacted = 1;
		if (system(p->compact) != 0)
			printf("       the compaction failed\n");
	}
	return 0;
}

static int expired_continue(const char *kc, const char *compact)
{
	struct kubeconfig *cfg = load(kc);
	struct kube_client *c = NULL;
	struct kube_response resp;
	struct pages p = {.compact = compact};
	char *rv = NULL;
	int r;

	if (!cfg)
		return 1;
	kube_client_new(cfg, NULL, &c);
	r = kube_list(c, CM "?labelSelector=paged%3Dyes", 10, count_page_item, &p, &rv, &resp);
	CHECK("a list whose continue token expired still succeeds", r == 0);
	CHECK("the token did expire: the list started over once, unpaged", p.restarts == 1);
	CHECK("and then delivered every item once", p.items == 25);
	CHECK("with the whole list's resourceVersion", rv && *rv);
	if (r || p.restarts != 1 || p.items != 25)
		printf("       %d, %ld restarts, %ld items: %s\n", r, p.restarts, p.items,
		       resp.message);
	free(rv);
	kube_client_free(c);
	kubeconfig_free(cfg);
	return check_summary();
}

struct dropper {
	const char *cmd;
	long after_ms;
};

static void *drop_later(void *arg)
{
	struct dropper *d = arg;

	usleep((useconds_t)d->after_ms * 1000);
	if (system(d->cmd) != 0)
		printf("       %s failed\n", d->cmd);
	return NULL;
}

static int dead_peer(const char *kc, const char *drop, const char *undrop)
{
	struct kubeconfig *cfg = load(kc);
	int i;

	if (!cfg)
		return 1;
	for (i = 0; i < 2; i++) {
		struct kube_client_opts o = {.websocket = i == 1, .keepalive_ms = 2000};
		struct dropper d = {drop, 1500};
		struct kube_client *c = NULL;
		struct kube_response resp;
		char *rv = NULL, label[200];
		pthread_t t;
		long start = clock_now_ms(), took;
		int r;

		kube_client_new(cfg, &o, &c);
		pthread_create(&t, NULL, drop_later, &d);
		r = watch_stream(c, CM, &rv, 120, ignore, NULL, &resp);
		took = clock_now_ms() - start;
		pthread_join(t, NULL);
		if (system(undrop) != 0)
			printf("       %s failed\n", undrop);
		snprintf(label, sizeof(label),
			 "%s: a watch whose peer stopped answering ends -ETIMEDOUT, long before "
			 "its 120 s",
			 i ? "websocket" : "chunked");
		CHECK(label, r == -ETIMEDOUT && took < 60000);
		printf("       (%ld ms: %s)\n", took, resp.message);
		kube_client_free(c);
		free(rv);
	}
	kubeconfig_free(cfg);
	return check_summary();
}

/* The proxy answers the first three Events 429 (Retry-After: 2), 500 and
 * 503 (Retry-After: 2), then forwards: client-go's REST client retries the
 * 429 and the 503 itself, its recorder never the 500. */
static int events_throttled(const char *kc)
{
	struct events_opts o = { .controller = "shellaudit.io/test", .instance = "retry-test" };
	struct event_regarding pod = { "v1", "Pod", NS, "demo-pod", NULL };
	struct kubeconfig *cfg = load(kc);
	struct kube_client *c = NULL;
	struct events *e = NULL;
	int r;

	if (!cfg)
		return 1;
	if (kube_client_new(cfg, NULL, &c) < 0 || events_new(c, &o, &e) < 0) {
		CHECK("an Event client", false);
		goto out;
	}
	r = events_emit_named(e, "demo-pod.throttled", &pod, "Normal", "Throttled", "Typed", "ls",
			      NULL);
	CHECK("an Event answered 429 is worth another try, after its Retry-After",
	      r < 0 && events_last_failure(e) == EVENTS_RETRY && events_last_code(e) == 429 &&
		      events_last_retry_after(e) == 2);
	r = events_emit_named(e, "demo-pod.broken", &pod, "Normal", "Broken", "Typed", "ls", NULL);
	CHECK("an Event answered 500 without Retry-After is refused, not tried again",
	      r < 0 && events_last_failure(e) == EVENTS_REFUSED && events_last_code(e) == 500);
	r = events_emit_named(e, "demo-pod.unavailable", &pod, "Normal", "Unavailable", "Typed",
			      "ls", NULL);
	CHECK("an Event answered 503 with Retry-After is worth another try",
	      r < 0 && events_last_failure(e) == EVENTS_RETRY && events_last_code(e) == 503 &&
		      events_last_retry_after(e) == 2);
	r = events_emit_named(e, "demo-pod.throttled", &pod, "Normal", "Throttled", "Typed", "ls",
			      NULL);
	CHECK("the throttled Event tried again is created", r == 0);
out:
	events_free(e);
	kube_client_free(c);
	kubeconfig_free(cfg);
	return check_summary();
}

int main(int argc, char **argv)
{
	const char *level = getenv("KUBE_RETRY_LOG");
	enum log_level l = LOG_ERROR;

	/* Quiet, but for a test that reads what the informer logs. */
	if (level && log_parse_level(level, &l) < 0)
		l = LOG_ERROR;
	log_set_level(l);
	if (argc >= 4 && !strcmp(argv[1], "informer"))
		return informer_run(argv[2], arg_long(argv[3], "SECONDS"),
				    argc > 4 && !strcmp(argv[4], "websocket"));
	if (argc == 3 && !strcmp(argv[1], "ws429"))
		return ws429(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "events"))
		return events_throttled(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "continue"))
		return expired_continue(argv[2], argv[3]);
	if (argc == 5 && !strcmp(argv[1], "deadpeer"))
		return dead_peer(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: kube_retry informer|ws429|events|continue|deadpeer ARGS...\n");
	return 2;
}
