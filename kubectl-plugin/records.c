// SPDX-License-Identifier: Apache-2.0
/* Loading and grouping AuditRecords into chains and sessions; see records.h. */
#include "records.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"
#include "output.h"
#include "record.h"
#include "timefmt.h"
#include "verify.h"

/* Records per list page: a record can approach the agent's 256 KiB batch
 * bound, and a page must stay under the client's 64 MiB body limit. */
#define RECORDS_PAGE 100

static const cJSON *records_get(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	return b ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}

static const char *records_str(const cJSON *o, const char *a, const char *b)
{
	return cJSON_GetStringValue(records_get(o, a, b));
}

struct timespec records_time(const char *s)
{
	struct timespec ts = { 0 };

	if (!s || timefmt_parse(s, &ts) < 0)
		ts = (struct timespec){ 0 };
	return ts;
}

static int records_cmp_time(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	return a.tv_nsec < b.tv_nsec ? -1 : a.tv_nsec > b.tv_nsec;
}

const char *records_user(const cJSON *rec)
{
	const cJSON *u = records_get(records_get(rec, "spec", "attribution"), "user", NULL);

	if (cJSON_IsObject(u))
		u = cJSON_GetObjectItemCaseSensitive(u, "username");
	return cJSON_GetStringValue(u);
}

void records_session_name(const cJSON *rec, char *name)
{
	const char *cid = records_str(rec, "spec", "containerID");
	const char *key = records_str(records_get(rec, "spec", "session"), "id", NULL);
	char label[20];

	record_container_label(cid ? cid : "", label);
	if (key && *key)
		snprintf(name, SESSION_NAME_MAX, "%.8s-%.128s", label, key);
	else
		snprintf(name, SESSION_NAME_MAX, "%.8s", label);
}

int records_parse_session_name(const char *name, char label[20], const char **key)
{
	size_t n = strspn(name, "0123456789abcdef");

	if (n < 8 || n > 16 || (name[n] && name[n] != '-') || (name[n] == '-' && !name[n + 1]))
		return -EINVAL;
	snprintf(label, 20, "%.*s", (int)n, name);
	*key = name[n] ? name + n + 1 : "";
	return 0;
}

static void records_chain_free(struct chain *ch)
{
	size_t i;

	if (!ch)
		return;
	for (i = 0; i < ch->n; i++)
		cJSON_Delete(ch->recs[i]);
	free(ch->recs);
	free(ch->cid);
	free(ch->ns);
	free(ch->pod);
	free(ch->pod_uid);
	free(ch->container);
	free(ch);
}

static void records_session_free(struct session *s)
{
	if (!s)
		return;
	free(s->key);
	free(s->user);
	free(s->end);
	free(s);
}

static void records_free_chain(const char *key, void *value, void *arg)
{
	(void)key;
	(void)arg;
	records_chain_free(value);
}

static void records_free_session(const char *key, void *value, void *arg)
{
	(void)key;
	(void)arg;
	records_session_free(value);
}

/* Forgets every record kept so far. */
static void records_clear(struct records *r)
{
	hmap_foreach(&r->chains, records_free_chain, NULL);
	hmap_clear(&r->chains);
	hmap_foreach(&r->sessions, records_free_session, NULL);
	hmap_clear(&r->sessions);
	r->skipped = 0;
}

void records_free(struct records *r)
{
	if (!r)
		return;
	records_clear(r);
	free(r->rv);
	free(r);
}

int records_init(struct records **out)
{
	struct records *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return -ENOMEM;
	hmap_init(&r->chains);
	hmap_init(&r->sessions);
	*out = r;
	return 0;
}

static struct chain *records_chain(struct records *r, const cJSON *rec)
{
	const char *cid = records_str(rec, "spec", "containerID");
	struct chain *ch = hmap_get(&r->chains, cid);

	if (ch)
		return ch;
	if (!(ch = calloc(1, sizeof(*ch))))
		return NULL;
	record_container_label(cid, ch->label);
	ch->cid = strdup(cid);
	ch->ns = strdup(records_str(rec, "metadata", "namespace"));
	ch->pod = strdup(records_str(records_get(rec, "spec", "pod"), "name", NULL));
	ch->pod_uid = strdup(records_str(records_get(rec, "spec", "pod"), "uid", NULL) ?: "");
	ch->container = strdup(records_str(rec, "spec", "container"));
	if (!ch->cid || !ch->ns || !ch->pod || !ch->pod_uid || !ch->container ||
	    hmap_put(&r->chains, cid, ch, NULL) < 0) {
		records_chain_free(ch);
		return NULL;
	}
	return ch;
}

