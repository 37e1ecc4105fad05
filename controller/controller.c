// SPDX-License-Identifier: Apache-2.0
/*
 * The controller's loop (lib/loop.c) and what it owns: the informers'
 * caches, the resolution, the work queue and the write token bucket.
 *  - Events only mark what they touch: a pod key, a namespace, or (a
 *    policy's spec changed) every pod. The loop re-resolves the marked
 *    pods before it sleeps, and the resolver queues the nodes and policies
 *    whose result changed. A status-only update of a policy and our own
 *    ShellAuditNode writes queue a comparison, never a resolution.
 *  - Writes go to the writer threads (writer.c), several at once, within
 *    the token bucket; results come back through writer_fd.
 *  - The Lease is renewed on its own thread (lib/lease.c), the HTTP
 *    endpoints are served on theirs (lib/httpd.c): no turn of this loop
 *    delays them.
 */
#include "controller.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "clock.h"
#include "util.h"

#define CTL_LOOP_MAX_MS 1000
#define CTL_RESYNC_MS (10 * 60 * 1000)
#define CTL_CONFLICT_RETRY_MS 250
/* The loop stays alive while it beats; a wedged loop fails /healthz. */
#define CTL_STALE_MS 60000

/* The value of an in-flight key that was queued again meanwhile. */
static const char ctl_again;

#define CTL_RECORDS_LIST_ACCEPT "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
#define CTL_RECORDS_WATCH_ACCEPT "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"

bool controller_take_write(struct controller *c)
{
	return tokens_take(&c->writes, clock_now_ms());
}

static const char *ctl_md_str(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), key));
}

static void ctl_enqueue(struct controller *c, const char *kind, const char *name, long delay_ms)
{
	char key[320];

	snprintf(key, sizeof(key), "%s/%s", kind, name);
	workqueue_add(&c->queue, key, delay_ms);
}

/* --- informer callbacks ------------------------------------------------------ */

static void ctl_policy_changed(const cJSON *obj, void *arg)
{
	(void)obj;
	((struct controller *)arg)->policies_dirty = true;
}

/* A status-only update (our own status write among them) needs a
 * comparison, not a resolution. */
static void ctl_policy_updated(const cJSON *old, const cJSON *obj, void *arg)
{
	struct controller *c = arg;
	const char *name = ctl_md_str(obj, "name");

	if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(old, "spec"),
			   cJSON_GetObjectItemCaseSensitive(obj, "spec"), true) ||
	    !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(
				   cJSON_GetObjectItemCaseSensitive(old, "metadata"), "generation"),
			   cJSON_GetObjectItemCaseSensitive(
				   cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "generation"),
			   true))
		c->policies_dirty = true;
	else if (name)
		ctl_enqueue(c, "policy", name, 0);
}

static void ctl_pod_mark(struct controller *c, const cJSON *pod)
{
	const char *ns = ctl_md_str(pod, "namespace"), *name = ctl_md_str(pod, "name");
	char key[512];

	/* A full pass is coming anyway. */
	if (c->policies_dirty || !ns || !name)
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	hmap_add(&c->dirty_pods, key);
}

static void ctl_pod_changed(const cJSON *obj, void *arg)
{
	ctl_pod_mark(arg, obj);
}

static void ctl_pod_updated(const cJSON *old, const cJSON *obj, void *arg)
{
	(void)old;
	ctl_pod_mark(arg, obj);
}

static char *ctl_pod_index(const cJSON *pod)
{
	const char *ns = ctl_md_str(pod, "namespace");

	return ns ? strdup(ns) : NULL;
}

static void ctl_ns_changed(const cJSON *obj, void *arg)
{
	struct controller *c = arg;
	const char *name = ctl_md_str(obj, "name");

	if (name && !c->policies_dirty)
		hmap_add(&c->dirty_ns, name);
}

static void ctl_ns_updated(const cJSON *old, const cJSON *obj, void *arg)
{
	const cJSON *ol = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(old, "metadata"),
							   "labels");
	const cJSON *nl = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
							   "labels");

	if (!cJSON_Compare(ol, nl, true) && !(!ol && !nl))
		ctl_ns_changed(obj, arg);
}

