// SPDX-License-Identifier: Apache-2.0
/* The controller's main loop: informers in, reconcilers out, one thread
 * (the informers' reflector threads only fill queues; see lib/informer.c). */
#include "controller.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "httpd.h"
#include "ratelimit.h"
#include "util.h"

#define CTL_LOOP_MAX_MS 1000
#define CTL_RESYNC_MS (10 * 60 * 1000)

bool controller_take_write(struct controller *c)
{
	return tokens_take(&c->writes, clock_now_ms());
}

/* Any change marks the resolution stale; the loop recomputes it once for
 * however many events arrived (level-triggered, not event-triggered). */
static void controller_changed(const cJSON *obj, void *arg)
{
	(void)obj;
	((struct controller *)arg)->dirty = true;
}

static void controller_updated(const cJSON *old, const cJSON *obj, void *arg)
{
	(void)old;
	(void)obj;
	((struct controller *)arg)->dirty = true;
}

/* A ShellAuditNode's status moves with every record its agent publishes
 * (chain heads): only what the controller reads marks the resolution stale
 * (an unchanged object is a resync, which does). */
static void controller_node_updated(const cJSON *old, const cJSON *obj, void *arg)
{
	static const char *const skip[] = { "heads", "headsDropped", "signingKey" };
	const cJSON *os = cJSON_GetObjectItemCaseSensitive(old, "status");
	const cJSON *ns = cJSON_GetObjectItemCaseSensitive(obj, "status");
	cJSON *a, *b;
	size_t i;
	bool same;

	if (old == obj || !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(old, "spec"),
					 cJSON_GetObjectItemCaseSensitive(obj, "spec"), true) ||
	    !os || !ns) {
		((struct controller *)arg)->dirty = true;
		return;
	}
	a = cJSON_Duplicate(os, 1);
	b = cJSON_Duplicate(ns, 1);
	for (i = 0; i < ARRAY_SIZE(skip); i++) {
		cJSON_DeleteItemFromObjectCaseSensitive(a, skip[i]);
		cJSON_DeleteItemFromObjectCaseSensitive(b, skip[i]);
	}
	same = a && b && cJSON_Compare(a, b, true);
	cJSON_Delete(a);
	cJSON_Delete(b);
	if (!same)
		((struct controller *)arg)->dirty = true;
}

/* Namespaces: only labels matter. */
static cJSON *controller_trim_ns(const cJSON *ns)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(ns, "metadata");
	cJSON *t = cJSON_CreateObject(), *tmd = cJSON_AddObjectToObject(t, "metadata");
	static const char *const keep[] = { "name", "resourceVersion", "labels" };
	size_t i;

	for (i = 0; i < 3; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, keep[i]);

		if (v)
			cJSON_AddItemToObject(tmd, keep[i], cJSON_Duplicate(v, 1));
	}
	return t;
}

static const cJSON *controller_ns_labels(const char *ns, void *arg)
{
	struct controller *c = arg;
	const cJSON *obj = informer_get(c->inf[CTL_NAMESPACES], NULL, ns);

	if (!obj)
		return NULL;
	/* A namespace without labels still matches an empty selector. */
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
						"labels");
}

struct controller_collect {
	const cJSON **items;
	size_t n, cap;
};

static void controller_collect(const cJSON *obj, void *arg)
{
	struct controller_collect *col = arg;
	const cJSON **p;

	if (col->n == col->cap) {
		col->cap = col->cap ? col->cap * 2 : 256;
		if (!(p = realloc(col->items, col->cap * sizeof(*p))))
			return;
		col->items = p;
	}
	col->items[col->n++] = obj;
}

static void controller_free_policies(struct controller *c)
{
	size_t i;

	for (i = 0; i < c->npolicies; i++)
		policy_free(c->policies[i]);
	free(c->policies);
	c->policies = NULL;
	c->npolicies = 0;
}

static int controller_cmp_policy(const void *a, const void *b)
{
	return strcmp((*(struct policy *const *)a)->name, (*(struct policy *const *)b)->name);
}

static void controller_enqueue_policy(const cJSON *obj, void *arg)
{
	struct controller *c = arg;
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name"));
	char key[300];

	if (name) {
		snprintf(key, sizeof(key), "policy/%s", name);
		workqueue_add(&c->queue, key, 0);
	}
}

/* Parses the policies and recomputes the resolution, then queues every
 * node and policy: their syncs compare and write only what differs. */
