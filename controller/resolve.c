// SPDX-License-Identifier: Apache-2.0
/* Policy resolution: a pure function of the cached objects, recomputed in
 * full on every change (it is cheap next to one API round trip), so that
 * the result never depends on the order events arrived in. */
#include "resolve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The ShellAuditNode schema allows 32 policies per target; policies come
 * sorted by name, so the first 32 are always the same ones. */
#define RESOLVE_MAX_POLICIES 32

static const char *resolve_str(const cJSON *obj, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, a);

	if (b)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_GetStringValue(v);
}

/* Copies key from src to dst when present. */
static int resolve_keep(cJSON *dst, const cJSON *src, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(src, key);
	cJSON *copy;

	if (!v)
		return 0;
	if (!(copy = cJSON_Duplicate(v, 1)))
		return -ENOMEM;
	cJSON_AddItemToObject(dst, key, copy);
	return 0;
}

/* Keeps name, containerID and whether it runs of each container status. */
static int resolve_keep_statuses(cJSON *dst, const cJSON *status, const char *key)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(status, key), *cs;
	cJSON *out;

	if (!cJSON_IsArray(list))
		return 0;
	if (!(out = cJSON_AddArrayToObject(dst, key)))
		return -ENOMEM;
	cJSON_ArrayForEach(cs, list) {
		cJSON *t = cJSON_CreateObject();
		const cJSON *running = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(cs, "state"), "running");

		if (!t)
			return -ENOMEM;
		cJSON_AddItemToArray(out, t);
		if (resolve_keep(t, cs, "name") < 0 || resolve_keep(t, cs, "containerID") < 0)
			return -ENOMEM;
		if (running)
			cJSON_AddTrueToObject(t, "running");
	}
	return 0;
}

cJSON *resolve_trim_pod(const cJSON *pod)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(pod, "metadata");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(pod, "spec");
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(pod, "status");
	cJSON *t = cJSON_CreateObject(), *tmd, *tspec, *tstatus;
	static const char *const mdkeys[] = { "name", "namespace", "uid", "resourceVersion",
					      "labels" };
	size_t i;

	if (!t)
		return NULL;
	tmd = cJSON_AddObjectToObject(t, "metadata");
	tspec = cJSON_AddObjectToObject(t, "spec");
	tstatus = cJSON_AddObjectToObject(t, "status");
	if (!tmd || !tspec || !tstatus)
		goto fail;
	for (i = 0; i < ARRAY_SIZE(mdkeys); i++)
		if (resolve_keep(tmd, md, mdkeys[i]) < 0)
			goto fail;
	if (resolve_keep(tspec, spec, "nodeName") < 0 || resolve_keep(tstatus, status, "phase") < 0 ||
	    resolve_keep_statuses(tstatus, status, "containerStatuses") < 0 ||
	    resolve_keep_statuses(tstatus, status, "initContainerStatuses") < 0 ||
	    resolve_keep_statuses(tstatus, status, "ephemeralContainerStatuses") < 0)
		goto fail;
	return t;
fail:
	cJSON_Delete(t);
	return NULL;
}

static void resolve_free_array(void *value)
{
	cJSON_Delete(value);
}

static void resolve_free_result(void *value)
{
	struct resolve_policy_result *pr = value;

	hmap_clear(&pr->nodes);
	free(pr);
}

void resolve_clear(struct resolution *r)
{
	hmap_clear(&r->nodes);
	hmap_clear(&r->policies);
}

/* The target object of one container for the policies that want it. */
static cJSON *resolve_target(const cJSON *pod, const char *container, const char *cid,
			     struct policy *const *matched, size_t n)
{
	cJSON *t = cJSON_CreateObject(), *pols, *cap, *ev, *redact;
	bool readline = false, exec = false, enabled = false, execev = false;
	long rate = 6000;
	const struct policy *longest = NULL;
	const cJSON *rule, *seen;
	size_t i;

