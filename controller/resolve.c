// SPDX-License-Identifier: Apache-2.0
/* Incremental policy resolution. Each pod's contribution (the policies
 * selecting it, its targets) is kept, so an event re-resolves one pod and
 * changes only the counts and node entries that differ. Targets share
 * their merged options: one profile per list of policies, built once and
 * reference-counted, so 125,000 targets of a few policy combinations hold
 * a few profiles. The result never depends on the order events arrived
 * in: a pod's contribution is a pure function of the pod, its namespace's
 * labels and the policy set. */
#include "resolve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct resolve_profile {
	char *key;		/* its entry in r->profiles */
	uint32_t *pols;		/* policy indexes, ascending (name order) */
	size_t npols;
	uint32_t *dropped;	/* policies some of whose redact rules passed the cap */
	size_t ndropped;
	cJSON *fields;		/* policies, capture, events, retention, redact */
	long refs;
};

struct resolve_target {
	char *container, *cid;
	struct resolve_profile *prof;
};

/* What one pod contributes; absent when no policy selects it. */
struct resolve_pod {
	char *key, *ns, *name, *uid, *node;
	uint32_t *matched;	/* policies selecting the pod */
	size_t nmatched;
	struct resolve_target *targets;
	size_t ntargets;
};

/* One node: its targets, keyed "containerID\x1fpod key" (a container ID
 * reported by two pods stays two entries until one goes). */
struct resolve_node {
	struct hmap refs;	/* -> struct resolve_ref */
	char hash[DIGEST_STR_LEN];
	bool hash_ok;
};

struct resolve_ref {
	const struct resolve_pod *pod;
	const struct resolve_target *t;
};

static const char *resolve_str(const cJSON *obj, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);

	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_GetStringValue(v);
}

/*
 * The trimmed pod the pod informer keeps, 120,000 of them at scale, so
 * compact: metadata (name, namespace, uid, resourceVersion, labels, with
 * constant keys that allocate nothing) and one string "x" that packs the
 * node, whether the pod is finished, and the name and container ID of each
 * running container, each as <length>:<bytes> (any byte but NUL is safe).
 */
#define RESOLVE_PACKED "x"

static int resolve_pack(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s), need = *len + n + 24;
	char *p;

	if (need > *cap) {
		size_t c = *cap ? *cap * 2 : 256;

		while (c < need)
			c *= 2;
		if (!(p = realloc(*buf, c)))
			return -ENOMEM;
		*buf = p;
		*cap = c;
	}
	*len += (size_t)snprintf(*buf + *len, *cap - *len, "%zu:%s", n, s);
	return 0;
}

/* The next packed field of *p, as a pointer and a length; false at the end. */
static bool resolve_unpack(const char **p, const char **s, size_t *n)
{
	char *end;
	unsigned long len;

	if (!*p || !**p)
		return false;
	len = strtoul(*p, &end, 10);
	if (end == *p || *end != ':' || strnlen(end + 1, len) < len)
		return false;
	*s = end + 1;
	*n = len;
	*p = end + 1 + len;
	return true;
}

static int resolve_pack_statuses(char **buf, size_t *len, size_t *cap, const cJSON *status,
				 const char *key)
{
	const cJSON *cs;

	cJSON_ArrayForEach(cs, cJSON_GetObjectItemCaseSensitive(status, key)) {
		const cJSON *running = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(cs, "state"), "running");
		const char *name = resolve_str(cs, "name", NULL);
		const char *cid = resolve_str(cs, "containerID", NULL);

		/* Only a running container with an ID can be a target. */
		if (!running || !name || !cid || !*cid)
			continue;
		if (resolve_pack(buf, len, cap, name) < 0 || resolve_pack(buf, len, cap, cid) < 0)
			return -ENOMEM;
	}
	return 0;
}

