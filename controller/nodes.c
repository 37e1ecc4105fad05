// SPDX-License-Identifier: Apache-2.0
/* ShellAuditNode writer: one object per node that has targets, named after
 * the node, whose spec is exactly the resolution for that node. Written
 * only when it differs (compared by digest: the cache keeps the digest of
 * each spec, not the spec), deleted when the node has no targets left and
 * its status holds no chain head of records still kept: those heads and
 * the node's signing key are what `verify` checks the records against.
 * Every update and delete carries the resourceVersion the decision was
 * made from, so a replica with an older view gets a 409 and compares
 * again instead of overwriting a newer spec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "controller.h"
#include "jsontext.h"
#include "timefmt.h"
#include "util.h"

#define NODES_PATH SHELLAUDIT_GROUP_PATH "/shellauditnodes"
/* Our own write, until the informer brings it (or this long at most). */
#define NODES_WRITTEN_MS 30000
/* headsKeptUntil of a head whose keepUntil cannot be read. */
#define NODES_KEPT_FOREVER 1e15

struct nodes_written {
	char hash[DIGEST_STR_LEN];	/* digest of the spec we wrote */
	char rv[64];			/* the resourceVersion it left */
	long at;			/* clock_now_ms() */
};

static const char *nodes_str(const cJSON *obj, const char *a, const char *b)
{
	return cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, a), b));
}

/* Until when the status names a chain whose records are kept: the latest
 * status.heads[].keepUntil (epoch seconds), NODES_KEPT_FOREVER when one
 * cannot be read (it counts as kept), 0 when there is no head. */
static double nodes_heads_kept_until(const cJSON *san)
{
	const cJSON *h;
	struct timespec ts;
	double until = 0;

	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(
				      cJSON_GetObjectItemCaseSensitive(san, "status"), "heads")) {
		const char *keep =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "keepUntil"));

		if (!keep || timefmt_parse(keep, &ts) < 0)
			return NODES_KEPT_FOREVER;
		if ((double)ts.tv_sec > until)
			until = (double)ts.tv_sec;
	}
	return until;
}

cJSON *nodes_trim(const cJSON *san)
{
	static const char *const keep[] = { "name", "uid", "resourceVersion", "generation" };
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(san, "metadata");
	const cJSON *obs = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(san, "status"), "observedGeneration");
	const cJSON *spec = cJSON_GetObjectItemCaseSensitive(san, "spec");
	cJSON *t = cJSON_CreateObject(), *tmd;
	char hash[DIGEST_STR_LEN];
	double until;
	size_t i;

	if (!t || !(tmd = cJSON_AddObjectToObject(t, "metadata")))
		goto fail;
	for (i = 0; i < ARRAY_SIZE(keep); i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(md, keep[i]);

		if (v && !cJSON_AddItemToObject(tmd, keep[i], cJSON_Duplicate(v, 1)))
			goto fail;
	}
	if (cJSON_IsNumber(obs) &&
	    !cJSON_AddNumberToObject(cJSON_AddObjectToObject(t, "status"), "observedGeneration",
				     obs->valuedouble))
		goto fail;
	/* A spec with no canonical form cannot equal ours: no digest. */
	if (spec && digest_json(spec, NULL, hash) == 0)
		cJSON_AddStringToObject(t, "specHash", hash);
	/* The heads themselves move with every record the agent publishes:
	 * only until when they keep the object is kept, outside "status". */
	if ((until = nodes_heads_kept_until(san)) > 0 &&
	    !cJSON_AddNumberToObject(t, "headsKeptUntil", until))
		goto fail;
	return t;
fail:
	cJSON_Delete(t);
	return NULL;
}

void nodes_seen(struct controller *c, const cJSON *san)
{
	const char *name = nodes_str(san, "metadata", "name");
	const char *rv = nodes_str(san, "metadata", "resourceVersion");
	struct nodes_written *w = name ? hmap_get(&c->written, name) : NULL;

	if (w && rv && !strcmp(rv, w->rv))
		hmap_remove(&c->written, name);
}

/* What the decision is made from: our last write while the cache is
 * behind it, else the cache. */
static void nodes_current(struct controller *c, const char *node, const cJSON *san,
			  const char **hash, const char **rv)
{
	struct nodes_written *w = hmap_get(&c->written, node);

	if (w && (!san || clock_now_ms() - w->at > NODES_WRITTEN_MS)) {
		hmap_remove(&c->written, node);
		w = NULL;
	}
	*hash = w ? w->hash :
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(san, "specHash"));
	*rv = w ? w->rv : nodes_str(san, "metadata", "resourceVersion");
}

static int nodes_submit_delete(struct controller *c, const char *node, const cJSON *san,
			       const char *rv)
{
	const char *uid = nodes_str(san, "metadata", "uid");
	struct write_job *j;
	char key[320], path[512];

	snprintf(key, sizeof(key), "node/%s", node);
	snprintf(path, sizeof(path), NODES_PATH "/%s", node);
	if (!(j = write_job_new(key, "DELETE", path)))
		return -ENOMEM;
	snprintf(j->uid, sizeof(j->uid), "%s", uid ? uid : "");
	snprintf(j->rv, sizeof(j->rv), "%s", rv ? rv : "");
	controller_submit(c, j);
	return 1;
}

