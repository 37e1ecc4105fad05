// SPDX-License-Identifier: Apache-2.0
/* The session webhook and the audit receiver (see sessiond.h). The
 * sessions thread owns the informer of ShellAuditNodes (it alone writes the
 * pod index), the certificates, its own API client, the audit queue's
 * consumer side and the deletion of expired sessions. Connection threads
 * share with it the pod index (its lock), the client pool, the audit queue
 * and the latency ring (one mutex each). */
#include "sessiond.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "admission.h"
#include "auditlog.h"
#include "clock.h"
#include "informer.h"
#include "kube.h"
#include "log.h"
#include "podindex.h"
#include "timefmt.h"
#include "tlsd.h"
#include "webhookcert.h"

#define SD_SESSIONS_PATH "/apis/shellaudit.io/v1alpha1/shellauditsessions"
#define SD_NODES_PATH "/apis/shellaudit.io/v1alpha1/shellauditnodes"
#define SD_POOL_MAX 64
#define SD_QUEUE_MAX 4096
#define SD_LATENCIES 1024
#define SD_FILE_MAX (1 << 20)
/* An API call a connection thread makes while the API server waits on
 * the answer (the configuration's timeoutSeconds is 3). */
#define SD_CALL_TIMEOUT_MS 2000
#define SD_CERT_CHECK_MS 60000
#define SD_BUNDLE_RETRY_MS 5000
#define SD_REFUSAL_LOG_MS 10000

struct sd_patch {
	char session[80];
	cJSON *audit;
	struct sd_patch *next;
};

struct sessiond {
	struct sessiond_config cfg;
	const struct kubeconfig *kcfg;
	char *webhook_ca, *audit_ca; /* client CA PEM */
	struct tlsd *webhook, *audit;
	struct webhookcert *wc;
	struct podindex *pods;
	struct informer *nodes;
	struct kube_client *client; /* the sessions thread's */
	pthread_t thread;
	bool started;
	int stopfd;

	pthread_mutex_t pool_mu; /* clients for connection threads */
	struct kube_client *pool[SD_POOL_MAX];
	size_t npool;

	pthread_mutex_t queue_mu; /* audit status writes */
	struct sd_patch *qhead, *qtail;
	size_t qlen;
	int queuefd;

	pthread_mutex_t lat_mu; /* the last admissions' handling times, seconds */
	double lat[SD_LATENCIES];
	size_t nlat, ilat;

	atomic_long refused_logged_ms;
	struct metric *m_reviews, *m_recorded, *m_untargeted, *m_refused, *m_errors, *m_p50, *m_p99,
		*m_max, *m_audit_events, *m_audit_dropped, *m_expired, *m_busy;
	unsigned long busy_said; /* refusals said in the log so far */
	long busy_said_ms;
};

static void sd_count(struct metric *m)
{
	if (m)
		m->value += 1;
}

/* --- clients for the connection threads ------------------------------------ */

static struct kube_client *sd_take(struct sessiond *d)
{
	struct kube_client_opts o = { .timeout_ms = SD_CALL_TIMEOUT_MS,
				      .connect_timeout_ms = SD_CALL_TIMEOUT_MS };
	struct kube_client *c = NULL;

	pthread_mutex_lock(&d->pool_mu);
	if (d->npool)
		c = d->pool[--d->npool];
	pthread_mutex_unlock(&d->pool_mu);
	if (!c && kube_client_new(d->kcfg, &o, &c) < 0)
		return NULL;
	return c;
}