cJSON *resolve_trim_pod(const cJSON *pod)
{
	static const char *const mdkeys[] = { "name", "namespace", "uid", "resourceVersion" };
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(pod, "status");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(md, "labels");
	const char *phase = resolve_str(status, "phase", NULL);
	const char *node = resolve_str(pod, "spec", "nodeName");
	cJSON *t = cJSON_CreateObject(), *tmd = cJSON_CreateObject(), *v;
	char *buf = NULL;
	size_t len = 0, cap = 0, i;

	if (!t || !tmd)
		goto fail;
	cJSON_AddItemToObjectCS(t, "metadata", tmd);
	for (i = 0; i < ARRAY_SIZE(mdkeys); i++) {
		const char *s = resolve_str(md, mdkeys[i], NULL);

		if (s &&
		    (!(v = cJSON_CreateString(s)) || !cJSON_AddItemToObjectCS(tmd, mdkeys[i], v)))
			goto fail;
	}
	if (cJSON_IsObject(labels) && (!(v = cJSON_Duplicate(labels, 1)) ||
				       !cJSON_AddItemToObjectCS(tmd, "labels", v)))
		goto fail;
	if (resolve_pack(&buf, &len, &cap, node ? node : "") < 0 ||
	    resolve_pack(&buf, &len, &cap,
			 phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed")) ?
				 "1" :
				 "0") < 0 ||
	    resolve_pack_statuses(&buf, &len, &cap, status, "containerStatuses") < 0 ||
	    resolve_pack_statuses(&buf, &len, &cap, status, "initContainerStatuses") < 0 ||
	    resolve_pack_statuses(&buf, &len, &cap, status, "ephemeralContainerStatuses") < 0)
		goto fail;
	if (!(v = cJSON_CreateString(buf)) || !cJSON_AddItemToObjectCS(t, RESOLVE_PACKED, v))
		goto fail;
	free(buf);
	return t;
fail:
	free(buf);
	cJSON_Delete(t);
	return NULL;
}

static void resolve_profile_unref(struct resolver *r, struct resolve_profile *p)
{
	if (!p || --p->refs > 0)
		return;
	hmap_del(&r->profiles, p->key);
	free(p->key);
	free(p->pols);
	free(p->dropped);
	cJSON_Delete(p->fields);
	free(p);
}

static void resolve_pod_free(struct resolver *r, struct resolve_pod *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->ntargets; i++) {
		free(p->targets[i].container);
		free(p->targets[i].cid);
		resolve_profile_unref(r, p->targets[i].prof);
	}
	free(p->targets);
	free(p->matched);
	free(p->key);
	free(p->ns);
	free(p->name);
	free(p->uid);
	free(p->node);
	free(p);
}

static void resolve_node_free(void *v)
{
	struct resolve_node *n = v;

	hmap_clear(&n->refs);
	free(n);
}

static void resolve_result_free(void *v)
{
	struct resolve_result *res = v;

	hmap_clear(&res->nodes);
	hmap_clear(&res->namespaces);
	free(res);
}

void resolver_init(struct resolver *r, resolve_ns_labels_fn ns_labels, resolve_touch_fn touch,
		   void *arg)
{
	memset(r, 0, sizeof(*r));
	hmap_init(&r->pods);
	hmap_init_free(&r->nodes, resolve_node_free);
	hmap_init_free(&r->results, resolve_result_free);
	hmap_init(&r->profiles);
	r->ns_labels = ns_labels;
	r->touch = touch;
	r->arg = arg;
}

static void resolve_drop_pod(const char *key, void *value, void *arg)
{
	(void)key;
	resolve_pod_free(arg, value);
}

static void resolve_touch_all(const char *key, void *value, void *arg)
{
	struct resolver *r = arg;

	(void)value;
	if (r->touch)
		r->touch(RESOLVE_NODE, key, r->arg);
}

/* Drops every contribution (the profiles go with the last target). */
static void resolve_reset(struct resolver *r)
{
	hmap_foreach(&r->nodes, resolve_touch_all, r);
	hmap_foreach(&r->pods, resolve_drop_pod, r);
	hmap_clear(&r->pods);
	hmap_clear(&r->nodes);
	hmap_clear(&r->results);
}