static struct session *records_session(struct records *r, struct chain *ch, const cJSON *rec)
{
	const char *key = records_str(records_get(rec, "spec", "session"), "id", NULL);
	char id[SESSION_NAME_MAX + 20];
	struct session *s;

	/* Keyed by the whole label: two containers whose labels share the 8
	 * hex a name shows stay two sessions (show then says it is ambiguous). */
	snprintf(id, sizeof(id), "%s-%.128s", ch->label, key ? key : "");
	if ((s = hmap_get(&r->sessions, id)))
		return s;
	if (!(s = calloc(1, sizeof(*s))))
		return NULL;
	s->chain = ch;
	records_session_name(rec, s->name);
	if (!(s->key = strdup(key ? key : "")) || hmap_put(&r->sessions, id, s, NULL) < 0) {
		records_session_free(s);
		return NULL;
	}
	return s;
}

/* Folds a record's entries, user and end into its session's summary. */
static int records_summarize(struct session *s, const cJSON *rec)
{
	const cJSON *e;
	const char *user = records_user(rec);
	const char *end = records_str(records_get(rec, "spec", "session"), "end", NULL);

	s->records++;
	if (user && !s->user && !(s->user = strdup(user)))
		return -ENOMEM;
	if (end && !s->end && !(s->end = strdup(end)))
		return -ENOMEM;
	cJSON_ArrayForEach(e, records_get(rec, "spec", "entries")) {
		const char *kind = records_str(e, "kind", NULL);
		struct timespec t = records_time(records_str(e, "time", NULL));

		if (kind && !strcmp(kind, "line"))
			s->lines++;
		else if (kind && !strcmp(kind, "exec"))
			s->execs++;
		else if (kind && !strcmp(kind, "gap"))
			s->gaps++;
		if ((!s->first.tv_sec && !s->first.tv_nsec) || records_cmp_time(t, s->first) < 0)
			s->first = t;
		if (records_cmp_time(t, s->last) > 0)
			s->last = t;
	}
	return 0;
}

static bool records_match(const struct records_filter *f, const cJSON *rec)
{
	const char *cid = records_str(rec, "spec", "containerID");
	char label[20];

	if (f->pod && strcmp(f->pod, records_str(records_get(rec, "spec", "pod"), "name", NULL)))
		return false;
	if (f->container && strcmp(f->container, records_str(rec, "spec", "container")))
		return false;
	if (f->label) {
		record_container_label(cid, label);
		if (strncmp(label, f->label, strlen(f->label)))
			return false;
	}
	return true;
}

/* The fields every use below relies on (the CRD requires them; a record
 * that lacks one was not written by the agent). */
static bool records_valid(const cJSON *rec)
{
	return records_str(rec, "metadata", "name") && records_str(rec, "metadata", "namespace") &&
	       records_str(rec, "spec", "containerID") && records_str(rec, "spec", "container") &&
	       records_str(records_get(rec, "spec", "pod"), "name", NULL) &&
	       cJSON_IsArray(records_get(rec, "spec", "entries"));
}

int records_add(struct records *r, const struct records_filter *f, const cJSON *rec,
		struct session **sess)
{
	struct chain *ch;
	struct session *s;
	cJSON *copy;