static void sd_give(struct sessiond *d, struct kube_client *c)
{
	pthread_mutex_lock(&d->pool_mu);
	if (d->npool < SD_POOL_MAX) {
		d->pool[d->npool++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&d->pool_mu);
	kube_client_free(c);
}

/* --- answers ------------------------------------------------------------------- */

static void sd_answer(struct tlsd_response *resp, int code, const char *text)
{
	resp->code = code;
	resp->content_type = "text/plain";
	resp->body = strdup(text);
	resp->len = resp->body ? strlen(resp->body) : 0;
}

/* Whether the peer is one the flags allow: a client certificate of the CA
 * with one of the names (any name when none are given). */
static bool sd_peer_ok(const struct tlsd_request *req, const char *names)
{
	const char *p = names;
	size_t n = strlen(req->peer_cn);

	if (!req->peer_verified)
		return false;
	if (!names || !*names)
		return true;
	while (*p) {
		size_t len = strcspn(p, ",");

		if (len == n && !strncmp(p, req->peer_cn, n))
			return true;
		p += len + (p[len] == ',');
	}
	return false;
}

/* A peer without the right certificate is refused, and said so at most
 * every ten seconds (a flood must not flood the log). */
static void sd_refuse(struct sessiond *d, const struct tlsd_request *req,
		      struct tlsd_response *resp, const char *what)
{
	long now = clock_now_ms(), last = atomic_load(&d->refused_logged_ms);

	sd_count(d->m_refused);
	if (now - last >= SD_REFUSAL_LOG_MS &&
	    atomic_compare_exchange_strong(&d->refused_logged_ms, &last, now))
		log_with(LOG_WARN,
			 LOG_KV("peer", req->peer_addr, "cn",
				req->peer_verified ? req->peer_cn : ""),
			 "%s refused: not the API server's client certificate (a forged request?)",
			 what);
	sd_answer(resp, 403, "a client certificate of the API server is required\n");
}

static void sd_latency(struct sessiond *d, uint64_t start_ns)
{
	double s = (double)(clock_now_ns() - start_ns) / 1e9;

	pthread_mutex_lock(&d->lat_mu);
	d->lat[d->ilat] = s;
	d->ilat = (d->ilat + 1) % SD_LATENCIES;
	if (d->nlat < SD_LATENCIES)
		d->nlat++;
	pthread_mutex_unlock(&d->lat_mu);
}

/* --- the webhook --------------------------------------------------------------- */

/* The pod a review names, read when its container must be found: 1 found
 * and out filled, 0 no default container, <0 the API failed. */
static int sd_default_container(struct kube_client *c, const struct admission_session *s, char *out,
				size_t cap)
{
	struct kube_response resp = { 0 };
	char path[512];
	cJSON *pod = NULL;
	int ret;

	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", s->ns, s->pod);
	ret = kube_get(c, path, &pod, &resp);
	if (ret < 0)
		log_with(LOG_WARN, LOG_KV("ns", s->ns, "pod", s->pod),
			 "cannot read the pod for its default container: %s", resp.message);
	kube_response_clear(&resp);
	if (ret < 0)
		return ret;
	ret = admission_default_container(pod, out, cap) == 0;
	cJSON_Delete(pod);
	return ret;
}

/* Whether session i is of an audited pod (filling node and pod UID): 1 to
 * record it, 0 not audited, <0 unknown. */
static int sd_resolve(struct sessiond *d, struct kube_client *c, struct admission_review *r,
		      size_t i)
{
	struct admission_session *s = &r->s[i];
	struct podindex_pod p;
	int ret;

	switch (s->kind) {
	case ADMISSION_DEBUGPOD:
		/* A pod just made: no policy was resolved for it yet, and its
		 * session lives only minutes. */
		return s->node[0] ? 1 : 0;
	case ADMISSION_EXEC:
	case ADMISSION_ATTACH:
		if (!s->container_named &&
		    (ret = sd_default_container(c, s, s->container, sizeof(s->container))) <= 0)
			return ret;
		if (!podindex_lookup(d->pods, s->ns, s->pod, s->container, &p) ||
		    !p.container_audited)
			return 0;
		break;
	case ADMISSION_PORTFORWARD:
	case ADMISSION_EPHEMERAL:
		/* The ephemeral container is not a target yet: its pod is. */
		if (!podindex_lookup(d->pods, s->ns, s->pod, NULL, &p))
			return 0;
		break;
	}
	snprintf(s->node, sizeof(s->node), "%s", p.node);
	if (!s->pod_uid[0])
		snprintf(s->pod_uid, sizeof(s->pod_uid), "%s", p.uid);
	return 1;
}

static int sd_record(struct sessiond *d, struct kube_client *c, const struct admission_review *r,
		     size_t i)
{
	const struct admission_session *s = &r->s[i];
	bool debug = s->kind == ADMISSION_EPHEMERAL || s->kind == ADMISSION_DEBUGPOD;
	struct kube_response resp = { 0 };
	struct timespec now;
	cJSON *obj;
	int ret;

	clock_gettime(CLOCK_REALTIME, &now);
	obj = admission_session_object(r, i, &now,
				       debug ? d->cfg.debug_session_ttl_s : d->cfg.session_ttl_s,
				       d->cfg.audit_expected);
	ret = kube_create(c, SD_SESSIONS_PATH, obj, NULL, &resp);
	cJSON_Delete(obj);
	if (ret == -EEXIST)
		ret = 0; /* the same review again */
	if (ret < 0)
		log_with(LOG_ERROR,
			 LOG_KV("session", s->name, "ns", s->ns, "pod", s->pod, "container",
				s->container),
			 "cannot write the pending session (its records will say Unattributed): %s",
			 resp.message);
	else
		log_with(LOG_INFO,
			 LOG_KV("session", s->name, "user",
				cJSON_GetStringValue(
					cJSON_GetObjectItemCaseSensitive(r->user, "username")),
				"kind", admission_kind_name(s->kind), "ns", s->ns, "pod", s->pod,
				"container", s->container, "node", s->node),
			 "session admitted");
	kube_response_clear(&resp);
	return ret;
}

static void sd_admit(void *arg, const struct tlsd_request *req, struct tlsd_response *resp)
{
	struct sessiond *d = arg;
	uint64_t start = clock_now_ns();
	struct admission_review r;
	struct kube_client *c = NULL;
	const char *recorded = NULL;
	char err[128];
	size_t i;

	if (strcmp(req->path, "/admit")) {
		sd_answer(resp, 404, "not found\n");
		return;
	}
	if (strcmp(req->method, "POST")) {
		sd_answer(resp, 405, "POST an AdmissionReview\n");
		return;
	}
	if (d->webhook_ca && !sd_peer_ok(req, d->cfg.webhook_client_names)) {
		sd_refuse(d, req, resp, "admission review");
		return;
	}
	sd_count(d->m_reviews);
	if (admission_parse(req->body, req->body_len, &r, err, sizeof(err)) < 0) {
		sd_answer(resp, 400, err);
		return;
	}
	for (i = 0; i < r.n; i++) {
		int ret;

		if (!c && !(c = sd_take(d))) {
			sd_count(d->m_errors);
			break;
		}
		ret = sd_resolve(d, c, &r, i);
		if (ret == 0) {
			sd_count(d->m_untargeted);
			continue;
		}
		if (ret < 0 || sd_record(d, c, &r, i) < 0) {
			sd_count(d->m_errors);
			continue;
		}
		sd_count(d->m_recorded);
		if (!recorded)
			recorded = r.uid;
	}
	if (c)
		sd_give(d, c);
	resp->body = admission_response(r.uid, recorded);
	resp->len = resp->body ? strlen(resp->body) : 0;
	if (!resp->body)
		sd_answer(resp, 500, "out of memory\n");
	admission_review_clear(&r);
	sd_latency(d, start);
}

/* --- the audit receiver ------------------------------------------------------ */

static void sd_enqueue(const char *session, cJSON *audit, void *arg)
{
	struct sessiond *d = arg;
	struct sd_patch *p;
	uint64_t one = 1;

	pthread_mutex_lock(&d->queue_mu);
	if (d->qlen == SD_QUEUE_MAX || !(p = calloc(1, sizeof(*p)))) {
		pthread_mutex_unlock(&d->queue_mu);
		cJSON_Delete(audit);
		sd_count(d->m_audit_dropped);
		return;
	}
	snprintf(p->session, sizeof(p->session), "%s", session);
	p->audit = audit;
	if (d->qtail)
		d->qtail->next = p;
	else
		d->qhead = p;
	d->qtail = p;
	d->qlen++;
	pthread_mutex_unlock(&d->queue_mu);
	sd_count(d->m_audit_events);
	(void)!write(d->queuefd, &one, sizeof(one));
}

static void sd_audit(void *arg, const struct tlsd_request *req, struct tlsd_response *resp)
{
	struct sessiond *d = arg;
	char err[128];

	if (strcmp(req->method, "POST")) {
		sd_answer(resp, 405, "POST an audit EventList\n");
		return;
	}
	if (!sd_peer_ok(req, d->cfg.audit_client_names)) {
		sd_refuse(d, req, resp, "audit events");
		return;
	}
	/* Answered at once: the writes are the sessions thread's. */
	if (auditlog_parse(req->body, req->body_len, sd_enqueue, d, err, sizeof(err)) < 0) {
		sd_answer(resp, 400, err);
		return;
	}
	sd_answer(resp, 200, "{}");
	resp->content_type = "application/json";
}

/* --- the sessions thread -------------------------------------------------------- */

static const char *sd_name(const cJSON *obj)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name"));
}