void resolver_clear(struct resolver *r)
{
	r->touch = NULL;
	resolve_reset(r);
	hmap_clear(&r->profiles);
	r->pols = NULL;
	r->npols = 0;
}

int resolver_set_policies(struct resolver *r, struct policy *const *pols, size_t n)
{
	size_t i;

	resolve_reset(r);
	r->pols = pols;
	r->npols = n;
	for (i = 0; i < n; i++) {
		struct resolve_result *res = calloc(1, sizeof(*res));

		if (!res)
			return -ENOMEM;
		hmap_init(&res->nodes);
		hmap_init(&res->namespaces);
		if (hmap_put(&r->results, pols[i]->name, res, NULL) < 0) {
			free(res);
			return -ENOMEM;
		}
		if (r->touch)
			r->touch(RESOLVE_POLICY, pols[i]->name, r->arg);
	}
	return 0;
}

/* The merged options of the policies pols[idx[0..n)] on one container. */
static int resolve_profile_build(struct resolver *r, struct resolve_profile *p)
{
	cJSON *f = cJSON_CreateObject(), *names, *cap, *ev, *redact, *rule, *seen;
	bool readline = false, exec = false, terminal = false, enabled = false, execev = false;
	bool aggregate = true, exec_all = false;
	const struct policy *longest = NULL;
	long rate = 6000;
	size_t i;

	if (!f || !(names = cJSON_AddArrayToObject(f, "policies")) ||
	    !(redact = cJSON_CreateArray())) {
		cJSON_Delete(f);
		return -ENOMEM;
	}
	if (!(p->dropped = calloc(p->npols ? p->npols : 1, sizeof(*p->dropped)))) {
		cJSON_Delete(redact);
		cJSON_Delete(f);
		return -ENOMEM;
	}
	for (i = 0; i < p->npols; i++) {
		const struct policy *pol = r->pols[p->pols[i]];
		bool dropped = false;

		cJSON_AddItemToArray(names, cJSON_CreateString(pol->name));
		readline |= pol->capture_readline;
		exec |= pol->capture_exec;
		exec_all |= pol->capture_exec && !pol->exec_sessions_only;
		terminal |= pol->capture_terminal;
		/* Every execution as its own entry when one policy asks. */
		aggregate &= pol->aggregate_execs;
		enabled |= pol->events_enabled;
		execev |= pol->events_enabled && pol->events_exec;
		if (pol->rate_per_minute < rate)
			rate = pol->rate_per_minute;
		if (!longest || pol->retention_s > longest->retention_s)
			longest = pol;
		cJSON_ArrayForEach(rule, pol->redact) {
			const char *rep = resolve_str(rule, "replacement", NULL);
			cJSON *x = cJSON_CreateObject();
			bool dup = false;

			if (!x)
				continue;
			cJSON_AddStringToObject(x, "name", resolve_str(rule, "name", NULL) ?: "");
			cJSON_AddStringToObject(x, "pattern",
						resolve_str(rule, "pattern", NULL) ?: "");
			cJSON_AddStringToObject(x, "replacement", rep ? rep : "[REDACTED]");
			cJSON_ArrayForEach(seen, redact)
				dup |= cJSON_Compare(seen, x, true);
			/* The schema allows 64 rules per target: past them the
			 * node's whole ShellAuditNode would be refused. The
			 * policy's status says which rules did not fit. */
			if (!dup && cJSON_GetArraySize(redact) >= RESOLVE_MAX_REDACT) {
				dropped = true;
				dup = true;
			}
			if (dup)
				cJSON_Delete(x);
			else
				cJSON_AddItemToArray(redact, x);
		}
		if (dropped)
			p->dropped[p->ndropped++] = p->pols[i];
	}
	cap = cJSON_AddObjectToObject(f, "capture");
	cJSON_AddBoolToObject(cap, "readline", readline);
	cJSON_AddBoolToObject(cap, "exec", exec);
	cJSON_AddBoolToObject(cap, "terminal", terminal);
	if (exec && !exec_all)
		cJSON_AddStringToObject(cap, "execFrom", "Sessions");
	if (!aggregate)
		cJSON_AddFalseToObject(cap, "aggregateExecs");
	ev = cJSON_AddObjectToObject(f, "events");
	cJSON_AddBoolToObject(ev, "enabled", enabled);
	cJSON_AddBoolToObject(ev, "execEvents", execev);
	cJSON_AddNumberToObject(ev, "ratePerMinute", (double)rate);
	cJSON_AddStringToObject(f, "retention", longest ? longest->retention : "720h");
	if (cJSON_GetArraySize(redact) > 0)
		cJSON_AddItemToObject(f, "redact", redact);
	else
		cJSON_Delete(redact);
	p->fields = f;
	return 0;
}

