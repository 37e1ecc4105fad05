// SPDX-License-Identifier: Apache-2.0
/*
 * The controller's loop (lib/loop.c) and what it owns: the informers'
 * caches, the resolution, the work queue and the write token bucket.
 *  - Before each sleep the loop resolves what the informers' events
 *    marked (informers.c), then runs the ready keys of the work queue.
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
#define CTL_CONFLICT_RETRY_MS 250
/* The loop stays alive while it beats; a wedged loop fails /healthz. */
#define CTL_STALE_MS 60000

/* The value of an in-flight key that was queued again meanwhile. */
static const char ctl_again;

bool controller_take_write(struct controller *c)
{
	return tokens_take(&c->writes, clock_now_ms());
}

bool controller_take_status_write(struct controller *c)
{
	long now = clock_now_ms();

	if (tokens_available(&c->status_writes, now) < 1 || !tokens_take(&c->writes, now))
		return false;
	return tokens_take(&c->status_writes, now);
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
			/* No token for this key: the others may still go. */
			long now = clock_now_ms(), w = tokens_wait_ms(&c->writes, now);

			if (!strncmp(key, "policy/", 7) &&
			    tokens_wait_ms(&c->status_writes, now) > w)
				w = tokens_wait_ms(&c->status_writes, now);
			workqueue_add(&c->queue, key, w + 1);
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

	retention_clock(c, j->date);
	if (!strncmp(j->key, "clock/", 6)) {
		retention_clock_done(c, j);
		return;
	}
	if (!strncmp(j->key, "event/", 6)) {
		storage_event_done(c, j);
		return;
	}
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
		controller_enqueue_policies(c);
	} else if (!c->leader && was) {
		log_with(LOG_WARN, LOG_KV("identity", c->cfg.identity),
			 "lost leadership; standing by");
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

	controller_resolve(c);
	storage_sync(c);
	ctl_dispatch(c);
	if (ctl_can_write(c) && informer_synced(c->inf[CTL_RECORDS]) &&
	    now >= c->next_retention_ms) {
		retention_pass(c);
		c->next_retention_ms = now + c->cfg.retention_period_s * 1000L;
	}
	ctl_update_gauges(c);
	httpd_beat(c->http, controller_synced(c));
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
	c->m_resolves =
		metrics_add(m, "shellaudit_controller_resolutions_total",
			    "Full resolutions (every pod against a new set of policies).", 0);
	c->m_pod_resolves = metrics_add(m, "shellaudit_controller_pod_resolutions_total",
					"Single pods re-resolved after their own event.", 0);
	c->m_conflicts = metrics_add(m, "shellaudit_controller_write_conflicts_total",
				     "Writes refused with 409 (computed from an older version) "
				     "and compared again.", 0);
	c->m_throttled = metrics_add(m, "shellaudit_controller_writes_throttled_total",
				     "Writes refused with 429 and retried after Retry-After.", 0);
	c->m_busiest =
		metrics_add(m, "shellaudit_controller_loop_busiest_seconds",
			    "The longest loop turn (time between two waits) since start.", 1);
	c->m_records = metrics_add(m, "shellaudit_controller_auditrecords",
				   "AuditRecords known, whose expiry is kept.", 1);
	c->m_record_bytes =
		metrics_add(m, "shellaudit_controller_record_bytes",
			    "Bytes of the AuditRecords known, as their agents sent them.", 1);
	c->m_record_budget =
		metrics_add(m, "shellaudit_controller_record_bytes_budget",
			    "The cluster's AuditRecord storage budget (--storage-budget).", 1);
	c->m_budget_exceeded =
		metrics_add(m, "shellaudit_controller_storage_budget_exceeded",
			    "1 while the cluster's AuditRecord budget is past its mark: the "
			    "namespaces over their fair share of it are held.",
			    1);
	c->m_namespaces_held =
		metrics_add(m, "shellaudit_controller_namespaces_held",
			    "Namespaces whose new AuditRecords the cluster's budget holds "
			    "(over their fair share of it, or past its ceiling).",
			    1);
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
	controller_init_resolver(c);
	budget_init(&c->budget, cfg->storage_budget);
	resolver_set_held(&c->res, storage_held, c);
	c->policies_dirty = true;
	ctl_metrics(c);
	c->m_record_budget->value = (double)cfg->storage_budget;
	if (c->cfg.write_burst <= 0)
		c->cfg.write_burst = 2 * c->cfg.writes_per_second;
	/* After a quiet time, --write-burst writes go out as fast as the
	 * writers get answers (a policy change that re-targets every node),
	 * then the rate. */
	tokens_init(&c->writes, (double)cfg->writes_per_second, (double)c->cfg.write_burst,
		    clock_now_ms());
	tokens_init(&c->status_writes,
		    cfg->writes_per_second / 4.0 > 1 ? cfg->writes_per_second / 4.0 : 1,
		    c->cfg.write_burst / 4.0 > 2 ? c->cfg.write_burst / 4.0 : 2, clock_now_ms());
	if ((ret = records_new(&c->records)) < 0 || (ret = loop_new(&c->loop)) < 0)
		goto out;
	records_set_budget(c->records, &c->budget);
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
	/* The session webhook and audit receiver run on their own threads
	 * (sessiond.h), started once SIGTERM is blocked (threads inherit the
	 * mask; only the signalfd may take it) and before httpd, which serves
	 * the metrics they register. */
	c->cfg.sessions.metrics = &c->metrics;
	if ((ret = sessiond_start(&c->cfg.sessions, c->kcfg, &c->sessiond)) < 0)
		goto out;
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
	if ((ret = controller_start_informers(c)) < 0)
		goto out;
	log_with(LOG_INFO, LOG_KV("identity", cfg->identity, "version", SHELLAUDIT_VERSION),
		 "controller started");
	while (!c->stop)
		loop_turn(c->loop, CTL_LOOP_MAX_MS);
	log_info("shutting down");
	ret = 0;
out:
	/* The webhook and audit receiver first (they answer the API server
	 * whoever leads), then the writers: no write after the lease is given up. */
	sessiond_stop(c->sessiond);
	writer_stop(c->writer);
	lease_stop(c->lease);
	for (i = 0; i < CTL_NINFORMERS; i++)
		informer_cancel(c->inf[i]);
	for (i = 0; i < CTL_NINFORMERS; i++)
		informer_stop(c->inf[i]);
	httpd_stop(c->http);
	if (sfd >= 0)
		close(sfd);
	resolver_clear(&c->res);
	controller_free_policies(c->policies, c->npolicies);
	hmap_clear(&c->invalid);
	hmap_clear(&c->inflight);
	hmap_clear(&c->written);
	hmap_clear(&c->dirty_pods);
	hmap_clear(&c->dirty_ns);
	workqueue_clear(&c->queue);
	records_free(c->records);
	budget_clear(&c->budget);
	loop_free(c->loop);
	kubeconfig_free(c->kcfg);
	free(c);
	return ret;
}