static void sd_node_set(const cJSON *obj, void *arg)
{
	struct sessiond *d = arg;

	if (sd_name(obj))
		podindex_set_node(d->pods, sd_name(obj), obj);
}

static void sd_node_update(const cJSON *old, const cJSON *obj, void *arg)
{
	(void)old;
	sd_node_set(obj, arg);
}

static void sd_node_gone(const cJSON *obj, void *arg)
{
	struct sessiond *d = arg;

	if (sd_name(obj))
		podindex_set_node(d->pods, sd_name(obj), NULL);
}

static void sd_write_status(struct sessiond *d)
{
	struct sd_patch *p;

	for (;;) {
		struct kube_response resp = { 0 };
		char path[256];
		cJSON *patch;
		int ret;

		pthread_mutex_lock(&d->queue_mu);
		p = d->qhead;
		if (p) {
			d->qhead = p->next;
			if (!d->qhead)
				d->qtail = NULL;
			d->qlen--;
		}
		pthread_mutex_unlock(&d->queue_mu);
		if (!p)
			return;
		patch = cJSON_CreateObject();
		cJSON_AddItemToObject(cJSON_AddObjectToObject(patch, "status"), "audit", p->audit);
		snprintf(path, sizeof(path), SD_SESSIONS_PATH "/%s/status", p->session);
		ret = kube_patch(d->client, path, patch, NULL, &resp);
		if (ret == -ENOENT)
			log_with(LOG_DEBUG, LOG_KV("session", p->session),
				 "audit event of a session that is gone (or was never recorded)");
		else if (ret < 0)
			log_with(LOG_WARN, LOG_KV("session", p->session),
				 "cannot write what the audit log says of the session: %s",
				 resp.message);
		kube_response_clear(&resp);
		cJSON_Delete(patch);
		free(p);
	}
}

