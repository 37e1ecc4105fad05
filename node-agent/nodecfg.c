// SPDX-License-Identifier: Apache-2.0
/* ShellAuditNode handling, owned by the agent's main loop. */
#include "nodecfg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"
#include "log.h"
#include "util.h"

struct nodecfg {
	char *node;
	struct informer *inf;
	struct nodecfg_target *t;
	size_t n;
	/* Targets the last change removed: their identity stays known until
	 * the next change, for what the agent still writes of them (the end
	 * of their sessions, the entry that says auditing stopped). */
	struct nodecfg_target *removed;
	size_t nremoved;
	long long generation;
	cJSON *applied_spec;	/* the spec the targets were built from */
};

static void nodecfg_target_free(struct nodecfg_target *t)
{
	free(t->cid);
	cJSON_Delete(t->id);
	free(t->id_text);
	redact_free(t->redact);
	free(t->error);
}

static void nodecfg_free_array(struct nodecfg_target *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		nodecfg_target_free(&t[i]);
	free(t);
}

static void nodecfg_clear(struct nodecfg *nc)
{
	nodecfg_free_array(nc->t, nc->n);
	nc->t = NULL;
	nc->n = 0;
	nodecfg_free_array(nc->removed, nc->nremoved);
	nc->removed = NULL;
	nc->nremoved = 0;
}

void nodecfg_stop(struct nodecfg *nc)
{
	if (!nc)
		return;
	informer_stop(nc->inf);
	nodecfg_clear(nc);
	cJSON_Delete(nc->applied_spec);
	free(nc->node);
	free(nc);
}

int nodecfg_start(const struct kubeconfig *cfg, const struct kube_client_opts *copts,
		  const char *node, struct nodecfg **out)
{
	struct nodecfg *nc = calloc(1, sizeof(*nc));
	struct informer_opts o = { 0 };
	char path[512];
	int ret;

	*out = NULL;
	if (!nc || !(nc->node = strdup(node))) {
		free(nc);
		return -ENOMEM;
	}
	/* Only our own object: the agent cannot see other nodes' targets. */
	snprintf(path, sizeof(path),
		 "/apis/shellaudit.io/v1alpha1/shellauditnodes?fieldSelector=metadata.name%%3D%s",
		 node);
	o.path = path;
	if ((ret = informer_start(cfg, copts, &o, &nc->inf)) < 0) {
		nodecfg_stop(nc);
		return ret;
	}
	*out = nc;
	return 0;
}

int nodecfg_fd(const struct nodecfg *nc)
{
	return informer_fd(nc->inf);
}

bool nodecfg_synced(const struct nodecfg *nc)
{
	return informer_synced(nc->inf);
}

long long nodecfg_generation(const struct nodecfg *nc)
{
	return nc->generation;
}

size_t nodecfg_count(const struct nodecfg *nc)
{
	return nc->n;
}

const struct nodecfg_target *nodecfg_at(const struct nodecfg *nc, size_t i)
{
	return i < nc->n ? &nc->t[i] : NULL;
}

const struct sink_spool_target *nodecfg_lookup(const char *cid, void *arg)
{
	const struct nodecfg *nc = arg;
	size_t i;

	for (i = 0; i < nc->n; i++)
		if (!strcmp(nc->t[i].cid, cid))
			return nc->t[i].error ? NULL : &nc->t[i].sst;
	for (i = 0; i < nc->nremoved; i++)
		if (!strcmp(nc->removed[i].cid, cid))
			return nc->removed[i].error ? NULL : &nc->removed[i].sst;
	return NULL;
}

bool nodecfg_held(const char *cid, void *arg)
{
	const struct nodecfg *nc = arg;
	bool any = false;
	size_t i;

	for (i = 0; i < nc->n; i++) {
		if (cid && !strcmp(nc->t[i].cid, cid))
			return nc->t[i].hold;
		any |= nc->t[i].hold;
	}
	return any;
}

const struct nodecfg_target *nodecfg_removed(const struct nodecfg *nc, const char *cid)
{
	size_t i;

	for (i = 0; i < nc->nremoved; i++)
		if (!strcmp(nc->removed[i].cid, cid))
			return &nc->removed[i];
	return NULL;
}

const cJSON *nodecfg_published_heads(const struct nodecfg *nc)
{
	return cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(informer_get(nc->inf, NULL, nc->node), "status"),
		"heads");
}