int nodes_sync(struct controller *c, const char *node)
{
	const cJSON *san = informer_get(c->inf[CTL_NODES], NULL, node);
	const char *have, *rv, *want;
	cJSON *obj, *spec, *md;
	struct write_job *j;
	char key[320], path[512];

	nodes_current(c, node, san, &have, &rv);
	if (!resolve_node_has_targets(&c->res, node)) {
		double kept = cJSON_GetNumberValue(
			cJSON_GetObjectItemCaseSensitive(san, "headsKeptUntil"));
		long now = (long)time(NULL);

		if (!san)
			return 0;
		if (!(kept >= (double)now))
			return controller_take_write(c) ? nodes_submit_delete(c, node, san, rv) :
							  -EAGAIN;
		/* No targets, but records still kept: the spec empties, the
		 * object (with the heads and the key) stays, and is looked at
		 * again once its last head has expired. */
		if (kept < NODES_KEPT_FOREVER)
			controller_enqueue(c, "node", node, ((long)kept - now + 1) * 1000L);
	}
	if (!(want = resolve_node_hash(&c->res, node)))
		return -ENOMEM;
	if (have && !strcmp(have, want))
		return 0;
	if (!controller_take_write(c))
		return -EAGAIN;
	if (!(spec = resolve_node_spec(&c->res, node)) || !(obj = cJSON_CreateObject())) {
		cJSON_Delete(spec);
		return -ENOMEM;
	}
	md = cJSON_AddObjectToObject(obj, "metadata");
	if (san) {
		/* A merge patch replaces the targets list whole; the
		 * resourceVersion makes it conditional. */
		cJSON_AddStringToObject(md, "resourceVersion", rv ? rv : "");
	} else {
		cJSON_AddStringToObject(obj, "apiVersion", "shellaudit.io/v1alpha1");
		cJSON_AddStringToObject(obj, "kind", "ShellAuditNode");
		cJSON_AddStringToObject(md, "name", node);
	}
	cJSON_AddItemToObject(obj, "spec", spec);
	snprintf(key, sizeof(key), "node/%s", node);
	snprintf(path, sizeof(path), san ? NODES_PATH "/%s" : NODES_PATH, node);
	if (!(j = write_job_new(key, san ? "PATCH" : "POST", path)) ||
	    !(j->body = jsontext_print(obj, NULL))) {
		write_job_free(j);
		cJSON_Delete(obj);
		return -ENOMEM;
	}
	cJSON_Delete(obj);
	snprintf(j->hash, sizeof(j->hash), "%s", want);
	controller_submit(c, j);
	return 1;
}

int nodes_done(struct controller *c, const char *node, struct write_job *j)
{
	const char *what = !strcmp(j->method, "POST") ? "create" :
			   !strcmp(j->method, "DELETE") ? "delete" : "update";

	if (j->ret == 0) {
		struct nodes_written *w;

		if (!strcmp(j->method, "DELETE")) {
			hmap_remove(&c->written, node);
			log_with(LOG_INFO, LOG_KV("node", node),
				 "deleted ShellAuditNode: no targets and no records left");
			return 0;
		}
		log_with(LOG_INFO, LOG_KV("node", node), "%sd ShellAuditNode", what);
		if (j->new_rv[0] && (w = calloc(1, sizeof(*w)))) {
			snprintf(w->hash, sizeof(w->hash), "%s", j->hash);
			snprintf(w->rv, sizeof(w->rv), "%s", j->new_rv);
			w->at = clock_now_ms();
			if (hmap_put(&c->written, node, w, NULL) < 0)
				free(w);
		}
		return 0;
	}
	/* Whatever we wrote before is no guide any more. */
	hmap_remove(&c->written, node);
	if (j->ret == -ENOENT && !strcmp(j->method, "DELETE"))
		return 0;
	if (j->ret == -EBUSY || j->ret == -EEXIST || j->ret == -ENOENT || j->ret == -EAGAIN) {
		log_with(LOG_DEBUG, LOG_KV("node", node), "ShellAuditNode %s: %s; comparing again",
			 what, j->message);
		return 0;
	}
	if (j->ret == WRITER_NOT_LEADER)
		return 0;
	log_with(LOG_WARN, LOG_KV("node", node), "cannot %s ShellAuditNode: %s", what, j->message);
	return j->ret;
}

static void nodes_enqueue_key(const char *node, void *arg)
{
	struct controller *c = arg;
	char k[300];

	snprintf(k, sizeof(k), "node/%s", node);
	workqueue_add(&c->queue, k, 0);
}

static void nodes_enqueue_obj(const cJSON *obj, void *arg)
{
	const char *name = nodes_str(obj, "metadata", "name");

	if (name)
		nodes_enqueue_key(name, arg);
}

void nodes_enqueue_all(struct controller *c)
{
	resolve_foreach_node(&c->res, nodes_enqueue_key, c);
	informer_foreach(c->inf[CTL_NODES], nodes_enqueue_obj, c);
}