struct sd_gc {
	struct sessiond *d;
	time_t now;
	cJSON *expired; /* [name, uid] pairs */
};

static int sd_gc_item(const cJSON *item, void *arg)
{
	struct sd_gc *g = arg;
	const char *exp = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(item, "spec"), "expiresAt"));
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(item, "metadata");
	struct timespec t;
	cJSON *pair;

	/* A session without a readable expiry is no session of ours to keep. */
	if (exp && timefmt_parse(exp, &t) == 0 && t.tv_sec > g->now)
		return 0;
	pair = cJSON_CreateArray();
	cJSON_AddItemToArray(
		pair,
		cJSON_CreateString(
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name")) ?: ""));
	cJSON_AddItemToArray(
		pair,
		cJSON_CreateString(
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "uid")) ?: ""));
	cJSON_AddItemToArray(g->expired, pair);
	return 0;
}

/* Deletes the sessions past their expiry, by the API server's clock. */
static void sd_gc(struct sessiond *d)
{
	struct kube_response resp = { 0 };
	struct sd_gc g = { d, 0, cJSON_CreateArray() };
	const cJSON *pair;
	char *rv = NULL;
	int ret, n = 0;

	g.now = time(NULL);
	ret = kube_list(d->client, SD_SESSIONS_PATH, 500, sd_gc_item, &g, &rv, &resp);
	if (resp.date)
		g.now = (time_t)resp.date;
	free(rv);
	if (ret < 0) {
		log_with(LOG_WARN, NULL,
			 "cannot list ShellAuditSessions to delete expired ones: %s", resp.message);
		kube_response_clear(&resp);
		cJSON_Delete(g.expired);
		return;
	}
	kube_response_clear(&resp);
	cJSON_ArrayForEach(pair, g.expired) {
		const char *name = cJSON_GetStringValue(cJSON_GetArrayItem(pair, 0));
		const char *uid = cJSON_GetStringValue(cJSON_GetArrayItem(pair, 1));
		char path[256];

		if (!name || !*name)
			continue;
		snprintf(path, sizeof(path), SD_SESSIONS_PATH "/%s", name);
		ret = kube_delete(d->client, path, uid && *uid ? uid : NULL, NULL, &resp);
		if (ret == 0) {
			n++;
			sd_count(d->m_expired);
		} else if (ret != -ENOENT && ret != -EBUSY) {
			log_with(LOG_WARN, LOG_KV("session", name),
				 "cannot delete an expired session: %s", resp.message);
		}
		kube_response_clear(&resp);
	}
	if (n)
		log_with(LOG_DEBUG, NULL, "deleted %d expired ShellAuditSessions", n);
	cJSON_Delete(g.expired);
}