static int controller_resolve(struct controller *c)
{
	struct controller_collect pols = { 0 }, pods = { 0 };
	struct resolution res;
	char err[512];
	size_t i;
	int ret;

	controller_free_policies(c);
	hmap_clear(&c->invalid);
	informer_foreach(c->inf[CTL_POLICIES], controller_collect, &pols);
	informer_foreach(c->inf[CTL_PODS], controller_collect, &pods);
	c->policies = calloc(pols.n ? pols.n : 1, sizeof(*c->policies));
	if (!c->policies) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < pols.n; i++) {
		struct policy *p;

		if (policy_parse(pols.items[i], &p, err, sizeof(err)) == 0) {
			c->policies[c->npolicies++] = p;
		} else {
			const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(pols.items[i], "metadata"), "name"));

			if (name) {
				log_with(LOG_WARN, LOG_KV("policy", name), "invalid spec: %s", err);
				hmap_put(&c->invalid, name, strdup(err), NULL);
			}
		}
	}
	qsort(c->policies, c->npolicies, sizeof(*c->policies), controller_cmp_policy);
	ret = resolve_compute(c->policies, c->npolicies, pods.items, pods.n, controller_ns_labels, c,
			      &res);
	if (ret < 0) {
		log_error("cannot resolve policies: %s", strerror(-ret));
		goto out;
	}
	if (c->have_resolution)
		resolve_clear(&c->res);
	c->res = res;
	c->have_resolution = true;
	c->m_resolves->value++;
	nodes_enqueue_all(c);
	informer_foreach(c->inf[CTL_POLICIES], controller_enqueue_policy, c);
out:
	free(pols.items);
	free(pods.items);
	return ret;
}

static bool controller_synced(const struct controller *c)
{
	int i;

	for (i = 0; i < CTL_NINFORMERS; i++)
		if (!informer_synced(c->inf[i]))
			return false;
	return true;
}

static bool controller_ready(void *arg)
{
	return controller_synced(arg);
}

/* Runs the ready work items, a bounded number per loop turn. */
static void controller_work(struct controller *c)
{
	char key[320];
	int i, ret;

	for (i = 0; i < 64 && workqueue_pop(&c->queue, key, sizeof(key)); i++) {
		if (!strncmp(key, "node/", 5))
			ret = nodes_sync(c, key + 5);
		else
			ret = status_sync(c, key + 7);
		c->m_reconciles->value++;
		if (ret == -EAGAIN) {
			workqueue_add(&c->queue, key, 1000 / (c->cfg.writes_per_second + 1) + 1);
		} else if (ret < 0) {
			c->m_errors->value++;
			workqueue_fail(&c->queue, key);
		} else {
			workqueue_forget(&c->queue, key);
		}
	}
}