/* The shared profile of a list of policy indexes, one more reference. */
static struct resolve_profile *resolve_profile_get(struct resolver *r, const uint32_t *idx,
						   size_t n)
{
	char key[RESOLVE_MAX_POLICIES * 12 + 1];
	struct resolve_profile *p;
	size_t i, len = 0;

	key[0] = '\0';
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(key + len, sizeof(key) - len, "%s%u", i ? "," : "", idx[i]);
	if ((p = hmap_get(&r->profiles, key))) {
		p->refs++;
		return p;
	}
	if (!(p = calloc(1, sizeof(*p))) || !(p->key = strdup(key)) ||
	    !(p->pols = malloc(n * sizeof(*idx))))
		goto fail;
	memcpy(p->pols, idx, n * sizeof(*idx));
	p->npols = n;
	if (resolve_profile_build(r, p) < 0 || hmap_put(&r->profiles, key, p, NULL) < 0)
		goto fail;
	p->refs = 1;
	return p;
fail:
	if (p) {
		free(p->key);
		free(p->pols);
		free(p->dropped);
		cJSON_Delete(p->fields);
		free(p);
	}
	return NULL;
}

static int resolve_add_target(struct resolver *r, struct resolve_pod *p, const char *container,
			      const char *cid, const uint32_t *want, size_t nw)
{
	struct resolve_target *t = realloc(p->targets, (p->ntargets + 1) * sizeof(*t));

	if (!t)
		return -ENOMEM;
	p->targets = t;
	t = &p->targets[p->ntargets];
	t->container = strdup(container);
	t->cid = strdup(cid);
	t->prof = resolve_profile_get(r, want, nw);
	if (!t->container || !t->cid || !t->prof) {
		free(t->container);
		free(t->cid);
		resolve_profile_unref(r, t->prof);
		return -ENOMEM;
	}
	p->ntargets++;
	return 0;
}