static int sd_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The TLS servers' refusals (connections all taken, bodies in flight at
 * their budget: a flood of peers, or a slow one holding many): counted,
 * and said in the log once a minute at most while they go on. */
static void sd_busy(struct sessiond *d)
{
	struct tlsd_stats w = { 0 }, a = { 0 };
	unsigned long n;
	long now = clock_now_ms();

	if (d->webhook)
		tlsd_get_stats(d->webhook, &w);
	if (d->audit)
		tlsd_get_stats(d->audit, &a);
	n = w.refused_full + w.refused_busy + a.refused_full + a.refused_busy;
	if (d->m_busy)
		d->m_busy->value = (double)n;
	if (n > d->busy_said && now - d->busy_said_ms >= 60000) {
		log_warn("%lu requests to the webhook or the audit receiver refused since the last "
			 "line (all connections taken, or bodies in flight at their budget): a "
			 "flood of peers, or peers that send slowly",
			 n - d->busy_said);
		d->busy_said = n;
		d->busy_said_ms = now;
	}
}

static void sd_latency_gauges(struct sessiond *d)
{
	double v[SD_LATENCIES];
	size_t n;

	pthread_mutex_lock(&d->lat_mu);
	n = d->nlat;
	memcpy(v, d->lat, n * sizeof(v[0]));
	pthread_mutex_unlock(&d->lat_mu);
	sd_busy(d);
	if (!n || !d->m_p50)
		return;
	qsort(v, n, sizeof(v[0]), sd_cmp_double);
	d->m_p50->value = v[(n - 1) / 2];
	d->m_p99->value = v[(n - 1) * 99 / 100];
	d->m_max->value = v[n - 1];
}

/* The CA into the caBundle; the serving certificate renewed when due. */
static long sd_certs(struct sessiond *d, bool *bundled)
{
	char err[256];
	int ret;

	if ((ret = webhookcert_tick(d->wc, time(NULL), err, sizeof(err))) < 0)
		log_with(LOG_ERROR, NULL, "cannot renew the webhook's certificate: %s", err);
	else if (ret == 1 && tlsd_set_cert(d->webhook, webhookcert_leaf(d->wc)->cert_pem,
					   webhookcert_leaf(d->wc)->key_pem, err, sizeof(err)) < 0)
		log_with(LOG_ERROR, NULL, "cannot serve the renewed certificate: %s", err);
	else if (ret == 1)
		log_info("webhook serving certificate renewed");
	ret = webhookcert_patch(d->wc, d->client, d->cfg.webhook_config, time(NULL), err,
				sizeof(err));
	if (ret == 1)
		log_with(LOG_INFO, LOG_KV("validatingwebhookconfiguration", d->cfg.webhook_config),
			 "put the webhook's CA into the caBundle");
	if (ret >= 0) {
		*bundled = true;
		return SD_CERT_CHECK_MS;
	}
	/* Said once, then each retry at debug level until it works. */
	log_with(*bundled ? LOG_WARN : LOG_DEBUG,
		 LOG_KV("validatingwebhookconfiguration", d->cfg.webhook_config),
		 "cannot put the webhook's CA into the caBundle (the API server cannot call the "
		 "webhook until it can): %s",
		 ret == -ENOENT ? "no such configuration" : err);
	*bundled = false;
	return SD_BUNDLE_RETRY_MS;
}