/* One target of the spec into t. */
static int nodecfg_target(struct nodecfg *nc, const cJSON *spec_t, struct nodecfg_target *t)
{
	static const char *const keep[] = { "namespace",   "pod",      "podUID",    "container",
					    "containerID", "policies", "retention", "events" };
	const char *cid =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(spec_t, "containerID"));
	const cJSON *cap = cJSON_GetObjectItemCaseSensitive(spec_t, "capture");
	const char *from;
	char err[300] = "";
	size_t i;

	memset(t, 0, sizeof(*t));
	if (!cid || !(t->cid = strdup(cid)) || !(t->id = cJSON_CreateObject()))
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(keep); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(spec_t, keep[i]);

		if (v)
			cJSON_AddItemToObject(t->id, i == 0 ? "ns" : keep[i],
					      cJSON_Duplicate(v, 1));
	}
	cJSON_AddStringToObject(t->id, "node", nc->node);
	if (redact_compile(cJSON_GetObjectItemCaseSensitive(spec_t, "redact"), &t->redact, err,
			   sizeof(err)) < 0) {
		log_with(LOG_ERROR, LOG_KV("container", cid), "not auditing: %s", err);
		t->error = strdup(err[0] ? err : "redact rules do not compile");
	}
	t->sst.id = t->id;
	t->sst.redact = t->redact;
	t->sst.readline = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cap, "readline"));
	t->sst.exec = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cap, "exec"));
	t->sst.terminal = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cap, "terminal"));
	from = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(cap, "execFrom"));
	t->sst.exec_sessions = from && !strcmp(from, "Sessions");
	t->hold = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(spec_t, "holdRecords"));
	/* In the identity only when off (records are the same either way):
	 * the batcher reads it beside each entry. */
	if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(cap, "aggregateExecs")))
		cJSON_AddFalseToObject(t->id, "aggregateExecs");
	/* The identity is complete and never changes: printed once, for
	 * every entry of the target (without it, each prints it). */
	t->id_text = jsontext_print(t->id, NULL);
	t->sst.id_text = t->id_text;
	return 0;
}

/* Keeps the targets of old that t (n of them) no longer has as the
 * removed ones, and frees the rest of old. */
static int nodecfg_keep_removed(struct nodecfg *nc, struct nodecfg_target *old, size_t nold)
{
	size_t i, j;

	nodecfg_free_array(nc->removed, nc->nremoved);
	nc->removed = NULL;
	nc->nremoved = 0;
	if (nold && !(nc->removed = calloc(nold, sizeof(*nc->removed)))) {
		nodecfg_free_array(old, nold);
		return -ENOMEM;
	}
	for (i = 0; i < nold; i++) {
		for (j = 0; j < nc->n && strcmp(nc->t[j].cid, old[i].cid); j++)
			;
		if (j < nc->n) {
			nodecfg_target_free(&old[i]);
			continue;
		}
		nc->removed[nc->nremoved] = old[i];
		/* sst.id and sst.redact point into the target: still valid */
		nc->nremoved++;
	}
	free(old);
	return 0;
}

int nodecfg_process(struct nodecfg *nc)
{
	const cJSON *obj, *spec, *arr, *it;
	struct nodecfg_target *old;
	size_t n, nold, i = 0;
	int ret;

	if (informer_process(nc->inf) <= 0 || !informer_synced(nc->inf))
		return 0;
	obj = informer_get(nc->inf, NULL, nc->node);
	spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	if (nc->applied_spec && spec && cJSON_Compare(nc->applied_spec, spec, true)) {
		/* Only status or metadata moved; the generation may have too. */
		nc->generation = (long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "generation"));
		return 0;
	}
	if (!obj && !nc->applied_spec && nc->n == 0)
		return 0;
	old = nc->t;
	nold = nc->n;
	nc->t = NULL;
	nc->n = 0;
	cJSON_Delete(nc->applied_spec);
	nc->applied_spec = spec ? cJSON_Duplicate(spec, 1) : NULL;
	nc->generation =
		obj ? (long long)cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(
			      cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "generation")) :
		      0;
	arr = cJSON_GetObjectItemCaseSensitive(spec, "targets");
	n = (size_t)cJSON_GetArraySize(arr);
	/* Never NULL, even for no targets: the loop below needs no case. */
	if (!(nc->t = calloc(n ? n : 1, sizeof(*nc->t)))) {
		nodecfg_free_array(old, nold);
		return -ENOMEM;
	}
	cJSON_ArrayForEach(it, arr) {
		if ((ret = nodecfg_target(nc, it, &nc->t[i])) < 0) {
			nc->n = i + 1;
			nodecfg_free_array(old, nold);
			return ret;
		}
		i++;
	}
	nc->n = i;
	if ((ret = nodecfg_keep_removed(nc, old, nold)) < 0)
		return ret;
	log_with(LOG_INFO, LOG_KV("node", nc->node), "ShellAuditNode generation %lld: %zu targets",
		 nc->generation, nc->n);
	return 1;
}

