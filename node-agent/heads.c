// SPDX-License-Identifier: Apache-2.0
/* Chain heads (see heads.h), owned by the agent's main loop. */
#include "heads.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "hmap.h"
#include "timefmt.h"

struct head {
	char *ns, *pod, *container;
	long long seq;
	char digest[DIGEST_STR_LEN];
	time_t expires;		/* the head record's expiry: accepted + retention */
	time_t keep_until;	/* the latest expiry of the chain's records */
};

struct heads {
	struct hmap map;	/* containerID -> struct head */
	uint64_t capped;
};

static void head_free(void *v)
{
	struct head *hd = v;

	if (!hd)
		return;
	free(hd->ns);
	free(hd->pod);
	free(hd->container);
	free(hd);
}

int heads_new(struct heads **out)
{
	struct heads *h = calloc(1, sizeof(*h));

	if (!h)
		return -ENOMEM;
	hmap_init_free(&h->map, head_free);
	*out = h;
	return 0;
}

void heads_free(struct heads *h)
{
	if (!h)
		return;
	hmap_clear(&h->map);
	free(h);
}

uint64_t heads_capped(const struct heads *h)
{
	return h->capped;
}

size_t heads_count(const struct heads *h)
{
	return h->map.size;
}

int heads_seq(const struct heads *h, const char *cid, uint64_t *seq)
{
	const struct head *hd = hmap_get(&h->map, cid);

	if (!hd || hd->seq < 0)
		return 0;
	*seq = (uint64_t)hd->seq;
	return 1;
}

static const char *heads_str(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* Puts a head for cid unless a further one is there; 1 put, 0 kept the old. */
static int heads_put(struct heads *h, const char *cid, const char *ns, const char *pod,
		     const char *container, long long seq, const char *digest, time_t expires,
		     time_t keep_until)
{
	struct head *old = hmap_get(&h->map, cid), *hd;

	if (old && old->seq >= seq) {
		if (old->keep_until < keep_until)
			old->keep_until = keep_until;
		return 0;
	}
	if (!(hd = calloc(1, sizeof(*hd))))
		return -ENOMEM;
	hd->ns = strdup(ns);
	hd->pod = strdup(pod);
	hd->container = strdup(container);
	hd->seq = seq;
	snprintf(hd->digest, sizeof(hd->digest), "%s", digest);
	hd->expires = expires;
	hd->keep_until = old && old->keep_until > keep_until ? old->keep_until : keep_until;
	if (!hd->ns || !hd->pod || !hd->container || hmap_put(&h->map, cid, hd, NULL) < 0) {
		head_free(hd);
		return -ENOMEM;
	}
	return 1;
}

int heads_record(struct heads *h, const cJSON *record, time_t now)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(record, "metadata");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(record, "spec");
	const cJSON *seq = cJSON_GetObjectItemCaseSensitive(spec, "sequence");
	const char *cid = heads_str(spec, "containerID"), *digest = heads_str(spec, "digest");
	const char *ret = heads_str(spec, "retention");
	const char *ns = heads_str(md, "namespace");
	const char *pod = heads_str(cJSON_GetObjectItemCaseSensitive(spec, "pod"), "name");
	const char *container = heads_str(spec, "container");
	long long secs;

	if (!cid || !digest || !ret || !ns || !pod || !container || !cJSON_IsNumber(seq) ||
	    seq->valuedouble < 0 || seq->valuedouble > 9e15 || timefmt_duration(ret, &secs) < 0)
		return -EINVAL;
	return heads_put(h, cid, ns, pod, container, (long long)seq->valuedouble, digest,
			 now + (time_t)secs, now + (time_t)secs);
}

static int heads_time(const cJSON *o, const char *k, time_t *out)
{
	const char *s = heads_str(o, k);
	struct timespec ts;

	if (!s || timefmt_parse(s, &ts) < 0)
		return -EINVAL;
	*out = ts.tv_sec;
	return 0;
}

void heads_merge(struct heads *h, const cJSON *published)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, published) {
		const cJSON *seq = cJSON_GetObjectItemCaseSensitive(it, "sequence");
		const char *cid = heads_str(it, "containerID"), *digest = heads_str(it, "digest");
		const char *ns = heads_str(it, "namespace"), *pod = heads_str(it, "pod");
		const char *container = heads_str(it, "container");
		time_t expires, keep;

		if (!cid || !digest || strlen(digest) != 71 || !ns || !pod || !container ||
		    !cJSON_IsNumber(seq) || seq->valuedouble < 0 || seq->valuedouble > 9e15 ||
		    heads_time(it, "expires", &expires) < 0 ||
		    heads_time(it, "keepUntil", &keep) < 0)
			continue;
		heads_put(h, cid, ns, pod, container, (long long)seq->valuedouble, digest, expires,
			  keep);
	}
}

struct heads_view {
	const char *cid;
	struct head *hd;
	bool live;
};

struct heads_walk {
	struct heads_view *v;
	size_t n;
	heads_live_fn live;
	void *arg;
};

static void heads_collect(const char *key, void *value, void *arg)
{
	struct heads_walk *w = arg;

	w->v[w->n].cid = key;
	w->v[w->n].hd = value;
	w->v[w->n].live = w->live && w->live(key, w->arg);
	w->n++;
}