/* What pod (trimmed) contributes now: *out NULL when no policy selects it. */
static int resolve_compute(struct resolver *r, const char *key, const cJSON *pod,
			   struct resolve_pod **out)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
	const char *ns = resolve_str(md, "namespace", NULL);
	const char *x = resolve_str(pod, RESOLVE_PACKED, NULL), *f;
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(md, "labels");
	char node[256], name[256], cid[512];
	uint32_t want[RESOLVE_MAX_POLICIES];
	struct resolve_pod *p;
	const cJSON *nsl;
	size_t i, n, nw;

	*out = NULL;
	if (!pod || !ns || !resolve_unpack(&x, &f, &n) || !n || n >= sizeof(node))
		return 0;
	snprintf(node, sizeof(node), "%.*s", (int)n, f);
	/* Not on a node yet, or finished. */
	if (!resolve_unpack(&x, &f, &n) || (n == 1 && *f == '1'))
		return 0;
	nsl = r->ns_labels(ns, r->arg);
	if (!(p = calloc(1, sizeof(*p))) ||
	    !(p->matched = calloc(r->npols ? r->npols : 1, sizeof(*p->matched))))
		goto nomem;
	for (i = 0; i < r->npols; i++)
		if (selector_matches(r->pols[i]->ns_sel, nsl) &&
		    selector_matches(r->pols[i]->pod_sel, labels))
			p->matched[p->nmatched++] = (uint32_t)i;
	if (!p->nmatched) {
		resolve_pod_free(r, p);
		return 0;
	}
	{
		/* Kept for every selected pod: only as long as it needs to be. */
		uint32_t *m = realloc(p->matched, p->nmatched * sizeof(*m));

		if (m)
			p->matched = m;
	}
	p->key = strdup(key);
	p->ns = strdup(ns);
	p->name = strdup(resolve_str(md, "name", NULL) ?: "");
	p->uid = strdup(resolve_str(md, "uid", NULL) ?: "");
	p->node = strdup(node);
	if (!p->key || !p->ns || !p->name || !p->uid || !p->node)
		goto nomem;
	while (resolve_unpack(&x, &f, &n)) {
		if (n >= sizeof(name))
			break;
		snprintf(name, sizeof(name), "%.*s", (int)n, f);
		if (!resolve_unpack(&x, &f, &n) || n >= sizeof(cid))
			break;
		snprintf(cid, sizeof(cid), "%.*s", (int)n, f);
		for (i = 0, nw = 0; i < p->nmatched && nw < RESOLVE_MAX_POLICIES; i++)
			if (policy_wants_container(r->pols[p->matched[i]], name))
				want[nw++] = p->matched[i];
		if (nw && resolve_add_target(r, p, name, cid, want, nw) < 0)
			goto nomem;
	}
	*out = p;
	return 0;
nomem:
	resolve_pod_free(r, p);
	return -ENOMEM;
}

static bool resolve_same(const struct resolve_pod *a, const struct resolve_pod *b)
{
	size_t i;

	if (!a || !b)
		return a == b;
	if (strcmp(a->node, b->node) || strcmp(a->uid, b->uid) || a->nmatched != b->nmatched ||
	    a->ntargets != b->ntargets ||
	    memcmp(a->matched, b->matched, a->nmatched * sizeof(*a->matched)))
		return false;
	for (i = 0; i < a->ntargets; i++)
		if (a->targets[i].prof != b->targets[i].prof ||
		    strcmp(a->targets[i].cid, b->targets[i].cid) ||
		    strcmp(a->targets[i].container, b->targets[i].container))
			return false;
	return true;
}

static void resolve_ref_key(const struct resolve_pod *p, const struct resolve_target *t,
			    char *buf, size_t cap)
{
	snprintf(buf, cap, "%s\x1f%s", t->cid, p->key);
}

/* Adds (sign 1) or removes (sign -1) a pod's contribution. */
static int resolve_apply(struct resolver *r, const struct resolve_pod *p, int sign)
{
	struct resolve_node *n = hmap_get(&r->nodes, p->node);
	char key[1024];
	size_t i, j;

	for (i = 0; i < p->nmatched; i++) {
		struct resolve_result *res = hmap_get(&r->results, r->pols[p->matched[i]]->name);

		if (res)
			res->matched_pods += sign;
		if (r->touch)
			r->touch(RESOLVE_POLICY, r->pols[p->matched[i]]->name, r->arg);
	}
	if (!p->ntargets)
		return 0;
	if (!n && sign > 0) {
		if (!(n = calloc(1, sizeof(*n))))
			return -ENOMEM;
		hmap_init_free(&n->refs, free);
		if (hmap_put(&r->nodes, p->node, n, NULL) < 0) {
			free(n);
			return -ENOMEM;
		}
	}
	if (!n)
		return 0;
	n->hash_ok = false;
	for (i = 0; i < p->ntargets; i++) {
		const struct resolve_target *t = &p->targets[i];

		resolve_ref_key(p, t, key, sizeof(key));
		if (sign > 0) {
			struct resolve_ref *ref = malloc(sizeof(*ref));

			if (!ref)
				return -ENOMEM;
			*ref = (struct resolve_ref){ p, t };
			if (hmap_put(&n->refs, key, ref, NULL) < 0) {
				free(ref);
				return -ENOMEM;
			}
		} else {
			hmap_remove(&n->refs, key);
		}
		for (j = 0; j < t->prof->npols; j++) {
			struct resolve_result *res =
				hmap_get(&r->results, r->pols[t->prof->pols[j]]->name);
			intptr_t cnt;

			if (!res)
				continue;
			cnt = (intptr_t)hmap_get(&res->nodes, p->node) + sign;
			if (cnt > 0)
				hmap_put(&res->nodes, p->node, (void *)cnt, NULL);
			else
				hmap_del(&res->nodes, p->node);
			cnt = (intptr_t)hmap_get(&res->namespaces, p->ns) + sign;
			if (cnt > 0)
				hmap_put(&res->namespaces, p->ns, (void *)cnt, NULL);
			else
				hmap_del(&res->namespaces, p->ns);
		}
		for (j = 0; j < t->prof->ndropped; j++) {
			struct resolve_result *res =
				hmap_get(&r->results, r->pols[t->prof->dropped[j]]->name);

			if (res)
				res->redact_dropped += sign;
		}
	}
	if (r->touch)
		r->touch(RESOLVE_NODE, p->node, r->arg);
	if (n->refs.size == 0)
		hmap_remove(&r->nodes, p->node);
	return 0;
}