	if (!t)
		return NULL;
	cJSON_AddStringToObject(t, "namespace", resolve_str(pod, "metadata", "namespace"));
	cJSON_AddStringToObject(t, "pod", resolve_str(pod, "metadata", "name"));
	cJSON_AddStringToObject(t, "podUID", resolve_str(pod, "metadata", "uid") ?: "");
	cJSON_AddStringToObject(t, "container", container);
	cJSON_AddStringToObject(t, "containerID", cid);
	pols = cJSON_AddArrayToObject(t, "policies");
	redact = cJSON_CreateArray();
	for (i = 0; i < n; i++) {
		const struct policy *p = matched[i];

		cJSON_AddItemToArray(pols, cJSON_CreateString(p->name));
		readline |= p->capture_readline;
		exec |= p->capture_exec;
		enabled |= p->events_enabled;
		execev |= p->events_enabled && p->events_exec;
		if (p->rate_per_minute < rate)
			rate = p->rate_per_minute;
		if (!longest || p->retention_s > longest->retention_s)
			longest = p;
		cJSON_ArrayForEach(rule, p->redact) {
			cJSON *r = cJSON_CreateObject();
			const char *rep = resolve_str(rule, "replacement", NULL);
			bool dup = false;

			cJSON_AddStringToObject(r, "name", resolve_str(rule, "name", NULL) ?: "");
			cJSON_AddStringToObject(r, "pattern", resolve_str(rule, "pattern", NULL) ?: "");
			cJSON_AddStringToObject(r, "replacement", rep ? rep : "[REDACTED]");
			cJSON_ArrayForEach(seen, redact)
				dup |= cJSON_Compare(seen, r, true);
			if (dup)
				cJSON_Delete(r);
			else
				cJSON_AddItemToArray(redact, r);
		}
	}
	cap = cJSON_AddObjectToObject(t, "capture");
	cJSON_AddBoolToObject(cap, "readline", readline);
	cJSON_AddBoolToObject(cap, "exec", exec);
	ev = cJSON_AddObjectToObject(t, "events");
	cJSON_AddBoolToObject(ev, "enabled", enabled);
	cJSON_AddBoolToObject(ev, "execEvents", execev);
	cJSON_AddNumberToObject(ev, "ratePerMinute", (double)rate);
	cJSON_AddStringToObject(t, "retention", longest ? longest->retention : "720h");
	if (cJSON_GetArraySize(redact) > 0)
		cJSON_AddItemToObject(t, "redact", redact);
	else
		cJSON_Delete(redact);
	return t;
}

static struct resolve_policy_result *resolve_result(struct resolution *r, const char *name)
{
	struct resolve_policy_result *pr = hmap_get(&r->policies, name);

	if (pr)
		return pr;
	if (!(pr = calloc(1, sizeof(*pr))))
		return NULL;
	hmap_init(&pr->nodes);
	if (hmap_put(&r->policies, name, pr, NULL) < 0) {
		free(pr);
		return NULL;
	}
	return pr;
}

static int resolve_add_target(struct resolution *r, const char *node, cJSON *t)
{
	cJSON *arr = hmap_get(&r->nodes, node);

	if (!arr) {
		if (!(arr = cJSON_CreateArray()))
			return -ENOMEM;
		if (hmap_put(&r->nodes, node, arr, NULL) < 0) {
			cJSON_Delete(arr);
			return -ENOMEM;
		}
	}
	cJSON_AddItemToArray(arr, t);
	return 0;
}

static int resolve_pod(struct resolution *r, struct policy *const *pols, size_t npols,
		       const cJSON *pod, resolve_ns_labels_fn ns_labels, void *arg,
		       struct policy **matched)
{
	static const char *const lists[] = { "containerStatuses", "initContainerStatuses",
					     "ephemeralContainerStatuses" };
	const char *node = resolve_str(pod, "spec", "nodeName");
	const char *ns = resolve_str(pod, "metadata", "namespace");
	const char *phase = resolve_str(pod, "status", "phase");
	const cJSON *labels = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(pod, "metadata"), "labels");
	const cJSON *nsl, *cs;
	size_t i, l, nm = 0, nw;
	struct policy *want[RESOLVE_MAX_POLICIES];

	if (!node || !*node || !ns || (phase && (!strcmp(phase, "Succeeded") || !strcmp(phase, "Failed"))))
		return 0;
	nsl = ns_labels(ns, arg);
	for (i = 0; i < npols; i++) {
		struct resolve_policy_result *pr;

		if (!selector_matches(pols[i]->ns_sel, nsl) ||
		    !selector_matches(pols[i]->pod_sel, labels))
			continue;
		if (!(pr = resolve_result(r, pols[i]->name)))
			return -ENOMEM;
		pr->matched_pods++;
		matched[nm++] = pols[i];
	}
	if (!nm)
		return 0;
	for (l = 0; l < 3; l++) {
		cJSON_ArrayForEach(cs, cJSON_GetObjectItemCaseSensitive(
					       cJSON_GetObjectItemCaseSensitive(pod, "status"), lists[l])) {
			const char *name = resolve_str(cs, "name", NULL);
			const char *cid = resolve_str(cs, "containerID", NULL);
			cJSON *t;

			if (!name || !cid || !*cid || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cs, "running")))
				continue;
			for (i = 0, nw = 0; i < nm && nw < RESOLVE_MAX_POLICIES; i++)
				if (policy_wants_container(matched[i], name))
					want[nw++] = matched[i];
			if (!nw)
				continue;
			if (!(t = resolve_target(pod, name, cid, want, nw)))
				return -ENOMEM;
			if (resolve_add_target(r, node, t) < 0) {
				cJSON_Delete(t);
				return -ENOMEM;
			}
			for (i = 0; i < nw; i++) {
				struct resolve_policy_result *pr = resolve_result(r, want[i]->name);

				if (!pr || hmap_add(&pr->nodes, node) < 0)
					return -ENOMEM;
			}
		}
	}
	return 0;
}