/* The Ready condition of the policies with targets on a node follows what
 * its ShellAuditNode says: queued a little later, so that a burst of node
 * events makes one status computation per policy. */
#define CTL_STATUS_DELAY_MS 300

static void ctl_san_event(struct controller *c, const cJSON *old, const cJSON *obj)
{
	static const char *const fields[] = { "specHash", "metadata", "status" };
	const char *name = ctl_md_str(obj, "name");
	bool ready_may_change = !old;
	size_t i;

	nodes_seen(c, obj);
	if (!name)
		return;
	ctl_enqueue(c, "node", name, 0);
	/* What Ready reads: generation, observedGeneration, the spec's digest. */
	for (i = 0; old && i < ARRAY_SIZE(fields); i++) {
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(old, fields[i]);
		const cJSON *b = cJSON_GetObjectItemCaseSensitive(obj, fields[i]);

		if (i == 1) {
			a = cJSON_GetObjectItemCaseSensitive(a, "generation");
			b = cJSON_GetObjectItemCaseSensitive(b, "generation");
		}
		if (!(a == NULL && b == NULL) && !cJSON_Compare(a, b, true))
			ready_may_change = true;
	}
	if (!ready_may_change)
		return;
	for (i = 0; i < c->npolicies; i++) {
		const struct resolve_result *res = resolve_policy(&c->res, c->policies[i]->name);

		if (res && hmap_has(&res->nodes, name))
			ctl_enqueue(c, "policy", c->policies[i]->name, CTL_STATUS_DELAY_MS);
	}
}

static void ctl_san_changed(const cJSON *obj, void *arg)
{
	ctl_san_event(arg, NULL, obj);
}

static void ctl_san_updated(const cJSON *old, const cJSON *obj, void *arg)
{
	ctl_san_event(arg, old, obj);
}

/* Namespaces: only labels matter. */
static cJSON *ctl_trim_ns(const cJSON *ns)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(ns, "metadata");
	cJSON *t = cJSON_CreateObject(), *tmd = cJSON_AddObjectToObject(t, "metadata");
	static const char *const keep[] = { "name", "resourceVersion", "labels" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keep); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, keep[i]);

		if (v)
			cJSON_AddItemToObject(tmd, keep[i], cJSON_Duplicate(v, 1));
	}
	return t;
}

/* Policies: all but managedFields and annotations (a kubectl
 * last-applied-configuration doubles an object). */
static cJSON *ctl_trim_policy(const cJSON *pol)
{
	cJSON *t = cJSON_Duplicate(pol, 1), *md = cJSON_GetObjectItemCaseSensitive(t, "metadata");

	cJSON_DeleteItemFromObjectCaseSensitive(md, "managedFields");
	cJSON_DeleteItemFromObjectCaseSensitive(md, "annotations");
	return t;
}

static const cJSON *ctl_ns_labels(const char *ns, void *arg)
{
	struct controller *c = arg;
	const cJSON *obj = informer_get(c->inf[CTL_NAMESPACES], NULL, ns);

	if (!obj)
		return NULL;
	/* A namespace without labels still matches an empty selector. */
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"),
						"labels");
}

static void ctl_touch(enum resolve_kind kind, const char *name, void *arg)
{
	if (kind == RESOLVE_NODE)
		ctl_enqueue(arg, "node", name, 0);
	else
		ctl_enqueue(arg, "policy", name, CTL_STATUS_DELAY_MS);
}

/* --- resolution ------------------------------------------------------------------ */

struct ctl_collect {
	const cJSON **items;
	size_t n, cap;
};

static void ctl_collect(const cJSON *obj, void *arg)
{
	struct ctl_collect *col = arg;
	const cJSON **p;

	if (col->n == col->cap) {
		col->cap = col->cap ? col->cap * 2 : 64;
		if (!(p = realloc(col->items, col->cap * sizeof(*p))))
			return;
		col->items = p;
	}
	col->items[col->n++] = obj;
}

static int ctl_cmp_policy(const void *a, const void *b)
{
	return strcmp((*(struct policy *const *)a)->name, (*(struct policy *const *)b)->name);
}

static void ctl_free_policies(struct policy **pols, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		policy_free(pols[i]);
	free(pols);
}