	if (!records_valid(rec)) {
		r->skipped++;
		return 0;
	}
	if (!records_match(f, rec))
		return 0;
	if (!(ch = records_chain(r, rec)) || !(s = records_session(r, ch, rec)))
		return -ENOMEM;
	if (ch->n == ch->cap) {
		size_t cap = ch->cap ? ch->cap * 2 : 16;
		cJSON **p = realloc(ch->recs, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		ch->recs = p;
		ch->cap = cap;
	}
	if (!(copy = cJSON_Duplicate(rec, 1)))
		return -ENOMEM;
	ch->recs[ch->n++] = copy;
	if (sess)
		*sess = s;
	return records_summarize(s, rec) < 0 ? -ENOMEM : 1;
}

struct records_list {
	struct records *r;
	const struct records_filter *f;
};

static int records_collect(const cJSON *item, void *arg)
{
	struct records_list *l = arg;
	int ret;

	if (!item) { /* the list starts over (an expired continue token) */
		records_clear(l->r);
		return 0;
	}
	ret = records_add(l->r, l->f, item, NULL);
	return ret < 0 ? ret : 0;
}

static void records_verify_chain(const char *key, void *value, void *arg)
{
	struct chain *ch = value;
	struct verify_result res;

	(void)key;
	(void)arg;
	ch->state = verify_chain(ch->recs, ch->n, NULL, &res) == 0 ? CHAIN_INTACT : CHAIN_BROKEN;
}

/* A name safe to put in a request path: what Kubernetes allows in
 * namespace and pod names (a record's spec is not checked for it). */
bool records_valid_name(const char *s)
{
	return *s && strlen(s) <= 253 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789.-") == strlen(s);
}

static bool records_container_runs(const cJSON *pod, const char *cid)
{
	static const char *const lists[] = { "containerStatuses", "initContainerStatuses",
					     "ephemeralContainerStatuses", NULL };
	const cJSON *st;
	int i;

	for (i = 0; lists[i]; i++)
		cJSON_ArrayForEach(st, records_get(pod, "status", lists[i])) {
			const char *id = records_str(st, "containerID", NULL);

			if (id && !strcmp(id, cid) && records_get(st, "state", "running"))
				return true;
		}
	return false;
}

struct records_pods {
	struct kube_client *c;
	struct hmap pods; /* "ns/name" -> cJSON pod, or &records_no_pod */
};

static cJSON records_no_pod;
static cJSON records_unknown_pod;

static void records_running(const char *key, void *value, void *arg)
{
	struct records_pods *p = arg;
	struct chain *ch = value;
	char path[600], id[520];
	cJSON *pod;
	int ret;

	(void)key;
	if (!records_valid_name(ch->ns) || !records_valid_name(ch->pod))
		return; /* RUNNING_UNKNOWN */
	snprintf(id, sizeof(id), "%s/%s", ch->ns, ch->pod);
	if (!(pod = hmap_get(&p->pods, id))) {
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ch->ns, ch->pod);
		ret = kube_get(p->c, path, &pod, NULL);
		if (ret == -ENOENT)
			pod = &records_no_pod;
		else if (ret < 0)
			pod = &records_unknown_pod;
		if (hmap_put(&p->pods, id, pod, NULL) < 0) {
			if (pod != &records_no_pod && pod != &records_unknown_pod)
				cJSON_Delete(pod);
			return;
		}
	}
	if (pod == &records_unknown_pod)
		ch->running = RUNNING_UNKNOWN;
	else if (pod == &records_no_pod ||
		 strcmp(records_str(pod, "metadata", "uid") ?: "", ch->pod_uid))
		ch->running = RUNNING_NO;
	else
		ch->running = records_container_runs(pod, ch->cid) ? RUNNING_YES : RUNNING_NO;
}

static void records_free_pod(const char *key, void *value, void *arg)
{
	(void)key;
	(void)arg;
	if (value != &records_no_pod && value != &records_unknown_pod)
		cJSON_Delete(value);
}

int records_load(struct kube_client *c, const struct records_filter *f, bool running,
		 struct records **out, char *message, size_t msglen)
{
	struct records_list l = { .f = f };
	struct kube_response resp = { 0 };
	struct records_pods pods = { .c = c };
	char path[512];
	int ret;

