// SPDX-License-Identifier: Apache-2.0
/* ShellAuditNode writer: one object per node that has targets, named after
 * the node, whose spec is exactly the resolution for that node. Written
 * only when it differs, deleted when the node has no targets left and its
 * status holds no chain head of records still kept: those heads and the
 * node's signing key are what `verify` checks the records against. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "controller.h"
#include "timefmt.h"

#define NODES_PATH SHELLAUDIT_GROUP_PATH "/shellauditnodes"

static int nodes_create(struct controller *c, const char *node, cJSON *spec)
{
	cJSON *obj = cJSON_CreateObject(), *md;
	struct kube_response resp;
	int ret;

	if (!obj)
		return -ENOMEM;
	cJSON_AddStringToObject(obj, "apiVersion", "shellaudit.io/v1alpha1");
	cJSON_AddStringToObject(obj, "kind", "ShellAuditNode");
	md = cJSON_AddObjectToObject(obj, "metadata");
	cJSON_AddStringToObject(md, "name", node);
	cJSON_AddItemToObject(obj, "spec", spec);
	ret = kube_create(c->client, NODES_PATH, obj, NULL, &resp);
	cJSON_Delete(obj);
	if (ret < 0)
		log_with(LOG_WARN, LOG_KV("node", node), "cannot create ShellAuditNode: %s",
			 resp.message);
	else
		log_with(LOG_INFO, LOG_KV("node", node), "created ShellAuditNode");
	return ret;
}

static int nodes_update(struct controller *c, const char *node, cJSON *spec)
{
	cJSON *patch = cJSON_CreateObject();
	struct kube_response resp;
	char path[512];
	int ret;

	if (!patch) {
		cJSON_Delete(spec);
		return -ENOMEM;
	}
	/* A merge patch replaces the targets list whole, and needs no
	 * resourceVersion: the spec is ours alone. */
	cJSON_AddItemToObject(patch, "spec", spec);
	snprintf(path, sizeof(path), NODES_PATH "/%s", node);
	ret = kube_patch(c->client, path, patch, NULL, &resp);
	cJSON_Delete(patch);
	if (ret < 0)
		log_with(LOG_WARN, LOG_KV("node", node), "cannot update ShellAuditNode: %s",
			 resp.message);
	else
		log_with(LOG_INFO, LOG_KV("node", node), "updated ShellAuditNode");
	return ret;
}

static int nodes_delete(struct controller *c, const char *node, const cJSON *existing)
{
	const char *uid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(existing, "metadata"), "uid"));
	struct kube_response resp;
	char path[512];
	int ret;

	snprintf(path, sizeof(path), NODES_PATH "/%s", node);
	ret = kube_delete(c->client, path, uid, NULL, &resp);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		log_with(LOG_WARN, LOG_KV("node", node), "cannot delete ShellAuditNode: %s",
			 resp.message);
	else
		log_with(LOG_INFO, LOG_KV("node", node),
			 "deleted ShellAuditNode: no targets and no records left");
	return ret;
}

/* Whether the node's status still names a chain whose records are kept
 * (keepUntil ahead; one that cannot be read counts as kept). */
static bool nodes_keeps_heads(const cJSON *existing, time_t now)
{
	const cJSON *h;
	struct timespec ts;

	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(
				      cJSON_GetObjectItemCaseSensitive(existing, "status"), "heads")) {
		const char *keep = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "keepUntil"));

		if (!keep || timefmt_parse(keep, &ts) < 0 || ts.tv_sec >= now)
			return true;
	}
	return false;
}

int nodes_sync(struct controller *c, const char *node)
{
	const cJSON *existing = informer_get(c->inf[CTL_NODES], NULL, node);
	const cJSON *arr = hmap_get(&c->res.nodes, node);
	cJSON *spec;

	if ((!arr || cJSON_GetArraySize(arr) == 0) && existing &&
	    nodes_keeps_heads(existing, time(NULL))) {
		/* No targets, but records still kept: the spec empties, the
		 * object (with the heads and key) stays. */
		if (resolve_node_spec_equal(&c->res, node,
					    cJSON_GetObjectItemCaseSensitive(existing, "spec")))
			return 0;
		if (!controller_take_write(c))
			return -EAGAIN;
		if (!(spec = resolve_node_spec(&c->res, node)))
			return -ENOMEM;
		c->m_writes->value++;
		return nodes_update(c, node, spec);
	}
	if (!arr || cJSON_GetArraySize(arr) == 0)
		return existing ? (controller_take_write(c) ? nodes_delete(c, node, existing) : -EAGAIN) : 0;
	if (existing &&
	    resolve_node_spec_equal(&c->res, node, cJSON_GetObjectItemCaseSensitive(existing, "spec")))
		return 0;
	if (!controller_take_write(c))
		return -EAGAIN;
	if (!(spec = resolve_node_spec(&c->res, node)))
		return -ENOMEM;
	c->m_writes->value++;
	return existing ? nodes_update(c, node, spec) : nodes_create(c, node, spec);
}

static void nodes_enqueue_key(const char *key, void *value, void *arg)
{
	struct controller *c = arg;
	char k[300];

	(void)value;
	snprintf(k, sizeof(k), "node/%s", key);
	workqueue_add(&c->queue, k, 0);
}

static void nodes_enqueue_obj(const cJSON *obj, void *arg)
{
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "name"));

	if (name)
		nodes_enqueue_key(name, NULL, arg);
}

void nodes_enqueue_all(struct controller *c)
{
	hmap_foreach(&c->res.nodes, nodes_enqueue_key, c);
	informer_foreach(c->inf[CTL_NODES], nodes_enqueue_obj, c);
}