static void ctl_feed_pod(const cJSON *pod, void *arg)
{
	struct controller *c = arg;
	const char *ns = ctl_md_str(pod, "namespace"), *name = ctl_md_str(pod, "name");
	char key[512];

	if (!ns || !name)
		return;
	snprintf(key, sizeof(key), "%s/%s", ns, name);
	if (resolver_pod(&c->res, key, pod) < 0)
		log_with(LOG_ERROR, LOG_KV("pod", key), "cannot resolve: out of memory");
}

/* Parses the policies and resolves every pod against them. */
static int ctl_resolve_all(struct controller *c)
{
	struct ctl_collect pols = { 0 };
	struct policy **parsed;
	size_t i, n = 0;
	char err[512];

	hmap_clear(&c->invalid);
	informer_foreach(c->inf[CTL_POLICIES], ctl_collect, &pols);
	if (!(parsed = calloc(pols.n ? pols.n : 1, sizeof(*parsed)))) {
		free(pols.items);
		return -ENOMEM;
	}
	for (i = 0; i < pols.n; i++) {
		struct policy *p;

		if (policy_parse(pols.items[i], &p, err, sizeof(err)) == 0) {
			parsed[n++] = p;
		} else {
			const char *name = ctl_md_str(pols.items[i], "name");

			if (name) {
				log_with(LOG_WARN, LOG_KV("policy", name), "invalid spec: %s", err);
				hmap_put(&c->invalid, name, strdup(err), NULL);
				ctl_enqueue(c, "policy", name, 0);
			}
		}
	}
	free(pols.items);
	qsort(parsed, n, sizeof(*parsed), ctl_cmp_policy);
	if (resolver_set_policies(&c->res, parsed, n) < 0) {
		resolver_set_policies(&c->res, NULL, 0);
		ctl_free_policies(parsed, n);
		ctl_free_policies(c->policies, c->npolicies);
		c->policies = NULL;
		c->npolicies = 0;
		return -ENOMEM;
	}
	ctl_free_policies(c->policies, c->npolicies);
	c->policies = parsed;
	c->npolicies = n;
	informer_foreach(c->inf[CTL_PODS], ctl_feed_pod, c);
	nodes_enqueue_all(c);
	c->m_resolves->value++;
	return 0;
}

struct ctl_ns_pass {
	struct controller *c;
};

static void ctl_mark_pod(const cJSON *pod, void *arg)
{
	ctl_pod_mark(arg, pod);
}

static void ctl_mark_ns(const char *ns, void *value, void *arg)
{
	struct controller *c = arg;

	(void)value;
	informer_foreach_index(c->inf[CTL_PODS], ns, ctl_mark_pod, c);
}

static void ctl_resolve_pod(const char *key, void *value, void *arg)
{
	struct controller *c = arg;
	const char *slash = strchr(key, '/');
	char ns[256];
	const cJSON *pod;

	(void)value;
	if (!slash || (size_t)(slash - key) >= sizeof(ns))
		return;
	snprintf(ns, sizeof(ns), "%.*s", (int)(slash - key), key);
	pod = informer_get(c->inf[CTL_PODS], ns, slash + 1);
	if (resolver_pod(&c->res, key, pod) < 0)
		log_with(LOG_ERROR, LOG_KV("pod", key), "cannot resolve: out of memory");
	c->m_pod_resolves->value++;
}

static bool ctl_core_synced(const struct controller *c)
{
	int i;

	/* AuditRecords are not needed to program nodes or write status. */
	for (i = 0; i < CTL_NINFORMERS; i++)
		if (i != CTL_RECORDS && !informer_synced(c->inf[i]))
			return false;
	return true;
}

/* Re-resolves what changed since the last turn. */
static void ctl_resolve(struct controller *c)
{
	if (!ctl_core_synced(c))
		return;
	if (c->policies_dirty) {
		c->policies_dirty = false;
		hmap_clear(&c->dirty_pods);
		hmap_clear(&c->dirty_ns);
		if (ctl_resolve_all(c) < 0) {
			log_error("cannot resolve policies: out of memory");
			c->policies_dirty = true;
			return;
		}
		c->resolved = true;
		return;
	}
	if (c->dirty_ns.size) {
		hmap_foreach(&c->dirty_ns, ctl_mark_ns, c);
		hmap_clear(&c->dirty_ns);
	}
	if (c->dirty_pods.size) {
		hmap_foreach(&c->dirty_pods, ctl_resolve_pod, c);
		hmap_clear(&c->dirty_pods);
	}
}