static int controller_start_informers(struct controller *c)
{
	const struct kube_client_opts copts = { .websocket = c->cfg.websocket };
	struct informer_opts o[CTL_NINFORMERS] = {
		[CTL_POLICIES] = { .path = SHELLAUDIT_GROUP_PATH "/shellauditpolicies" },
		[CTL_PODS] = { .path = "/api/v1/pods", .transform = resolve_trim_pod },
		[CTL_NAMESPACES] = { .path = "/api/v1/namespaces", .transform = controller_trim_ns },
		[CTL_NODES] = { .path = SHELLAUDIT_GROUP_PATH "/shellauditnodes" },
		[CTL_RECORDS] = { .path = SHELLAUDIT_GROUP_PATH "/auditrecords",
				  .transform = retention_trim },
	};
	int i, ret;

	for (i = 0; i < CTL_NINFORMERS; i++) {
		o[i].on_add = controller_changed;
		o[i].on_update = controller_updated;
		o[i].on_delete = controller_changed;
		o[i].arg = c;
		o[i].resync_ms = CTL_RESYNC_MS;
		/* New records need no resolution. */
		if (i == CTL_RECORDS)
			o[i].on_add = o[i].on_delete = NULL, o[i].on_update = NULL;
		if (i == CTL_NODES)
			o[i].on_update = controller_node_updated;
		if ((ret = informer_start(c->kcfg, &copts, &o[i], &c->inf[i])) < 0) {
			log_error("cannot start the informer of %s: %s", o[i].path, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static void controller_metrics(struct controller *c)
{
	struct metrics *m = &c->metrics;

	c->m_reconciles = metrics_add(m, "shellaudit_controller_reconciles_total",
				      "Node and policy syncs run.", 0);
	c->m_errors = metrics_add(m, "shellaudit_controller_reconcile_errors_total",
				  "Syncs that failed and were retried with backoff.", 0);
	c->m_depth = metrics_add(m, "shellaudit_controller_workqueue_depth",
				 "Keys waiting in the work queue.", 1);
	c->m_restarts = metrics_add(m, "shellaudit_controller_watch_restarts_total",
				    "Watches that broke and resumed, and relists.", 0);
	c->m_leader = metrics_add(m, "shellaudit_controller_leader",
				  "1 while this replica holds the lease.", 1);
	c->m_writes = metrics_add(m, "shellaudit_controller_writes_total",
				  "ShellAuditNode and policy status writes.", 0);
	c->m_deleted = metrics_add(m, "shellaudit_controller_records_deleted_total",
				   "AuditRecords deleted after their retention.", 0);
	c->m_resolves = metrics_add(m, "shellaudit_controller_resolutions_total",
				    "Full resolutions of policies against pods.", 0);
}

static void controller_update_gauges(struct controller *c)
{
	struct informer_stats st;
	double restarts = 0;
	int i;

	for (i = 0; i < CTL_NINFORMERS; i++) {
		informer_stats(c->inf[i], &st);
		restarts += (double)(st.watch_restarts + st.relists);
	}
	c->m_restarts->value = restarts;
	c->m_depth->value = (double)workqueue_len(&c->queue);
	c->m_leader->value = c->leader;
}

int controller_run(const struct controller_config *cfg)
{
	struct controller *c = calloc(1, sizeof(*c));
	struct lease_opts lo = { 0 };
	struct httpd *http = NULL;
	struct pollfd fds[CTL_NINFORMERS + 2];
	sigset_t mask;
	char err[512];
	long next_lease = 0, now, wait;
	int sfd = -1, ret, i;
	bool stop = false;

	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	workqueue_init(&c->queue, 200, 60000);
	hmap_init_free(&c->invalid, free);
	controller_metrics(c);
	tokens_init(&c->writes, (double)cfg->writes_per_second, 2.0 * cfg->writes_per_second,
		    clock_now_ms());
	ret = cfg->kubeconfig ? kubeconfig_load(cfg->kubeconfig, NULL, &c->kcfg, err, sizeof(err)) :
				kubeconfig_in_cluster(NULL, &c->kcfg, err, sizeof(err));
	if (ret < 0) {
		log_error("cannot configure the API client: %s", err);
		goto out;
	}
	if ((ret = kube_client_new(c->kcfg, NULL, &c->client)) < 0)
		goto out;
	lo.ns = cfg->namespace;
	lo.name = "shellaudit-controller";
	lo.identity = cfg->identity;
	lo.duration_s = cfg->lease_duration_s;
	lo.renew_deadline_s = cfg->lease_duration_s * 2 / 3;
	lo.retry_period_s = cfg->lease_duration_s / 7 > 0 ? cfg->lease_duration_s / 7 : 1;
	if ((ret = lease_new(c->client, &lo, &c->lease)) < 0)
		goto out;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		ret = -errno;
		goto out;
	}
	{
		struct httpd_handlers h = { NULL, controller_ready, &c->metrics, c };

		if (cfg->port && (ret = httpd_new(NULL, cfg->port, &h, &http)) < 0)
			goto out;
	}
	if ((ret = controller_start_informers(c)) < 0)
		goto out;
	log_with(LOG_INFO, LOG_KV("identity", cfg->identity, "version", SHELLAUDIT_VERSION),
		 "controller started");
	while (!stop) {
		now = clock_now_ms();
		wait = CTL_LOOP_MAX_MS;
		if (next_lease - now < wait)
			wait = next_lease - now;
		if (c->leader && controller_synced(c)) {
			long q = workqueue_next_ms(&c->queue);

			if (q >= 0 && q < wait)
				wait = q;
			if (c->dirty)
				wait = 50; /* gather a burst of events, then resolve once */
		}
		for (i = 0; i < CTL_NINFORMERS; i++)
			fds[i] = (struct pollfd){ informer_fd(c->inf[i]), POLLIN, 0 };
		fds[i++] = (struct pollfd){ sfd, POLLIN, 0 };
		fds[i++] = (struct pollfd){ http ? httpd_fd(http) : -1, POLLIN, 0 };
		poll(fds, (nfds_t)i, wait > 0 ? (int)wait : 0);
		if (fds[CTL_NINFORMERS].revents & POLLIN)
			stop = true;
		if (http && fds[CTL_NINFORMERS + 1].revents & POLLIN)
			httpd_process(http);
		for (i = 0; i < CTL_NINFORMERS; i++)
			informer_process(c->inf[i]);
		now = clock_now_ms();
		if (now >= next_lease) {
			bool was = c->leader;

			c->leader = lease_tick(c->lease) == 1;
			next_lease = now + lo.retry_period_s * 1000L;
			if (c->leader && !was) {
				log_with(LOG_INFO, LOG_KV("identity", cfg->identity), "leading");
				c->dirty = true;
			} else if (!c->leader && was) {
				log_with(LOG_WARN, LOG_KV("identity", cfg->identity),
					 "lost leadership; standing by");
			}
		}
		if (c->leader && controller_synced(c)) {
			if (c->dirty) {
				c->dirty = false;
				if (controller_resolve(c) < 0)
					c->dirty = true;
			}
			controller_work(c);
			if (now >= c->next_retention_ms) {
				retention_pass(c);
				c->next_retention_ms = now + cfg->retention_period_s * 1000L;
			}
		}
		controller_update_gauges(c);
	}
	log_info("shutting down");
	ret = 0;
out:
	if (c->lease) {
		lease_release(c->lease);
		lease_free(c->lease);
	}
	for (i = 0; i < CTL_NINFORMERS; i++)
		informer_stop(c->inf[i]);
	httpd_free(http);
	if (sfd >= 0)
		close(sfd);
	if (c->have_resolution)
		resolve_clear(&c->res);
	controller_free_policies(c);
	hmap_clear(&c->invalid);
	workqueue_clear(&c->queue);
	kube_client_free(c->client);
	kubeconfig_free(c->kcfg);
	free(c);
	return ret;
}
