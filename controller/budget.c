// SPDX-License-Identifier: Apache-2.0
/* The storage budget's accounting (see budget.h). */
#include "budget.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "resolve.h"

struct budget_list {
	long refs;
	size_t n; /* names counted */
	struct budget_policy *pols[RESOLVE_MAX_POLICIES];
	char key[]; /* the annotation's value */
};

void budget_init(struct budget *b, long long cluster)
{
	memset(b, 0, sizeof(*b));
	b->cluster = cluster;
	hmap_init_free(&b->lists, free);
	hmap_init_free(&b->policies, free);
	hmap_init_free(&b->namespaces, free);
	hmap_init(&b->dirty);
	b->share = BUDGET_SHARE_NONE;
}

void budget_clear(struct budget *b)
{
	hmap_clear(&b->lists);
	hmap_clear(&b->policies);
	hmap_clear(&b->namespaces);
	hmap_clear(&b->dirty);
}

static struct budget_policy *budget_policy_get(struct budget *b, const char *name)
{
	struct budget_policy *p = hmap_get(&b->policies, name);

	if (p)
		return p;
	if (strlen(name) >= sizeof(p->name) || !(p = calloc(1, sizeof(*p))))
		return NULL;
	memcpy(p->name, name, strlen(name) + 1);
	if (hmap_put(&b->policies, name, p, NULL) < 0) {
		free(p);
		return NULL;
	}
	return p;
}

struct budget_list *budget_list_get(struct budget *b, const char *policies)
{
	const char *key = policies ? policies : "", *s, *comma;
	struct budget_list *l = hmap_get(&b->lists, key);
	size_t len = strlen(key);
	char name[254];

	if (l) {
		l->refs++;
		return l;
	}
	if (!(l = calloc(1, sizeof(*l) + len + 1)))
		return NULL;
	memcpy(l->key, key, len + 1);
	/* Names longer than a policy name can be match no policy: skipped. */
	for (s = key; *s && l->n < RESOLVE_MAX_POLICIES; s = *comma ? comma + 1 : comma) {
		size_t n;

		comma = strchr(s, ',');
		if (!comma)
			comma = s + strlen(s);
		n = (size_t)(comma - s);
		if (!n || n >= sizeof(name))
			continue;
		memcpy(name, s, n);
		name[n] = '\0';
		if (!(l->pols[l->n++] = budget_policy_get(b, name))) {
			free(l);
			return NULL;
		}
	}
	if (hmap_put(&b->lists, key, l, NULL) < 0) {
		free(l);
		return NULL;
	}
	l->refs = 1;
	return l;
}

void budget_list_put(struct budget *b, struct budget_list *l)
{
	if (l && --l->refs == 0)
		hmap_remove(&b->lists, l->key);
}

long long budget_record_bytes(const char *annotation)
{
	long long n = 0;
	const char *s = annotation;

	if (!s || *s < '0' || *s > '9')
		return BUDGET_RECORD_UNKNOWN + BUDGET_RECORD_OVERHEAD;
	for (; *s >= '0' && *s <= '9'; s++) {
		n = n * 10 + (*s - '0');
		if (n > BUDGET_RECORD_MAX)
			return BUDGET_RECORD_MAX + BUDGET_RECORD_OVERHEAD;
	}
	return (*s ? BUDGET_RECORD_UNKNOWN : n) + BUDGET_RECORD_OVERHEAD;
}

/* Counts bytes in namespace ns; an entry goes once it holds nothing and
 * is not held (the namespaces are those holding records). */
static void budget_ns_count(struct budget *b, const char *ns, long long bytes)
{
	struct budget_ns *n = hmap_get(&b->namespaces, ns);

	if (!n) {
		/* Too long for a namespace, or no memory: counted in the total
		 * only, as a record of an unknown namespace. */
		if (bytes <= 0 || strlen(ns) >= sizeof(n->name) || !(n = calloc(1, sizeof(*n))))
			return;
		memcpy(n->name, ns, strlen(ns) + 1);
		if (hmap_put(&b->namespaces, ns, n, NULL) < 0) {
			free(n);
			return;
		}
	}
	n->bytes += bytes;
	if (n->bytes <= 0 && !n->held)
		hmap_remove(&b->namespaces, ns);
}

void budget_count(struct budget *b, struct budget_list *l, const char *ns, long long bytes)
{
	size_t i;

	b->total += bytes;
	b->changed = true;
	if (ns)
		budget_ns_count(b, ns, bytes);
	if (!l)
		return;
	for (i = 0; i < l->n; i++) {
		l->pols[i]->bytes += bytes;
		hmap_add(&b->dirty, l->pols[i]->name);
	}
}

long long budget_policy_bytes(const struct budget *b, const char *policy)
{
	const struct budget_policy *p = hmap_get(&b->policies, policy);

	return p ? p->bytes : 0;
}

bool budget_policy_held(const struct budget *b, const char *policy)
{
	const struct budget_policy *p = hmap_get(&b->policies, policy);

	return p && p->held;
}

long long budget_ns_bytes(const struct budget *b, const char *ns)
{
	const struct budget_ns *n = hmap_get(&b->namespaces, ns);

	return n ? n->bytes : 0;
}

const struct budget_ns *budget_ns_held(const struct budget *b, const char *ns)
{
	const struct budget_ns *n = hmap_get(&b->namespaces, ns);

	return n && n->held ? n : NULL;
}

void budget_mark_all(struct budget *b)
{
	b->dirty_all = true;
}