static int resolve_cmp_cid(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;

	return strcmp(resolve_str(x, "containerID", NULL), resolve_str(y, "containerID", NULL));
}

/* Sorts a node's targets by containerID and drops duplicates (one
 * container ID reported twice by a confused kubelet must not fail the
 * list-map validation of the whole node). */
static void resolve_sort(const char *key, void *value, void *arg)
{
	cJSON *arr = value, **items, *it;
	size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;

	(void)key;
	(void)arg;
	if (!(items = calloc(n ? n : 1, sizeof(*items))))
		return;
	while ((it = cJSON_DetachItemFromArray(arr, 0)))
		items[i++] = it;
	qsort(items, n, sizeof(*items), resolve_cmp_cid);
	for (i = 0; i < n; i++) {
		if (i && !resolve_cmp_cid(&items[i - 1], &items[i]))
			cJSON_Delete(items[i]);
		else
			cJSON_AddItemToArray(arr, items[i]);
	}
	free(items);
}

int resolve_compute(struct policy *const *pols, size_t npols, const cJSON *const *pods,
		    size_t npods, resolve_ns_labels_fn ns_labels, void *arg, struct resolution *out)
{
	struct policy **matched = calloc(npols ? npols : 1, sizeof(*matched));
	size_t i;
	int ret = 0;

	hmap_init_free(&out->nodes, resolve_free_array);
	hmap_init_free(&out->policies, resolve_free_result);
	if (!matched)
		return -ENOMEM;
	for (i = 0; i < npols; i++)
		if (!resolve_result(out, pols[i]->name)) {
			ret = -ENOMEM;
			goto out;
		}
	for (i = 0; i < npods; i++)
		if ((ret = resolve_pod(out, pols, npols, pods[i], ns_labels, arg, matched)) < 0)
			goto out;
	hmap_foreach(&out->nodes, resolve_sort, NULL);
out:
	free(matched);
	if (ret < 0)
		resolve_clear(out);
	return ret;
}

cJSON *resolve_node_spec(const struct resolution *r, const char *node)
{
	const cJSON *arr = hmap_get(&r->nodes, node);
	cJSON *spec = cJSON_CreateObject();

	if (!spec)
		return NULL;
	cJSON_AddNumberToObject(spec, "targetCount", arr ? cJSON_GetArraySize(arr) : 0);
	cJSON_AddItemToObject(spec, "targets", arr ? cJSON_Duplicate(arr, 1) : cJSON_CreateArray());
	return spec;
}

bool resolve_node_spec_equal(const struct resolution *r, const char *node, const cJSON *spec)
{
	const cJSON *arr = hmap_get(&r->nodes, node);
	const cJSON *count = cJSON_GetObjectItemCaseSensitive(spec, "targetCount");
	const cJSON *targets = cJSON_GetObjectItemCaseSensitive(spec, "targets");
	int n = arr ? cJSON_GetArraySize(arr) : 0;

	if (!cJSON_IsNumber(count) || count->valuedouble != n || !cJSON_IsArray(targets))
		return false;
	/* Two keys exactly: what resolve_node_spec writes. */
	if (cJSON_GetArraySize(spec) != 2)
		return false;
	return n ? cJSON_Compare(arr, targets, true) : cJSON_GetArraySize(targets) == 0;
}
