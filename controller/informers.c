// SPDX-License-Identifier: Apache-2.0
/*
 * What the controller watches, on its loop thread: the informers, what
 * their caches keep (the trims), and the resolution their events drive.
 * Events only mark what they touch: a pod key, a namespace, or (a
 * policy's spec changed) every pod. controller_resolve() re-resolves the
 * marked pods before the loop sleeps, and the resolver queues the nodes
 * and policies whose result changed. A status-only update of a policy and
 * our own ShellAuditNode writes queue a comparison, never a resolution.
 */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "util.h"

#define CTL_RESYNC_MS (10 * 60 * 1000)
#define CTL_RECORDS_LIST_ACCEPT "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
#define CTL_RECORDS_WATCH_ACCEPT "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"

static const char *ctl_md_str(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(obj, "metadata"), key));
}

void controller_enqueue(struct controller *c, const char *kind, const char *name, long delay_ms)
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
		controller_enqueue(c, "policy", name, 0);
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

static void ctl_ns_changed(const cJSON *obj, void *arg)
{
	struct controller *c = arg;
	const char *name = ctl_md_str(obj, "name");

	if (name && !c->policies_dirty)
		hmap_add(&c->dirty_ns, name);
}

static void ctl_ns_updated(const cJSON *old, const cJSON *obj, void *arg)
{
	const cJSON *ol = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(old, "metadata"), "labels");
	const cJSON *nl = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "labels");

	if (!cJSON_Compare(ol, nl, true) && !(!ol && !nl))
		ctl_ns_changed(obj, arg);
}

/* Whether the field of two trimmed ShellAuditNodes differs ("metadata":
 * its generation and uid). */
static bool ctl_san_differs(const cJSON *old, const cJSON *obj, const char *field)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(old, field);
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(obj, field);

	if (!strcmp(field, "metadata"))
		return ctl_san_differs(a, b, "generation") || ctl_san_differs(a, b, "uid");
	return !(a == NULL && b == NULL) && !cJSON_Compare(a, b, true);
}

/* The Ready condition of the policies with targets on a node follows what
 * its ShellAuditNode says: queued a little later, so that a burst of node
 * events makes one status computation per policy. An update that only
 * moves the chain heads the agent publishes (with every record) queues
 * nothing: its node's spec is compared again only when the heads are what
 * keeps a node without targets. */
static void ctl_san_event(struct controller *c, const cJSON *old, const cJSON *obj)
{
	static const char *const fields[] = { "specHash", "metadata", "status" };
	const char *name = ctl_md_str(obj, "name");
	bool ready_may_change = !old, compare = !old || old == obj;
	size_t i;

	nodes_seen(c, obj);
	if (!name)
		return;
	/* What Ready reads: generation, observedGeneration, the spec's digest. */
	for (i = 0; old && i < ARRAY_SIZE(fields); i++) {
		if (ctl_san_differs(old, obj, fields[i]))
			ready_may_change = compare = true;
	}
	if (old && !resolve_node_has_targets(&c->res, name) &&
	    ctl_san_differs(old, obj, "headsKeptUntil"))
		compare = true;
	if (compare)
		controller_enqueue(c, "node", name, 0);
	if (!ready_may_change)
		return;
	for (i = 0; i < c->npolicies; i++) {
		const struct resolve_result *res = resolve_policy(&c->res, c->policies[i]->name);

		if (res && hmap_has(&res->nodes, name))
			controller_enqueue(c, "policy", c->policies[i]->name, CTL_STATUS_DELAY_MS);
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
		controller_enqueue(arg, "node", name, 0);
	else
		controller_enqueue(arg, "policy", name, CTL_STATUS_DELAY_MS);
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

void controller_free_policies(struct policy **pols, size_t n)
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
				controller_enqueue(c, "policy", name, 0);
			}
		}
	}
	free(pols.items);
	qsort(parsed, n, sizeof(*parsed), ctl_cmp_policy);
	if (resolver_set_policies(&c->res, parsed, n) < 0) {
		resolver_set_policies(&c->res, NULL, 0);
		controller_free_policies(parsed, n);
		controller_free_policies(c->policies, c->npolicies);
		c->policies = NULL;
		c->npolicies = 0;
		return -ENOMEM;
	}
	controller_free_policies(c->policies, c->npolicies);
	c->policies = parsed;
	c->npolicies = n;
	/* Their storage budgets may have changed. */
	budget_mark_all(&c->budget);
	informer_foreach(c->inf[CTL_PODS], ctl_feed_pod, c);
	nodes_enqueue_all(c);
	c->m_resolves->value++;
	return 0;
}