/* --- work ------------------------------------------------------------------------ */

void controller_submit(struct controller *c, struct write_job *j)
{
	hmap_put(&c->inflight, j->key, HMAP_PRESENT, NULL);
	writer_submit(c->writer, j);
}

static bool ctl_can_write(struct controller *c)
{
	return c->leader && c->resolved && lease_valid(c->lease);
}

/* Runs the ready keys while writers are free: comparisons are cheap,
 * writes are submitted. */
static void ctl_dispatch(struct controller *c)
{
	size_t max = (size_t)c->cfg.writers * 2;
	char key[320];
	int ret, n = 0;

	if (!ctl_can_write(c) || c->dirty_pods.size || c->dirty_ns.size || c->policies_dirty)
		return;
	/* No token, no pop: a key is compared when it can also be written. */
	while (writer_pending(c->writer) < max && n++ < 10000 &&
	       tokens_available(&c->writes, clock_now_ms()) >= 1 &&
	       workqueue_pop(&c->queue, key, sizeof(key))) {
		void *v = hmap_get(&c->inflight, key);

		if (v) {
			/* Its write is under way: compare again once it is done. */
			hmap_put(&c->inflight, key, (void *)&ctl_again, NULL);
			continue;
		}
		if (!strncmp(key, "node/", 5))
			ret = nodes_sync(c, key + 5);
		else if (!strncmp(key, "policy/", 7))
			ret = status_sync(c, key + 7);
		else
			ret = 0;
		c->m_reconciles->value++;
		if (ret == -EAGAIN) {
			workqueue_add(&c->queue, key, tokens_wait_ms(&c->writes, clock_now_ms()) + 1);
			break;
		} else if (ret < 0) {
			c->m_errors->value++;
			workqueue_fail(&c->queue, key);
		} else if (ret == 0) {
			workqueue_forget(&c->queue, key);
		}
	}
}

/* What the queue does with a finished job's key. */
static void ctl_result(struct controller *c, struct write_job *j)
{
	void *again = hmap_del(&c->inflight, j->key);
	int ret;

	if (!strncmp(j->key, "record/", 7)) {
		if (retention_done(c, j->key, j) < 0)
			c->m_errors->value++;
		return;
	}
	if (!strncmp(j->key, "node/", 5))
		ret = nodes_done(c, j->key + 5, j);
	else if (!strncmp(j->key, "policy/", 7))
		ret = status_done(c, j->key + 7, j);
	else
		ret = 0;
	if (j->ret == 0)
		c->m_writes->value++;
	switch (j->ret) {
	case 0:
		workqueue_forget(&c->queue, j->key);
		break;
	case -EBUSY:
	case -EEXIST:
		/* Conflict: our cache was behind. Compare again from the
		 * state the informer brings, without counting an error. */
		c->m_conflicts->value++;
		workqueue_add(&c->queue, j->key, jitter_ms(CTL_CONFLICT_RETRY_MS, 0.5));
		break;
	case -EAGAIN:
		/* 429: at least what the server asked for, and our backoff. */
		c->m_throttled->value++;
		workqueue_add(&c->queue, j->key,
			      jitter_ms(j->retry_after > 0 ? j->retry_after * 1000L : 1000, 0.2) +
				      (j->retry_after > 0 ? j->retry_after * 200L : 200));
		break;
	case WRITER_NOT_LEADER:
		/* Queued again when we lead again (nodes_enqueue_all). */
		break;
	default:
		if (ret < 0) {
			c->m_errors->value++;
			workqueue_fail(&c->queue, j->key);
		} else {
			workqueue_forget(&c->queue, j->key);
		}
		break;
	}
	if (again == &ctl_again)
		workqueue_add(&c->queue, j->key, 0);
}

/* --- loop handlers ---------------------------------------------------------------- */

static void ctl_on_informer(int fd, short revents, void *arg)
{
	(void)fd;
	(void)revents;
	informer_process(arg);
}