static void *sd_thread(void *arg)
{
	struct sessiond *d = arg;
	long now, next_cert = 0, next_gc = 0, next_gauges = 0;
	bool bundled = true; /* the first failure is said at warning level */
	struct pollfd p[3];
	int n;

	pthread_setname_np(pthread_self(), "sa-sessiond");
	for (;;) {
		n = 0;
		p[n++] = (struct pollfd){ d->stopfd, POLLIN, 0 };
		p[n++] = (struct pollfd){ d->queuefd, POLLIN, 0 };
		if (d->nodes)
			p[n++] = (struct pollfd){ informer_fd(d->nodes), POLLIN, 0 };
		if (poll(p, (nfds_t)n, 1000) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		if (p[1].revents) {
			uint64_t v;

			(void)!read(d->queuefd, &v, sizeof(v));
		}
		sd_write_status(d);
		if (d->nodes)
			informer_process(d->nodes);
		now = clock_now_ms();
		if (d->wc && now >= next_cert)
			next_cert = now + sd_certs(d, &bundled);
		if (d->webhook && now >= next_gc) {
			sd_gc(d);
			next_gc = now + d->cfg.gc_period_s * 1000L;
		}
		if (now >= next_gauges) {
			sd_latency_gauges(d);
			next_gauges = now + 1000;
		}
	}
	return NULL;
}

/* --- start and stop ---------------------------------------------------------------- */

static char *sd_read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(SD_FILE_MAX + 1);
	n = buf ? fread(buf, 1, SD_FILE_MAX + 1, f) : 0;
	fclose(f);
	if (!buf || n > SD_FILE_MAX) {
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static void sd_metrics(struct sessiond *d, struct metrics *m)
{
	if (!m)
		return;
	d->m_reviews = metrics_add(m, "shellaudit_controller_admission_reviews_total",
				   "Admission reviews the session webhook answered.", 0);
	d->m_recorded = metrics_add(m, "shellaudit_controller_sessions_recorded_total",
				    "Pending sessions written (ShellAuditSessions).", 0);
	d->m_untargeted = metrics_add(m, "shellaudit_controller_sessions_untargeted_total",
				      "Sessions of pods no policy audits: nothing written.", 0);
	d->m_refused = metrics_add(m, "shellaudit_controller_webhook_refused_total",
				   "Requests refused: not the API server's client certificate.", 0);
	d->m_errors = metrics_add(
		m, "shellaudit_controller_sessions_failed_total",
		"Pending sessions that could not be written (allowed all the same).", 0);
	d->m_p50 = metrics_add(m, "shellaudit_controller_admission_p50_seconds",
			       "Median time to answer, over the last 1024 reviews.", 1);
	d->m_p99 = metrics_add(m, "shellaudit_controller_admission_p99_seconds",
			       "99th percentile time to answer, over the last 1024 reviews.", 1);
	d->m_max = metrics_add(m, "shellaudit_controller_admission_max_seconds",
			       "Longest time to answer, over the last 1024 reviews.", 1);
	d->m_audit_events = metrics_add(m, "shellaudit_controller_audit_events_total",
					"Audit events about sessions received.", 0);
	d->m_audit_dropped =
		metrics_add(m, "shellaudit_controller_audit_events_dropped_total",
			    "Audit events about sessions dropped: the queue was full.", 0);
	d->m_expired = metrics_add(m, "shellaudit_controller_sessions_expired_total",
				   "Expired ShellAuditSessions deleted.", 0);
	d->m_busy = metrics_add(m, "shellaudit_controller_tls_refused_total",
				"Requests to the webhook and the audit receiver refused: all "
				"connections taken, or bodies in flight at their budget (503).",
				0);
}

static int sd_start_webhook(struct sessiond *d)
{
	struct tlsd_opts o = { .addr = d->cfg.webhook_addr,
			       .port = d->cfg.webhook_port,
			       .max_conns = 128,
			       .max_body = 8 << 20,
			       .handler = sd_admit,
			       .arg = d };
	struct informer_opts io = { .path = SD_NODES_PATH,
				    .transform = podindex_trim,
				    .on_add = sd_node_set,
				    .on_update = sd_node_update,
				    .on_delete = sd_node_gone,
				    .arg = d };
	char dns[3][320], err[512];
	const char *names[3] = { dns[0], dns[1], dns[2] };
	int ret;

	snprintf(dns[0], sizeof(dns[0]), "%s.%s.svc", d->cfg.webhook_service, d->cfg.namespace);
	snprintf(dns[1], sizeof(dns[1]), "%s.%s.svc.cluster.local", d->cfg.webhook_service,
		 d->cfg.namespace);
	snprintf(dns[2], sizeof(dns[2]), "%s.%s", d->cfg.webhook_service, d->cfg.namespace);
	if (d->cfg.webhook_client_ca && !(d->webhook_ca = sd_read_file(d->cfg.webhook_client_ca))) {
		log_with(LOG_ERROR, LOG_KV("file", d->cfg.webhook_client_ca),
			 "cannot read the webhook's client CA: %s", strerror(errno));
		return -errno;
	}
	o.client_ca_pem = d->webhook_ca;
	if ((ret = webhookcert_new(names, 3, d->cfg.cert_rotate_s, &d->wc, err, sizeof(err))) < 0) {
		log_error("cannot make the webhook's certificate: %s", err);
		return ret;
	}
	if ((ret = podindex_new(&d->pods)) < 0 ||
	    (ret = informer_start(d->kcfg, NULL, &io, &d->nodes)) < 0)
		return ret;
	if ((ret = tlsd_start(&o, webhookcert_leaf(d->wc)->cert_pem,
			      webhookcert_leaf(d->wc)->key_pem, &d->webhook, err, sizeof(err))) <
	    0) {
		log_with(LOG_ERROR,
			 LOG_KV("address", d->cfg.webhook_addr ? d->cfg.webhook_addr : "*"),
			 "cannot serve the session webhook: %s", err);
		return ret;
	}
	log_with(LOG_INFO, LOG_KV("service", dns[0], "client_ca", d->cfg.webhook_client_ca),
		 "session webhook on port %d", tlsd_port(d->webhook));
	/* Any peer that reaches the port can tell of an exec under any
	 * user's name: sessions then go Ambiguous, not to the wrong user,
	 * but the cluster's administrator should know. */
	if (!d->cfg.webhook_client_ca)
		log_warn("the session webhook answers any peer that reaches its port (a pod "
			 "that can reach it can make sessions Ambiguous): set "
			 "--webhook-client-ca to the API server's client CA, or apply "
			 "config/network-policy");
	return 0;
}

static int sd_start_audit(struct sessiond *d)
{
	struct tlsd_opts o = { .addr = d->cfg.audit_addr,
			       .port = d->cfg.audit_port,
			       .max_conns = 16,
			       .max_body = 32 << 20,
			       .handler = sd_audit,
			       .arg = d };
	char *cert = sd_read_file(d->cfg.audit_cert), *key = sd_read_file(d->cfg.audit_key),
	     err[512];
	int ret = 0;

	if (!(d->audit_ca = sd_read_file(d->cfg.audit_client_ca)) || !cert || !key) {
		ret = -errno ? -errno : -EINVAL;
		log_with(LOG_ERROR,
			 LOG_KV("cert", d->cfg.audit_cert, "key", d->cfg.audit_key, "client_ca",
				d->cfg.audit_client_ca),
			 "cannot read the audit receiver's certificates: %s", strerror(-ret));
		goto out;
	}
	o.client_ca_pem = d->audit_ca;
	if ((ret = tlsd_start(&o, cert, key, &d->audit, err, sizeof(err))) < 0) {
		log_with(LOG_ERROR, LOG_KV("cert", d->cfg.audit_cert),
			 "cannot serve the audit receiver: %s", err);
		goto out;
	}
	log_info("audit receiver on port %d", tlsd_port(d->audit));
out:
	free(cert);
	if (key)
		memset(key, 0, strlen(key));
	free(key);
	return ret;
}

int sessiond_start(const struct sessiond_config *cfg, const struct kubeconfig *kcfg,
		   struct sessiond **out)
{
	struct sessiond *d;
	int ret;

	*out = NULL;
	if (!cfg->webhook_port && !cfg->audit_port)
		return 0;
	if (!(d = calloc(1, sizeof(*d))))
		return -ENOMEM;
	d->cfg = *cfg;
	d->kcfg = kcfg;
	d->stopfd = d->queuefd = -1;
	pthread_mutex_init(&d->pool_mu, NULL);
	pthread_mutex_init(&d->queue_mu, NULL);
	pthread_mutex_init(&d->lat_mu, NULL);
	atomic_init(&d->refused_logged_ms, 0);
	sd_metrics(d, cfg->metrics);
	if ((d->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0 ||
	    (d->queuefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		ret = -errno;
		goto fail;
	}
	if ((ret = kube_client_new(kcfg, NULL, &d->client)) < 0)
		goto fail;
	if (cfg->webhook_port && (ret = sd_start_webhook(d)) < 0)
		goto fail;
	if (cfg->audit_port && (ret = sd_start_audit(d)) < 0)
		goto fail;
	if ((ret = -pthread_create(&d->thread, NULL, sd_thread, d)) < 0)
		goto fail;
	d->started = true;
	*out = d;
	return 0;
fail:
	sessiond_stop(d);
	return ret;
}

void sessiond_stop(struct sessiond *d)
{
	uint64_t one = 1;
	size_t i;

	if (!d)
		return;
	/* No new requests first, then the thread. */
	tlsd_stop(d->webhook);
	tlsd_stop(d->audit);
	if (d->started) {
		(void)!write(d->stopfd, &one, sizeof(one));
		pthread_join(d->thread, NULL);
		sd_write_status(d); /* what was received is written */
	}
	while (d->qhead) {
		struct sd_patch *p = d->qhead;

		d->qhead = p->next;
		cJSON_Delete(p->audit);
		free(p);
	}
	informer_stop(d->nodes);
	podindex_free(d->pods);
	webhookcert_free(d->wc);
	for (i = 0; i < d->npool; i++)
		kube_client_free(d->pool[i]);
	kube_client_free(d->client);
	free(d->webhook_ca);
	free(d->audit_ca);
	if (d->stopfd >= 0)
		close(d->stopfd);
	if (d->queuefd >= 0)
		close(d->queuefd);
	pthread_mutex_destroy(&d->pool_mu);
	pthread_mutex_destroy(&d->queue_mu);
	pthread_mutex_destroy(&d->lat_mu);
	free(d);
}

int sessiond_run_alone(const struct sessiond_config *cfg, const char *kubeconfig)
{
	struct sessiond_config c = *cfg;
	struct kubeconfig *kcfg = NULL;
	struct sessiond *d = NULL;
	struct signalfd_siginfo si;
	sigset_t mask;
	char err[512];
	int sfd, ret;

	signal(SIGPIPE, SIG_IGN);
	c.webhook_port = 0;
	ret = kubeconfig ? kubeconfig_load(kubeconfig, NULL, &kcfg, err, sizeof(err)) :
			   kubeconfig_in_cluster(NULL, &kcfg, err, sizeof(err));
	if (ret < 0) {
		log_error("cannot configure the API client: %s", err);
		return ret;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0 || (ret = sessiond_start(&c, kcfg, &d)) < 0) {
		if (sfd >= 0)
			close(sfd);
		kubeconfig_free(kcfg);
		return ret < 0 ? ret : -errno;
	}
	log_with(LOG_INFO, LOG_KV("version", SHELLAUDIT_VERSION), "audit receiver started");
	while (read(sfd, &si, sizeof(si)) < 0 && errno == EINTR)
		;
	log_info("shutting down");
	sessiond_stop(d);
	close(sfd);
	kubeconfig_free(kcfg);
	return 0;
}