/* The first to go when over the cap: not live, then earliest keepUntil. */
static int heads_cmp_prune(const void *a, const void *b)
{
	const struct heads_view *x = a, *y = b;

	if (x->live != y->live)
		return x->live ? 1 : -1;
	if (x->hd->keep_until != y->hd->keep_until)
		return x->hd->keep_until < y->hd->keep_until ? -1 : 1;
	return strcmp(x->cid, y->cid);
}

static cJSON *heads_item(const struct heads_view *v)
{
	struct timespec ts = { 0, 0 };
	char t[40];
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "containerID", v->cid);
	cJSON_AddStringToObject(o, "namespace", v->hd->ns);
	cJSON_AddStringToObject(o, "pod", v->hd->pod);
	cJSON_AddStringToObject(o, "container", v->hd->container);
	cJSON_AddNumberToObject(o, "sequence", (double)v->hd->seq);
	cJSON_AddStringToObject(o, "digest", v->hd->digest);
	ts.tv_sec = v->hd->expires;
	timefmt_rfc3339(&ts, t, sizeof(t));
	cJSON_AddStringToObject(o, "expires", t);
	ts.tv_sec = v->hd->keep_until;
	timefmt_rfc3339(&ts, t, sizeof(t));
	cJSON_AddStringToObject(o, "keepUntil", t);
	return o;
}

/* By namespace, then in the order they go in (heads_cmp_prune). */
static int heads_cmp_ns(const void *a, const void *b)
{
	const struct heads_view *const *x = a, *const *y = b;
	int c = strcmp((*x)->hd->ns, (*y)->hd->ns);

	return c ? c : heads_cmp_prune(*x, *y);
}

/* A namespace's kept heads, p[at, end) of heads_cap's. */
struct heads_group {
	size_t at, end;
	size_t left[2]; /* how many are kept: [0] not live, [1] live */
};

/* Over HEADS_MAX, the heads that go are taken one at a time from the
 * namespace holding the most (a tenant whose many short containers fill
 * the list pushes out its own heads, not another tenant's), the first to
 * go in it by heads_cmp_prune; live heads only once no namespace holds
 * any other. v: the n heads sorted by heads_cmp_prune, hd NULL for those
 * gone already; *kept how many are left. */
static void heads_cap(struct heads *h, struct heads_view *v, size_t n, size_t *kept)
{
	struct heads_view **p = calloc(*kept ? *kept : 1, sizeof(*p));
	struct heads_group *g = calloc(*kept ? *kept : 1, sizeof(*g));
	size_t i, np = 0, ng = 0, best;
	int live;

	if (!p || !g) {
		/* No room to count: in the order they go in, whatever their
		 * namespace. */
		for (i = 0; i<n && * kept> HEADS_MAX; i++)
			if (v[i].hd) {
				v[i].hd = NULL;
				(*kept)--;
				h->capped++;
			}
		goto out;
	}
	for (i = 0; i < n; i++)
		if (v[i].hd)
			p[np++] = &v[i];
	qsort(p, np, sizeof(*p), heads_cmp_ns);
	for (i = 0; i < np; i++) {
		if (!ng || strcmp(p[i]->hd->ns, p[g[ng - 1].at]->hd->ns))
			g[ng++].at = i;
		g[ng - 1].end = i + 1;
		g[ng - 1].left[p[i]->live]++;
	}
	for (live = 0; live < 2; live++)
		while (*kept > HEADS_MAX) {
			for (best = ng, i = 0; i < ng; i++)
				if (g[i].left[live] &&
				    (best == ng || g[i].left[live] > g[best].left[live]))
					best = i;
			if (best == ng)
				break;
			for (i = g[best].at; i < g[best].end && (!p[i]->hd || p[i]->live != live);
			     i++)
				;
			if (i == g[best].end)
				break; /* not so: the counts say there is one */
			p[i]->hd = NULL;
			g[best].left[live]--;
			(*kept)--;
			h->capped++;
		}
out:
	free(p);
	free(g);
}

/* Kept heads by container ID, dropped ones last. */
static int heads_cmp_out(const void *a, const void *b)
{
	const struct heads_view *x = a, *y = b;

	if (!x->hd != !y->hd)
		return x->hd ? -1 : 1;
	return strcmp(x->cid, y->cid);
}

cJSON *heads_json(struct heads *h, heads_live_fn live, void *arg, time_t now)
{
	struct heads_walk w = { calloc(h->map.size ? h->map.size : 1, sizeof(*w.v)), 0, live, arg };
	size_t i, kept = 0;
	char cid[320];
	cJSON *arr;

	if (!w.v)
		return NULL;
	hmap_foreach(&h->map, heads_collect, &w);
	qsort(w.v, w.n, sizeof(*w.v), heads_cmp_prune);
	for (i = 0; i < w.n; i++) {
		/* Expired and no longer audited: nothing of the chain is left. */
		if (!w.v[i].live && w.v[i].hd->keep_until < now)
			w.v[i].hd = NULL;
		else
			kept++;
	}
	if (kept > HEADS_MAX)
		heads_cap(h, w.v, w.n, &kept);
	qsort(w.v, w.n, sizeof(*w.v), heads_cmp_out);
	arr = cJSON_CreateArray();
	for (i = 0; arr && i < kept; i++)
		cJSON_AddItemToArray(arr, heads_item(&w.v[i]));
	for (i = kept; i < w.n; i++) {
		/* The key is the map's: copied before the map frees it. */
		snprintf(cid, sizeof(cid), "%s", w.v[i].cid);
		hmap_remove(&h->map, cid);
	}
	free(w.v);
	return arr;
}