static void ctl_on_signal(int fd, short revents, void *arg)
{
	struct controller *c = arg;
	struct signalfd_siginfo si;

	(void)revents;
	if (read(fd, &si, sizeof(si)) > 0) {
		c->stop = true;
		loop_stop(c->loop);
	}
}

static void ctl_on_written(int fd, short revents, void *arg)
{
	struct controller *c = arg;
	struct write_job *j;

	(void)fd;
	(void)revents;
	while ((j = writer_done(c->writer))) {
		ctl_result(c, j);
		write_job_free(j);
	}
}

static void ctl_policy_key(const cJSON *obj, void *arg)
{
	const char *name = ctl_md_str(obj, "name");

	if (name)
		ctl_enqueue(arg, "policy", name, 0);
}

static void ctl_on_lease(int fd, short revents, void *arg)
{
	struct controller *c = arg;
	uint64_t cnt;
	bool was = c->leader;

	(void)revents;
	(void)!read(fd, &cnt, sizeof(cnt));
	c->leader = lease_is_leader(c->lease);
	if (c->leader && !was) {
		log_with(LOG_INFO, LOG_KV("identity", c->cfg.identity), "leading");
		/* Another replica may have written meanwhile: compare all. */
		nodes_enqueue_all(c);
		informer_foreach(c->inf[CTL_POLICIES], ctl_policy_key, c);
	} else if (!c->leader && was) {
		log_with(LOG_WARN, LOG_KV("identity", c->cfg.identity), "lost leadership; standing by");
	}
}

static void ctl_update_gauges(struct controller *c)
{
	struct informer_stats st;
	double restarts = 0;
	int i;

	for (i = 0; i < CTL_NINFORMERS; i++) {
		informer_stats(c->inf[i], &st);
		restarts += (double)(st.watch_restarts + st.relists);
	}
	c->m_restarts->value = restarts;
	c->m_depth->value = (double)(workqueue_len(&c->queue) + writer_pending(c->writer));
	c->m_leader->value = c->leader;
	c->m_busiest->value = (double)loop_busiest_ms(c->loop) / 1000.0;
	c->m_records->value = (double)records_count(c->records);
}

static long ctl_wait_ms(struct controller *c);

/* Before each sleep: resolve what changed, run the work, report; then
 * sleep until the next ready key or token at most. */
static long ctl_before_sleep(void *arg)
{
	struct controller *c = arg;
	long now = clock_now_ms();

	ctl_resolve(c);
	ctl_dispatch(c);
	if (ctl_can_write(c) && informer_synced(c->inf[CTL_RECORDS]) &&
	    now >= c->next_retention_ms) {
		retention_pass(c);
		c->next_retention_ms = now + c->cfg.retention_period_s * 1000L;
	}
	ctl_update_gauges(c);
	httpd_beat(c->http, ctl_core_synced(c));
	return ctl_wait_ms(c);
}

/* How long the loop may sleep: the next ready key, a token, retention. */
static long ctl_wait_ms(struct controller *c)
{
	long wait = CTL_LOOP_MAX_MS, q;

	if (!ctl_can_write(c))
		return wait;
	if (writer_pending(c->writer) < (size_t)c->cfg.writers * 2 &&
	    (q = workqueue_next_ms(&c->queue)) >= 0) {
		long t = tokens_wait_ms(&c->writes, clock_now_ms());

		if (t > q)
			q = t;
		if (q < wait)
			wait = q;
	}
	return wait;
}

/* --- start and stop -------------------------------------------------------------- */