	*out = NULL;
	if (f->ns && !records_valid_name(f->ns)) {
		snprintf(message, msglen, "invalid namespace name '%.64s'", f->ns);
		return -EINVAL;
	}
	if ((ret = records_init(&l.r)) < 0)
		return ret;
	if (f->ns)
		snprintf(path, sizeof(path),
			 "/apis/shellaudit.io/v1alpha1/namespaces/%s/auditrecords", f->ns);
	else
		snprintf(path, sizeof(path), "/apis/shellaudit.io/v1alpha1/auditrecords");
	ret = kube_list(c, path, RECORDS_PAGE, records_collect, &l, &l.r->rv, &resp);
	if (ret < 0) {
		snprintf(message, msglen, "cannot list AuditRecords%s%s: %s", f->ns ? " in " : "",
			 f->ns ? f->ns : "", resp.message[0] ? resp.message : strerror(-ret));
		kube_response_clear(&resp);
		records_free(l.r);
		return ret;
	}
	kube_response_clear(&resp);
	hmap_foreach(&l.r->chains, records_verify_chain, NULL);
	if (running) {
		hmap_init(&pods.pods);
		hmap_foreach(&l.r->chains, records_running, &pods);
		hmap_foreach(&pods.pods, records_free_pod, NULL);
		hmap_clear(&pods.pods);
	}
	*out = l.r;
	return 0;
}

struct records_gather {
	struct session **v;
	size_t n;
};

static void records_gather(const char *key, void *value, void *arg)
{
	struct records_gather *g = arg;

	(void)key;
	g->v[g->n++] = value;
}

static int records_cmp_session(const void *a, const void *b)
{
	const struct session *x = *(struct session *const *)a, *y = *(struct session *const *)b;
	int c = records_cmp_time(x->first, y->first);

	return c ? c : strcmp(x->name, y->name);
}

struct session **records_sessions(const struct records *r, size_t *n)
{
	struct records_gather g = { calloc(r->sessions.size ? r->sessions.size : 1, sizeof(*g.v)),
				    0 };

	*n = 0;
	if (!g.v)
		return NULL;
	hmap_foreach(&r->sessions, records_gather, &g);
	qsort(g.v, g.n, sizeof(*g.v), records_cmp_session);
	*n = g.n;
	return g.v;
}

struct records_names {
	const char *v[8];
	size_t n;
	bool more;
};

static void records_container_names(const char *key, void *value, void *arg)
{
	const struct chain *ch = value;
	struct records_names *l = arg;
	size_t i;

	(void)key;
	for (i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], ch->container))
			return;
	if (l->n < sizeof(l->v) / sizeof(l->v[0]))
		l->v[l->n++] = ch->container;
	else
		l->more = true;
}

static char *records_default_container(struct kube_client *c, const char *ns, const char *pod)
{
	const cJSON *containers;
	const char *name;
	char path[600], *ret = NULL;
	cJSON *obj = NULL;

	if (!records_valid_name(ns) || !records_valid_name(pod))
		return NULL;
	snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", ns, pod);
	if (kube_get(c, path, &obj, NULL) < 0)
		return NULL;
	containers = records_get(obj, "spec", "containers");
	name = records_str(records_get(obj, "metadata", "annotations"),
			   "kubectl.kubernetes.io/default-container", NULL);
	if (!name)
		name = records_str(cJSON_GetArrayItem(containers, 0), "name", NULL);
	if (name)
		ret = strdup(name);
	cJSON_Delete(obj);
	return ret;
}

int records_pick_container(struct kube_client *c, const struct records *r, const char *ns,
			   const char *pod, char **out, char *why, size_t whylen)
{
	struct records_names names = { 0 };
	size_t i, used;
	char *p;

	*out = NULL;
	hmap_foreach(&r->chains, records_container_names, &names);
	if (names.n == 1 && !names.more)
		*out = strdup(names.v[0]);
	else
		*out = records_default_container(c, ns, pod);
	if (*out)
		return 0;
	if (names.n == 0) {
		p = out_text_dup(pod);
		snprintf(why, whylen, "no AuditRecords for pod %s in namespace %s", p ? p : "?",
			 ns);
		free(p);
		return -ENOENT;
	}
	p = out_text_dup(pod);
	used = (size_t)snprintf(why, whylen,
				"a container name must be specified for pod %s, choose one of: [",
				p ? p : "?");
	free(p);
	for (i = 0; i < names.n && used < whylen; i++) {
		p = out_text_dup(names.v[i]);
		used += (size_t)snprintf(why + used, whylen - used, "%s%s", i ? " " : "",
					 p ? p : "?");
		free(p);
	}
	if (used < whylen)
		snprintf(why + used, whylen - used, "%s]", names.more ? " ..." : "");
	return -EINVAL;
}