int resolver_pod(struct resolver *r, const char *key, const cJSON *pod)
{
	struct resolve_pod *old = hmap_get(&r->pods, key), *now = NULL;
	int ret;

	if ((ret = resolve_compute(r, key, pod, &now)) < 0)
		return ret;
	if (resolve_same(old, now)) {
		resolve_pod_free(r, now);
		return 0;
	}
	if (old) {
		resolve_apply(r, old, -1);
		hmap_del(&r->pods, key);
		resolve_pod_free(r, old);
	}
	if (!now)
		return 0;
	if ((ret = hmap_put(&r->pods, key, now, NULL)) < 0) {
		resolve_pod_free(r, now);
		return ret;
	}
	return resolve_apply(r, now, 1);
}

struct resolve_collect {
	const struct resolve_ref **refs;
	size_t n;
};

static void resolve_collect_ref(const char *key, void *value, void *arg)
{
	struct resolve_collect *c = arg;

	(void)key;
	c->refs[c->n++] = value;
}

static int resolve_cmp_ref(const void *a, const void *b)
{
	const struct resolve_ref *x = *(const struct resolve_ref *const *)a;
	const struct resolve_ref *y = *(const struct resolve_ref *const *)b;
	int d = strcmp(x->t->cid, y->t->cid);

	return d ? d : strcmp(x->pod->key, y->pod->key);
}

/* Whether the target's new records are held: the predicate says so for
 * one of its policies in its namespace. */
static bool resolve_target_held(const struct resolver *r, const char *ns,
				const struct resolve_profile *p)
{
	size_t i;

	for (i = 0; r->held && i < p->npols; i++)
		if (r->held(ns, r->pols[p->pols[i]]->name, r->held_arg))
			return true;
	return false;
}

static cJSON *resolve_target_json(const struct resolver *r, const struct resolve_ref *ref)
{
	cJSON *t = cJSON_Duplicate(ref->t->prof->fields, 1);

	if (!t)
		return NULL;
	if (resolve_target_held(r, ref->pod->ns, ref->t->prof))
		cJSON_AddTrueToObject(t, "holdRecords");
	cJSON_AddStringToObject(t, "namespace", ref->pod->ns);
	cJSON_AddStringToObject(t, "pod", ref->pod->name);
	cJSON_AddStringToObject(t, "podUID", ref->pod->uid);
	cJSON_AddStringToObject(t, "container", ref->t->container);
	cJSON_AddStringToObject(t, "containerID", ref->t->cid);
	return t;
}