static int ctl_start_informers(struct controller *c)
{
	const struct kube_client_opts copts = { .websocket = c->cfg.websocket };
	/* Records are listed and watched as metadata only (chunked: the
	 * websocket transport cannot ask for it), in small pages. */
	const struct kube_client_opts ropts = { .accept = CTL_RECORDS_LIST_ACCEPT,
						.watch_accept = CTL_RECORDS_WATCH_ACCEPT };
	struct informer_opts o[CTL_NINFORMERS] = {
		[CTL_POLICIES] = { .path = SHELLAUDIT_GROUP_PATH "/shellauditpolicies",
				   .transform = ctl_trim_policy, .on_add = ctl_policy_changed,
				   .on_update = ctl_policy_updated, .on_delete = ctl_policy_changed },
		[CTL_PODS] = { .path = "/api/v1/pods", .transform = resolve_trim_pod,
			       .index = ctl_pod_index, .on_add = ctl_pod_changed,
			       .on_update = ctl_pod_updated, .on_delete = ctl_pod_changed },
		[CTL_NAMESPACES] = { .path = "/api/v1/namespaces", .transform = ctl_trim_ns,
				     .on_add = ctl_ns_changed, .on_update = ctl_ns_updated,
				     .on_delete = ctl_ns_changed },
		[CTL_NODES] = { .path = SHELLAUDIT_GROUP_PATH "/shellauditnodes",
				.transform = nodes_trim, .on_add = ctl_san_changed,
				.on_update = ctl_san_updated, .on_delete = ctl_san_changed },
		[CTL_RECORDS] = { .path = SHELLAUDIT_GROUP_PATH "/auditrecords", .page_size = 500,
				  .no_cache = true, .on_add = records_seen,
				  .on_delete = records_gone },
	};
	int i, ret;

	for (i = 0; i < CTL_NINFORMERS; i++) {
		o[i].arg = i == CTL_RECORDS ? (void *)c->records : (void *)c;
		if (i != CTL_RECORDS)
			o[i].resync_ms = CTL_RESYNC_MS;
		ret = informer_start(c->kcfg, i == CTL_RECORDS ? &ropts : &copts, &o[i], &c->inf[i]);
		if (ret < 0) {
			log_error("cannot start the informer of %s: %s", o[i].path, strerror(-ret));
			return ret;
		}
		if ((ret = loop_fd_add(c->loop, informer_fd(c->inf[i]), POLLIN, ctl_on_informer,
				       c->inf[i])) < 0)
			return ret;
	}
	return 0;
}

static void ctl_metrics(struct controller *c)
{
	struct metrics *m = &c->metrics;

	c->m_reconciles = metrics_add(m, "shellaudit_controller_reconciles_total",
				      "Node and policy comparisons run.", 0);
	c->m_errors = metrics_add(m, "shellaudit_controller_reconcile_errors_total",
				  "Syncs that failed and were retried with backoff.", 0);
	c->m_depth = metrics_add(m, "shellaudit_controller_workqueue_depth",
				 "Keys waiting in the work queue or being written.", 1);
	c->m_restarts = metrics_add(m, "shellaudit_controller_watch_restarts_total",
				    "Watches that broke and resumed, and relists.", 0);
	c->m_leader = metrics_add(m, "shellaudit_controller_leader",
				  "1 while this replica holds the lease.", 1);
	c->m_writes = metrics_add(m, "shellaudit_controller_writes_total",
				  "ShellAuditNode and policy status writes that succeeded.", 0);
	c->m_deleted = metrics_add(m, "shellaudit_controller_records_deleted_total",
				   "AuditRecords deleted after their retention.", 0);
	c->m_resolves = metrics_add(m, "shellaudit_controller_resolutions_total",
				    "Full resolutions (every pod against a new set of policies).", 0);
	c->m_pod_resolves = metrics_add(m, "shellaudit_controller_pod_resolutions_total",
					"Single pods re-resolved after their own event.", 0);
	c->m_conflicts = metrics_add(m, "shellaudit_controller_write_conflicts_total",
				     "Writes refused with 409 (computed from an older version) "
				     "and compared again.", 0);
	c->m_throttled = metrics_add(m, "shellaudit_controller_writes_throttled_total",
				     "Writes refused with 429 and retried after Retry-After.", 0);
	c->m_busiest = metrics_add(m, "shellaudit_controller_loop_busiest_seconds",
				   "The longest loop turn (time between two waits) since start.", 1);
	c->m_records = metrics_add(m, "shellaudit_controller_auditrecords",
				   "AuditRecords known, whose expiry is kept.", 1);
}