/* The hysteresis: the new hold of something at bytes of limit. */
static bool budget_hold(bool held, long long bytes, long long limit)
{
	if (limit <= 0)
		return false;
	/* bytes * 100 cannot overflow: budgets and sums stay below 2^62 / 100
	 * in any cluster etcd can hold. */
	if (!held)
		return bytes * 100 > limit * BUDGET_HIGH_PCT;
	return bytes * 100 >= limit * BUDGET_LOW_PCT;
}

struct budget_eval {
	struct budget *b;
	budget_limit_fn limit;
	budget_changed_fn changed;
	void *arg;
};

static void budget_eval_policy(const char *name, void *value, void *arg)
{
	struct budget_eval *e = arg;
	struct budget_policy *p = hmap_get(&e->b->policies, name);
	long long own, limit;
	bool held;

	(void)value;
	if (!p)
		return;
	own = e->limit ? e->limit(name, e->arg) : 0;
	/* Without a budget of its own, the cluster's hold covers it. */
	limit = own > 0 && own < e->b->cluster ? own : own > 0 ? e->b->cluster : 0;
	held = budget_hold(p->held, p->bytes, limit);
	if (held == p->held)
		return;
	p->held = held;
	p->at_bytes = p->bytes;
	p->at_budget = limit;
	if (e->changed)
		e->changed(BUDGET_POLICY, name, held, e->arg);
}

struct budget_ns_all {
	struct budget_ns **v;
	size_t n;
};

static void budget_ns_collect(const char *name, void *value, void *arg)
{
	struct budget_ns_all *a = arg;

	(void)name;
	a->v[a->n++] = value;
}

/* By bytes, then name: the order the share is computed and reported in. */
static int budget_ns_cmp(const void *x, const void *y)
{
	const struct budget_ns *a = *(const struct budget_ns *const *)x;
	const struct budget_ns *b = *(const struct budget_ns *const *)y;

	if (a->bytes != b->bytes)
		return a->bytes < b->bytes ? -1 : 1;
	return strcmp(a->name, b->name);
}

/* The max-min fair share of room among v[0..n), sorted by bytes: each in
 * turn takes its bytes when they fit in an equal split of what is left,
 * and the first that does not sets the level for it and all after it. */
static long long budget_fair_share(struct budget_ns *const *v, size_t n, long long room)
{
	size_t i;

	for (i = 0; i < n; i++) {
		long long level = room / (long long)(n - i);

		if (v[i]->bytes > level)
			return level;
		room -= v[i]->bytes;
	}
	return BUDGET_SHARE_NONE;
}

/* The hysteresis of a namespace at bytes against share. */
static bool budget_ns_hold(bool held, long long bytes, long long share)
{
	if (share == BUDGET_SHARE_NONE)
		return false;
	if (!held)
		return bytes > share;
	return bytes * BUDGET_HIGH_PCT >= share * BUDGET_LOW_PCT;
}

/* The namespaces' shares and holds; -ENOMEM leaves them as they were. */
static int budget_eval_namespaces(struct budget *b, budget_changed_fn changed, void *arg)
{
	struct budget_ns_all a = { NULL, 0 };
	size_t i, first = 0;
	long long share = BUDGET_SHARE_NONE;

	if (b->namespaces.size && !(a.v = calloc(b->namespaces.size, sizeof(*a.v))))
		return -ENOMEM;
	hmap_foreach(&b->namespaces, budget_ns_collect, &a);
	if (a.n)
		qsort(a.v, a.n, sizeof(*a.v), budget_ns_cmp);
	/* Held namespaces whose records all went stay until released; they
	 * hold nothing and take no share. */
	while (first < a.n && a.v[first]->bytes <= 0)
		first++;
	if (b->full)
		share = 0;
	else if (b->held)
		share = budget_fair_share(a.v + first, a.n - first,
					  b->cluster * BUDGET_LOW_PCT / 100);
	b->share = share;
	b->nsharing = a.n - first;
	for (i = 0; i < a.n; i++) {
		struct budget_ns *n = a.v[i];
		bool held = budget_ns_hold(n->held, n->bytes, share);

		if (held == n->held)
			continue;
		n->held = held;
		n->at_bytes = n->bytes;
		n->at_share = share;
		if (held)
			b->nheld++;
		else
			b->nheld--;
		if (changed)
			changed(BUDGET_NAMESPACE, n->name, held, arg);
	}
	for (i = 0; i < a.n; i++)
		if (a.v[i]->bytes <= 0 && !a.v[i]->held)
			hmap_remove(&b->namespaces, a.v[i]->name);
	free(a.v);
	return 0;
}

void budget_evaluate(struct budget *b, budget_limit_fn limit, budget_changed_fn changed, void *arg)
{
	struct budget_eval e = { b, limit, changed, arg };
	bool held, moved = b->changed || b->dirty_all;

	if (moved) {
		/* The ceiling's hold first: the cluster's transition reports it. */
		b->full = budget_hold(b->full, b->total, b->cluster * BUDGET_CEILING_X);
		held = budget_hold(b->held, b->total, b->cluster);
		if (held != b->held) {
			b->held = held;
			b->at_total = b->total;
			if (changed)
				changed(BUDGET_CLUSTER, NULL, held, arg);
		}
	}
	/* Shares move with every count while the cluster's budget is held. */
	if (moved && (b->held || b->nheld) && budget_eval_namespaces(b, changed, arg) < 0)
		return; /* no memory: everything again next time */
	if (!b->held && !b->nheld)
		b->share = BUDGET_SHARE_NONE;
	b->changed = false;
	if (b->dirty_all)
		hmap_foreach(&b->policies, budget_eval_policy, &e);
	else
		hmap_foreach(&b->dirty, budget_eval_policy, &e);
	b->dirty_all = false;
	hmap_clear(&b->dirty);
}
