// SPDX-License-Identifier: Apache-2.0
/* The storage budget's accounting (see budget.h). */
#include "budget.h"

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
	hmap_init(&b->dirty);
}

void budget_clear(struct budget *b)
{
	hmap_clear(&b->lists);
	hmap_clear(&b->policies);
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

void budget_count(struct budget *b, struct budget_list *l, long long bytes)
{
	size_t i;

	b->total += bytes;
	b->changed = true;
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
		e->changed(name, held, e->arg);
}

void budget_evaluate(struct budget *b, budget_limit_fn limit, budget_changed_fn changed, void *arg)
{
	struct budget_eval e = { b, limit, changed, arg };
	bool held;

	if (b->changed || b->dirty_all) {
		held = budget_hold(b->held, b->total, b->cluster);
		if (held != b->held) {
			b->held = held;
			b->at_total = b->total;
			if (changed)
				changed(NULL, held, arg);
		}
	}
	b->changed = false;
	if (b->dirty_all)
		hmap_foreach(&b->policies, budget_eval_policy, &e);
	else
		hmap_foreach(&b->dirty, budget_eval_policy, &e);
	b->dirty_all = false;
	hmap_clear(&b->dirty);
}