int controller_run(const struct controller_config *cfg)
{
	struct controller *c = calloc(1, sizeof(*c));
	struct lease_opts lo = { 0 };
	struct httpd_opts ho = { 0 };
	sigset_t mask;
	char err[512];
	int sfd = -1, ret, i;

	if (!c)
		return -ENOMEM;
	/* A client that goes away must never kill us (every send has
	 * MSG_NOSIGNAL too; this covers the libraries). */
	signal(SIGPIPE, SIG_IGN);
	c->cfg = *cfg;
	if (c->cfg.writers <= 0)
		c->cfg.writers = 4;
	workqueue_init(&c->queue, 200, 60000);
	hmap_init_free(&c->invalid, free);
	hmap_init(&c->inflight);
	hmap_init_free(&c->written, free);
	hmap_init(&c->dirty_pods);
	hmap_init(&c->dirty_ns);
	resolver_init(&c->res, ctl_ns_labels, ctl_touch, c);
	c->policies_dirty = true;
	ctl_metrics(c);
	tokens_init(&c->writes, (double)cfg->writes_per_second, 2.0 * cfg->writes_per_second,
		    clock_now_ms());
	if ((ret = records_new(&c->records)) < 0 || (ret = loop_new(&c->loop)) < 0)
		goto out;
	ret = cfg->kubeconfig ? kubeconfig_load(cfg->kubeconfig, NULL, &c->kcfg, err, sizeof(err)) :
				kubeconfig_in_cluster(NULL, &c->kcfg, err, sizeof(err));
	if (ret < 0) {
		log_error("cannot configure the API client: %s", err);
		goto out;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		ret = -errno;
		goto out;
	}
	ho.addr = cfg->http_addr;
	ho.port = cfg->port;
	ho.metrics = &c->metrics;
	ho.stale_ms = CTL_STALE_MS;
	if (cfg->port && (ret = httpd_start(&ho, &c->http)) < 0) {
		log_with(LOG_ERROR, LOG_KV("address", cfg->http_addr ? cfg->http_addr : "*"),
			 "cannot serve HTTP on port %d: %s", cfg->port, strerror(-ret));
		goto out;
	}
	lo.ns = cfg->namespace;
	lo.name = "shellaudit-controller";
	lo.identity = cfg->identity;
	lo.duration_s = cfg->lease_duration_s;
	lo.renew_deadline_s = cfg->lease_duration_s * 2 / 3;
	lo.retry_period_s = cfg->lease_duration_s / 7 > 0 ? cfg->lease_duration_s / 7 : 1;
	if ((ret = lease_start(c->kcfg, &lo, &c->lease)) < 0 ||
	    (ret = writer_start(c->kcfg, (int)c->cfg.writers, c->lease, &c->writer)) < 0)
		goto out;
	if ((ret = loop_fd_add(c->loop, sfd, POLLIN, ctl_on_signal, c)) < 0 ||
	    (ret = loop_fd_add(c->loop, lease_fd(c->lease), POLLIN, ctl_on_lease, c)) < 0 ||
	    (ret = loop_fd_add(c->loop, writer_fd(c->writer), POLLIN, ctl_on_written, c)) < 0)
		goto out;
	loop_before_sleep(c->loop, ctl_before_sleep, c);
	if ((ret = ctl_start_informers(c)) < 0)
		goto out;
	log_with(LOG_INFO, LOG_KV("identity", cfg->identity, "version", SHELLAUDIT_VERSION),
		 "controller started");
	while (!c->stop)
		loop_turn(c->loop, CTL_LOOP_MAX_MS);
	log_info("shutting down");
	ret = 0;
out:
	/* The writers first: no write after the lease is given up. */
	writer_stop(c->writer);
	lease_stop(c->lease);
	for (i = 0; i < CTL_NINFORMERS; i++)
		informer_stop(c->inf[i]);
	httpd_stop(c->http);
	if (sfd >= 0)
		close(sfd);
	resolver_clear(&c->res);
	ctl_free_policies(c->policies, c->npolicies);
	hmap_clear(&c->invalid);
	hmap_clear(&c->inflight);
	hmap_clear(&c->written);
	hmap_clear(&c->dirty_pods);
	hmap_clear(&c->dirty_ns);
	workqueue_clear(&c->queue);
	records_free(c->records);
	loop_free(c->loop);
	kubeconfig_free(c->kcfg);
	free(c);
	return ret;
}