/* Marks the pods of the namespaces whose labels changed: a pass over the
 * pods (rare; an index by namespace would cost every pod a key more). */
static void ctl_mark_in_ns(const cJSON *pod, void *arg)
{
	struct controller *c = arg;
	const char *ns = ctl_md_str(pod, "namespace");

	if (ns && hmap_has(&c->dirty_ns, ns))
		ctl_pod_mark(c, pod);
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

bool controller_synced(const struct controller *c)
{
	int i;

	/* AuditRecords are not needed to program nodes or write status. */
	for (i = 0; i < CTL_NINFORMERS; i++)
		if (i != CTL_RECORDS && !informer_synced(c->inf[i]))
			return false;
	return true;
}

/* Re-resolves what changed since the last turn. */
void controller_resolve(struct controller *c)
{
	if (!controller_synced(c))
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
		if (!c->resolved)
			malloc_trim(0); /* the initial lists' pages are freed by now */
		c->resolved = true;
		return;
	}
	if (c->dirty_ns.size) {
		informer_foreach(c->inf[CTL_PODS], ctl_mark_in_ns, c);
		hmap_clear(&c->dirty_ns);
	}
	if (c->dirty_pods.size) {
		hmap_foreach(&c->dirty_pods, ctl_resolve_pod, c);
		hmap_clear(&c->dirty_pods);
	}
}

static void ctl_policy_key(const cJSON *obj, void *arg)
{
	const char *name = ctl_md_str(obj, "name");

	if (name)
		controller_enqueue(arg, "policy", name, 0);
}

/* --- start ------------------------------------------------------------------------ */

static void ctl_on_informer(int fd, short revents, void *arg)
{
	(void)fd;
	(void)revents;
	informer_process(arg);
}

int controller_start_informers(struct controller *c)
{
	const struct kube_client_opts copts = { .websocket = c->cfg.websocket };
	/* Records are listed and watched as metadata only, over either
	 * transport. */
	const struct kube_client_opts ropts = { .websocket = c->cfg.websocket,
						.accept = CTL_RECORDS_LIST_ACCEPT,
						.watch_accept = CTL_RECORDS_WATCH_ACCEPT };
	struct informer_opts o[CTL_NINFORMERS] = {
		[CTL_POLICIES] = { .path = SHELLAUDIT_GROUP_PATH "/shellauditpolicies",
				   .transform = ctl_trim_policy,
				   .on_add = ctl_policy_changed,
				   .on_update = ctl_policy_updated,
				   .on_delete = ctl_policy_changed },
		[CTL_PODS] = { .path = "/api/v1/pods",
			       .transform = resolve_trim_pod,
			       .on_add = ctl_pod_changed,
			       .on_update = ctl_pod_updated,
			       .on_delete = ctl_pod_changed },
		[CTL_NAMESPACES] = { .path = "/api/v1/namespaces",
				     .transform = ctl_trim_ns,
				     .on_add = ctl_ns_changed,
				     .on_update = ctl_ns_updated,
				     .on_delete = ctl_ns_changed },
		/* A ShellAuditNode is large (a node's 80 targets and their
		 * managedFields: 43 KB), and parsed whole before its trim:
		 * 500 a page made a 21 MB page and a 240 MB peak at 500 nodes. */
		[CTL_NODES] = { .path = SHELLAUDIT_GROUP_PATH "/shellauditnodes",
				.page_size = 20,
				.transform = nodes_trim,
				.on_add = ctl_san_changed,
				.on_update = ctl_san_updated,
				.on_delete = ctl_san_changed },
		[CTL_RECORDS] = { .path = SHELLAUDIT_GROUP_PATH "/auditrecords",
				  .page_size = 500,
				  .no_cache = true,
				  .on_add = records_seen,
				  .on_delete = records_gone },
	};
	int i, ret;

	for (i = 0; i < CTL_NINFORMERS; i++) {
		o[i].arg = i == CTL_RECORDS ? (void *)c->records : (void *)c;
		if (i != CTL_RECORDS)
			o[i].resync_ms = CTL_RESYNC_MS;
		ret = informer_start(c->kcfg, i == CTL_RECORDS ? &ropts : &copts, &o[i],
				     &c->inf[i]);
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


void controller_init_resolver(struct controller *c)
{
	resolver_init(&c->res, ctl_ns_labels, ctl_touch, c);
}

void controller_enqueue_policies(struct controller *c)
{
	informer_foreach(c->inf[CTL_POLICIES], ctl_policy_key, c);
}