cJSON *resolve_node_spec(struct resolver *r, const char *node)
{
	struct resolve_node *n = hmap_get(&r->nodes, node);
	struct resolve_collect c = { NULL, 0 };
	cJSON *spec = cJSON_CreateObject(), *targets, *t;
	size_t i, count = 0;

	if (!spec || !(targets = cJSON_CreateArray()))
		goto nomem;
	if (n && !(c.refs = calloc(n->refs.size ? n->refs.size : 1, sizeof(*c.refs)))) {
		cJSON_Delete(targets);
		goto nomem;
	}
	if (n)
		hmap_foreach(&n->refs, resolve_collect_ref, &c);
	if (c.n)
		qsort(c.refs, c.n, sizeof(*c.refs), resolve_cmp_ref);
	for (i = 0; i < c.n; i++) {
		/* One container ID reported twice by a confused kubelet must
		 * not fail the list-map validation of the whole node. */
		if (i && !strcmp(c.refs[i - 1]->t->cid, c.refs[i]->t->cid))
			continue;
		if (!(t = resolve_target_json(r, c.refs[i]))) {
			cJSON_Delete(targets);
			goto nomem;
		}
		cJSON_AddItemToArray(targets, t);
		count++;
	}
	free(c.refs);
	cJSON_AddNumberToObject(spec, "targetCount", (double)count);
	cJSON_AddItemToObject(spec, "targets", targets);
	return spec;
nomem:
	free(c.refs);
	cJSON_Delete(spec);
	return NULL;
}

void resolver_set_held(struct resolver *r, resolve_held_fn held, void *arg)
{
	r->held = held;
	r->held_arg = arg;
}

static void resolve_node_unhash(const char *node, void *value, void *arg)
{
	struct resolver *r = arg;
	struct resolve_node *n = hmap_get(&r->nodes, node);

	(void)value;
	if (!n)
		return;
	n->hash_ok = false;
	if (r->touch)
		r->touch(RESOLVE_NODE, node, r->arg);
}

void resolver_hold_changed(struct resolver *r, const char *policy)
{
	const struct resolve_result *res;

	if (!policy) {
		hmap_foreach(&r->nodes, resolve_node_unhash, r);
		return;
	}
	if ((res = hmap_get(&r->results, policy)))
		hmap_foreach((struct hmap *)&res->nodes, resolve_node_unhash, r);
}

struct resolve_ns_hold {
	struct resolver *r;
	const char *ns;
};

static void resolve_ns_unhash(const char *policy, void *value, void *arg)
{
	const struct resolve_result *res = value;
	const struct resolve_ns_hold *h = arg;

	(void)policy;
	if (hmap_get(&res->namespaces, h->ns))
		hmap_foreach(&res->nodes, resolve_node_unhash, h->r);
}

void resolver_hold_changed_ns(struct resolver *r, const char *ns)
{
	struct resolve_ns_hold h = { r, ns };

	hmap_foreach(&r->results, resolve_ns_unhash, &h);
}

bool resolve_node_has_targets(const struct resolver *r, const char *node)
{
	return hmap_get(&r->nodes, node) != NULL;
}

const char *resolve_node_hash(struct resolver *r, const char *node)
{
	static char empty[DIGEST_STR_LEN];
	struct resolve_node *n = hmap_get(&r->nodes, node);
	char *out = n ? n->hash : empty;
	cJSON *spec;
	int ret;

	if (n && n->hash_ok)
		return n->hash;
	if (!(spec = resolve_node_spec(r, node)))
		return NULL;
	ret = digest_json(spec, NULL, out);
	cJSON_Delete(spec);
	if (ret < 0)
		return NULL;
	if (n)
		n->hash_ok = true;
	return out;
}

struct resolve_visit {
	void (*fn)(const char *node, void *arg);
	void *arg;
};

static void resolve_visit_node(const char *key, void *value, void *arg)
{
	struct resolve_visit *v = arg;

	(void)value;
	v->fn(key, v->arg);
}

void resolve_foreach_node(const struct resolver *r, void (*fn)(const char *node, void *arg),
			  void *arg)
{
	struct resolve_visit v = { fn, arg };

	hmap_foreach(&r->nodes, resolve_visit_node, &v);
}

const struct resolve_result *resolve_policy(const struct resolver *r, const char *name)
{
	return hmap_get(&r->results, name);
}