/* probeRefused: the container's files the ELF checks refused, with why. */
static void nodecfg_add_refused(cJSON *t, const struct nodecfg_target_status *ts)
{
	cJSON *arr, *r;
	size_t i;

	if (!ts->nrefused)
		return;
	arr = cJSON_AddArrayToObject(t, "probeRefused");
	for (i = 0; i < ts->nrefused && i < NODECFG_REFUSED_MAX; i++) {
		r = cJSON_CreateObject();
		cJSON_AddStringToObject(r, "path", ts->refused[i].path);
		cJSON_AddStringToObject(r, "reason", ts->refused[i].why);
		cJSON_AddItemToArray(arr, r);
	}
}

int nodecfg_report(struct nodecfg *nc, struct kube_client *c,
		   const struct nodecfg_target_status *ts, size_t n, long long drops,
		   const char *last_error, const cJSON *extra)
{
	const cJSON *x;
	const cJSON *obj = informer_get(nc->inf, NULL, nc->node);
	const cJSON *old = cJSON_GetObjectItemCaseSensitive(obj, "status");
	cJSON *status, *targets, *patch;
	struct kube_response resp;
	char path[512];
	long attached = 0;
	size_t i;
	int ret;

	if (!obj)
		return 0;
	status = cJSON_CreateObject();
	if (!ts) {
		/* Leaving: what is attached stays as last said; only the rest
		 * (the heads of the last records) moves. */
		static const char *const keep[] = { "observedGeneration", "targets", "attached" };

		for (i = 0; i < ARRAY_SIZE(keep); i++)
			if ((x = cJSON_GetObjectItemCaseSensitive(old, keep[i])))
				cJSON_AddItemToObject(status, keep[i], cJSON_Duplicate(x, 1));
		goto rest;
	}
	cJSON_AddNumberToObject(status, "observedGeneration", (double)nc->generation);
	targets = cJSON_AddArrayToObject(status, "targets");
	for (i = 0; i < n; i++) {
		cJSON *t = cJSON_CreateObject();

		cJSON_AddStringToObject(t, "containerID", ts[i].cid);
		cJSON_AddBoolToObject(t, "attached", ts[i].attached);
		if (!ts[i].attached) {
			cJSON_AddStringToObject(t, "reason",
						ts[i].reason ? ts[i].reason : "Unknown");
			if (ts[i].message)
				cJSON_AddStringToObject(t, "message", ts[i].message);
		}
		nodecfg_add_refused(t, &ts[i]);
		attached += ts[i].attached;
		cJSON_AddItemToArray(targets, t);
	}
	cJSON_AddNumberToObject(status, "attached", (double)attached);
rest:
	cJSON_AddStringToObject(status, "agentVersion", SHELLAUDIT_VERSION);
	cJSON_AddNumberToObject(status, "drops", (double)drops);
	if (last_error && *last_error)
		cJSON_AddStringToObject(status, "lastError", last_error);
	cJSON_ArrayForEach(x, extra) {
		cJSON_AddItemToObject(status, x->string, cJSON_Duplicate(x, 1));
	}
	if (old && cJSON_Compare(old, status, true)) {
		cJSON_Delete(status);
		return 0;
	}
	/* A merge patch without the key keeps the old lastError: clear it. */
	if (!last_error || !*last_error)
		cJSON_AddNullToObject(status, "lastError");
	patch = cJSON_CreateObject();
	cJSON_AddItemToObject(patch, "status", status);
	snprintf(path, sizeof(path), "/apis/shellaudit.io/v1alpha1/shellauditnodes/%s/status",
		 nc->node);
	ret = kube_patch(c, path, patch, NULL, &resp);
	cJSON_Delete(patch);
	if (ret < 0 && ret != -ENOENT)
		log_with(LOG_WARN, LOG_KV("node", nc->node), "cannot report status: %s",
			 resp.message);
	return ret == -ENOENT ? 0 : ret;
}
